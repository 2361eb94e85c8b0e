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
import re
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from alerts.messages import Message
from alerts.sinks import SLACK_API, TIMEOUT, FailureReason, Lookup, SinkError
from alerts.sinks import retry_after as retry_after_header
from alerts.sinks.slack_retry import retry_handlers
from alerts.stamp import Stamp
from probes.outbound import Outbound

__all__ = ["SlackSink", "web_api_reason"]

PAGE = 200  # messages per page of a look-up (Slack allows up to 999 and suggests 200)
MAX_PAGES = 5  # pages per look-up: the 1,000 newest messages since the attempt, at most
LIST_PAGE = 1000  # channels per page of conversations.list (its maximum)
LIST_PAGES = 10
SKEW = 600.0  # a look-up starts this long before the attempt: our clock against Slack's
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{8,}")
# Slack's own words for these: "It's possible some aspect of the operation succeeded".
_MAY_HAVE_ACTED = {"internal_error", "fatal_error"}

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
    """Slack's Web API with a bot token, every message stamped so it can be found again."""

    name = "slack"
    edits = True

    def __init__(
        self,
        token: str,
        channel: str,
        base_url: str = SLACK_API,
        outbound: Outbound | None = None,
        identity: str = "",
        timeout: float = TIMEOUT,
        settle: float = 30.0,
    ) -> None:
        self.channel = channel
        self.identity = identity
        self.settle = settle
        self.channel_id: str | None = channel if _CHANNEL_ID.fullmatch(channel) else None
        self._prepared = False
        # What cannot be read, and why: "channel" (its history) or "threads" (replies).
        self._cannot: dict[str, str] = {}
        outbound = outbound or Outbound.build()
        self._client = AsyncWebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]  # an aiohttp total: a float is fine
            retry_handlers=retry_handlers(),
            ssl=outbound.ssl,
        )
        # slack-sdk reads HTTPS_PROXY itself but not NO_PROXY: our rule decides instead.
        self._client.proxy = outbound.proxies.route(base_url).proxy

    async def post(
        self,
        message: Message,
        thread: tuple[str, str] | None = None,
        stamp: Stamp | None = None,
    ) -> tuple[str, str]:
        channel = thread[0] if thread else self.channel
        response = await self._call(
            self._client.chat_postMessage,
            channel=channel,
            thread_ts=thread[1] if thread else None,
            unfurl_links=False,
            metadata=stamp.metadata() if stamp is not None else None,
            **message.payload(),
        )
        return str(response.get("channel") or channel), str(response["ts"])

    async def update(
        self, where: tuple[str, str], message: Message, stamp: Stamp | None = None
    ) -> None:
        await self._call(
            self._client.chat_update,
            channel=where[0],
            ts=where[1],
            metadata=stamp.metadata() if stamp is not None else None,
            **message.payload(),
        )

    # -- finding what was sent -----------------------------------------------------------

    @property
    def exactly_once(self) -> bool | None:
        """Whether every unsure resend can be looked up; None until `prepare` has learned it."""
        return not self._cannot if self._prepared else None

    @property
    def why_not(self) -> str:
        return "; ".join(self._cannot.values())

    async def prepare(self, since: float) -> list[tuple[Stamp, tuple[str, str]]]:
        method = "conversations.list"
        try:
            if self.channel_id is None:
                self.channel_id = await self._channel_id()
            method = "conversations.history"
            messages, _ = await self._read(method, since, self.channel_id)
        except SinkError as error:
            if error.reason not in (FailureReason.AUTH, FailureReason.CHANNEL):
                raise
            self._prepared, self._cannot = True, {"channel": self._fix(error.code, method)}
            return []
        self._prepared, self._cannot = True, {}
        found = []
        for message in messages:
            stamp = Stamp.read(message)
            if stamp is not None and stamp.daemon == self.identity and stamp.part == "parent":
                found.append((stamp, (self.channel_id, str(message.get("ts")))))
        return found

    async def find(
        self, stamp: Stamp, since: float, thread: tuple[str, str] | None = None
    ) -> Lookup:
        if not self._prepared:  # not known yet: the resend waits until it is
            raise SinkError(FailureReason.NETWORK, "the channel could not be looked at yet")
        part = "threads" if thread else "channel"
        if "channel" in self._cannot or part in self._cannot or self.channel_id is None:
            return Lookup(None, sure=False, why=self.why_not)
        channel = thread[0] if thread else self.channel_id
        method = "conversations.replies" if thread else "conversations.history"
        try:
            messages, complete = await self._read(
                method, since - SKEW, channel, ts=thread[1] if thread else None
            )
        except SinkError as error:
            if error.code == "thread_not_found":  # the thread's message is gone, and its replies
                return Lookup(None)
            if error.reason not in (FailureReason.AUTH, FailureReason.CHANNEL):
                raise
            self._cannot[part] = self._fix(error.code, method)
            return Lookup(None, sure=False, why=self._cannot[part])
        for message in messages:
            found = Stamp.read(message)
            if found is not None and found.same(stamp):
                return Lookup((channel, str(message.get("ts"))))
        if complete:
            return Lookup(None)
        return Lookup(
            None, sure=False, why=f"more than {MAX_PAGES * PAGE} messages to look through"
        )

    async def _read(
        self, method: str, oldest: float, channel: str, ts: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The messages of `channel` (or of the thread `ts`) since `oldest`, at most `MAX_PAGES`
        pages; and whether that is all of them."""
        call = self._client.conversations_replies if ts else self._client.conversations_history
        thread = {"ts": ts} if ts else {}
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await self._call(call, channel=channel, oldest=f"{max(oldest, 0):.6f}",
                                    limit=PAGE, include_all_metadata=True, cursor=cursor,
                                    **thread)  # fmt: skip
            messages.extend(m for m in _list(page.get("messages")) if isinstance(m, dict))
            cursor = _next_cursor(page)
            if not cursor:
                return messages, True
        return messages, False

    async def _channel_id(self) -> str:
        """The ID of the configured channel, by name, from conversations.list: public and
        private channels, or the public ones alone for a bot without groups:read."""
        try:
            found = await self._listed("public_channel,private_channel")
        except SinkError as error:
            if error.code != "missing_scope":
                raise
            found = await self._listed("public_channel")
        if found is None:
            raise SinkError(FailureReason.CHANNEL, f"no channel named {self.channel}",
                            code="channel_not_found")  # fmt: skip
        return found

    async def _listed(self, types: str) -> str | None:
        """The configured channel's ID among the channels of `types`, at most `LIST_PAGES`
        pages; None if it is not there."""
        name, cursor = self.channel.lstrip("#"), None
        for _ in range(LIST_PAGES):
            page = await self._call(self._client.conversations_list, types=types,
                                    exclude_archived=True, limit=LIST_PAGE,
                                    cursor=cursor)  # fmt: skip
            for channel in _list(page.get("channels")):
                if isinstance(channel, dict) and channel.get("name") == name:
                    return str(channel["id"])
            cursor = _next_cursor(page)
            if not cursor:
                break
        return None

    def _fix(self, code: str, method: str = "conversations.history") -> str:
        """What to add or fix so the channel can be read, for Slack's error `code`."""
        if code == "missing_scope" and method == "conversations.list":
            return (f"the bot cannot list channels to find {self.channel}'s ID: give its ID "
                    "(C0123ABCD) as [alerts.slack] channel, or add channels:read")  # fmt: skip
        if method == "conversations.replies":
            return (f"Slack does not let the bot read threads in {self.channel} ({method}: "
                    f"{code}), so a thread reply is at least once")  # fmt: skip
        if code == "missing_scope":
            return (f"the bot cannot read {self.channel}'s history ({method}): add "
                    "channels:history (groups:history for a private channel)")  # fmt: skip
        if code == "not_in_channel":
            return f"the bot is not a member of {self.channel}: invite it (/invite @your-bot)"
        if code == "channel_not_found":
            return (f"no channel {self.channel} the bot can see: check [alerts.slack] channel, "
                    "and invite the bot if it is private")  # fmt: skip
        return f"Slack refused to show {self.channel}'s history ({code or 'no reason given'})"

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
            # Refused before acting (a 429, a platform error), or perhaps acted (a 5xx, a
            # page that is not Slack's JSON, an error Slack says may have half-succeeded).
            uncertain = status >= 500 or shown != code or code in _MAY_HAVE_ACTED
            raise SinkError(
                reason, f"Slack answered HTTP {status} ({shown})", retry_after,
                uncertain=uncertain and status != 429, code=code,
            ) from None  # fmt: skip
        except aiohttp.ClientConnectorError as error:  # never connected: nothing was sent
            raise SinkError(
                FailureReason.NETWORK, f"cannot reach Slack ({type(error).__name__})"
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise SinkError(
                FailureReason.NETWORK, f"cannot reach Slack ({type(error).__name__})",
                uncertain=True,
            ) from None  # fmt: skip
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def aclose(self) -> None:
        pass


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _next_cursor(page: dict[str, object]) -> str | None:
    meta = page.get("response_metadata")
    cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
    return str(cursor) if cursor else None
