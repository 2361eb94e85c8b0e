"""The Slack incoming-webhook sink: one new message per notice (a webhook cannot edit).

A webhook answers HTTP 200 with the plain text `ok`; errors are a status and a short text
(docs/integrations.md, "Slack"). slack-sdk's AsyncWebhookClient does not raise on them, so each is
mapped here; its retry handlers retry once on a 429, 500/503 and a dropped connection.
"""

from __future__ import annotations

import re
import time

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from alerts.messages import Message
from alerts.sinks import TIMEOUT, FailureReason, SinkError, retry_after
from alerts.sinks.slack_retry import retry_handlers
from alerts.stamp import Stamp
from probes.outbound import Outbound

__all__ = ["WebhookSink", "webhook_reason"]


def webhook_reason(status: int, body: str) -> FailureReason:
    if status == 429:
        return FailureReason.RATE_LIMITED
    if status >= 500:
        return FailureReason.SERVER_ERROR
    if status in (401, 403) or body in (
        "no_service",
        "invalid_token",
        "no_team",
        "no_active_hooks",
        "team_disabled",
    ):
        return FailureReason.AUTH
    if status in (404, 410) or body in (
        "channel_not_found",
        "channel_is_archived",
        "posting_to_general_channel_denied",
    ):
        return FailureReason.CHANNEL
    return FailureReason.PAYLOAD


class WebhookSink:
    name = "slack"
    edits = False

    def __init__(self, url: str, outbound: Outbound | None = None) -> None:
        outbound = outbound or Outbound.build()
        self._client = AsyncWebhookClient(
            url=url,
            timeout=TIMEOUT,
            retry_handlers=retry_handlers(),
            ssl=outbound.ssl,
        )
        # slack-sdk reads HTTPS_PROXY itself but not NO_PROXY: our rule decides instead.
        self._client.proxy = outbound.proxies.route(url).proxy

    async def post(
        self,
        message: Message,
        thread: tuple[str, str] | None = None,
        stamp: Stamp | None = None,
    ) -> tuple[str, str]:
        payload = message.payload()
        try:
            response = await self._client.send(
                text=payload["text"], blocks=payload.get("blocks"), unfurl_links=False
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise SinkError(
                FailureReason.NETWORK, f"cannot reach the Slack webhook ({type(error).__name__})"
            ) from None
        body = (response.body or "").strip()
        if response.status_code == 200 and body == "ok":
            return "", ""
        reason = webhook_reason(response.status_code, body)
        shown = body if re.fullmatch(r"[a-z_]{1,60}", body) else "no usable body"
        raise SinkError(
            reason,
            f"the Slack webhook answered HTTP {response.status_code} ({shown})",
            retry_after(response.headers or {}, time.time()),
        )  # fmt: skip

    async def update(
        self, where: tuple[str, str], message: Message, stamp: Stamp | None = None
    ) -> None:
        raise NotImplementedError("a webhook cannot edit")

    async def aclose(self) -> None:
        pass
