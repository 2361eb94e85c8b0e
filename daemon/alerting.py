"""Wiring of alerts: the sinks `[alerts]` asks for, and `breakerwatch test-alert`."""

from __future__ import annotations

import time
from typing import TextIO

from alerts.messages import render
from alerts.model import Notice, NoticeKind
from alerts.sinks import Sink, SinkError
from alerts.sinks.console import ConsoleSink
from alerts.sinks.slack import SlackSink
from alerts.sinks.webhook import WebhookSink
from daemon.config import AlertsConfig

__all__ = ["build_sinks", "test_alert"]


def build_sinks(config: AlertsConfig, console: TextIO | None = None) -> list[Sink]:
    sinks: list[Sink] = []
    slack = config.slack
    if slack is not None and slack.token is not None:
        sinks.append(SlackSink(slack.token.reveal(), slack.channel, slack.base_url))
    elif slack is not None and slack.webhook_url is not None:
        sinks.append(WebhookSink(slack.webhook_url.reveal()))
    if config.console:
        sinks.append(ConsoleSink(console))
    return sinks


async def test_alert(config: AlertsConfig | None, out: TextIO) -> int:
    """Send one test message through every configured sink; report each; 0 if all worked."""
    sinks = build_sinks(config, out) if config is not None else []
    if not sinks:
        out.write(
            "no alert sinks are configured: add [alerts] with console = true, or "
            "[alerts.slack] with a token or webhook_url (see docs/alerts.md)\n"
        )
        return 1
    notice = Notice(NoticeKind.TEST, "test", time.time())
    message = render(notice).standalone
    assert message is not None
    failed = 0
    for sink in sinks:
        try:
            channel, _ = await sink.post(message)
        except SinkError as error:
            failed += 1
            out.write(f"{sink.name}: FAILED: {error} ({error.reason})\n")
        else:
            where = f" to {channel}" if channel else ""
            out.write(f"{sink.name}: sent{where}\n")
        finally:
            await sink.aclose()
    return 1 if failed else 0
