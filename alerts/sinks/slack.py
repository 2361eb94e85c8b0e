"""The Slack sink, Web API with a bot token: post, edit in place (`chat.update`), thread.

slack-sdk's AsyncWebClient does the HTTP; its retry handlers retry once on a 429 (after
Retry-After), on 500/503 and on a dropped connection, inside one call. Anything still
failing becomes a `SinkError` and the outbox retries later: the SDK's retries are for
blips, the outbox's for outages. Slack's platform errors (HTTP 200, `ok: false`) map to
reasons: a refused token or a missing channel is a config problem, retried slowly until
someone fixes it; a refused message is a payload problem.
"""

from __future__ import annotations

import logging
import time

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from alerts.messages import Message
from alerts.sinks import TIMEOUT, FailureReason, SinkError, retry_handlers
from alerts.sinks import retry_after as retry_after_header
from probes.outbound import Outbound

__all__ = ["SLACK_API", "SlackSink", "web_api_reason"]

SLACK_API = "https://slack.com/api/"

logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # its debug lines echo payloads

_AUTH = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "ekm_access_denied",
    "not_allowed_token_type",
}
_CHANNEL = {"channel_not_found", "not_in_channel", "is_archived", "restricted_action"}
_PAYLOAD = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long",
            "no_text", "invalid_arguments", "too_many_attachments", "invalid_form_data",
            "thread_not_found", "cant_update_message", "edit_window_closed"}  # fmt: skip


def web_api_reason(status: int, error: str) -> FailureReason:
    """The failure reason of a Web API answer (HTTP status, Slack's `error` string)."""
    if status == 429 or error in ("ratelimited", "rate_limited"):
        return FailureReason.RATE_LIMITED
    if error in _AUTH:
        return FailureReason.AUTH
    if error in _CHANNEL:
        return FailureReason.CHANNEL
    if error == "message_not_found":
        return FailureReason.GONE
    if error in _PAYLOAD:
        return FailureReason.PAYLOAD
    return FailureReason.SERVER_ERROR


class SlackSink:
    name = "slack"
    edits = True

    def __init__(
        self, token: str, channel: str, base_url: str = SLACK_API, outbound: Outbound | None = None
    ) -> None:
        self.channel = channel
        outbound = outbound or Outbound.build()
        self._client = AsyncWebClient(
            token=token,
            base_url=base_url,
            timeout=TIMEOUT,
            retry_handlers=retry_handlers(),
            ssl=outbound.ssl,
        )
        # slack-sdk reads HTTPS_PROXY itself but not NO_PROXY: our rule decides instead.
        self._client.proxy = outbound.proxies.route(base_url).proxy

    async def post(
        self, message: Message, thread: tuple[str, str] | None = None
    ) -> tuple[str, str]:
        channel = thread[0] if thread else self.channel
        payload = message.payload()
        response = await self._call(
            self._client.chat_postMessage,
            channel=channel,
            thread_ts=thread[1] if thread else None,
            unfurl_links=False,
            **payload,
        )
        return str(response.get("channel") or channel), str(response["ts"])

    async def update(self, where: tuple[str, str], message: Message) -> None:
        await self._call(
            self._client.chat_update, channel=where[0], ts=where[1], **message.payload()
        )

    async def _call(self, method: object, **kwargs: object) -> dict[str, object]:
        try:
            response = await method(**kwargs)  # type: ignore[operator]
        except SlackApiError as error:
            answer = error.response
            status = int(answer.status_code)
            code = str(answer.get("error") or "") if isinstance(answer.data, dict) else ""
            reason = web_api_reason(status, code)
            retry_after = retry_after_header(answer.headers or {}, time.time())
            shown = (
                code
                if code and not code.startswith("Received a response in a non-JSON")
                else "a non-JSON answer"
            )
            raise SinkError(
                reason, f"Slack answered HTTP {status} ({shown})", retry_after
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise SinkError(
                FailureReason.NETWORK, f"cannot reach Slack ({type(error).__name__})"
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def aclose(self) -> None:
        pass
