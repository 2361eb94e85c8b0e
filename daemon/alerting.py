"""Wiring of alerts: the sinks `[alerts]` asks for, and `breakerwatch test-alert`."""

from __future__ import annotations

import time
from typing import TextIO

import httpx

from alerts.alertmanager import Alert
from alerts.messages import render
from alerts.model import Notice, NoticeKind
from alerts.sinks import Sink, SinkError
from alerts.sinks.alertmanager import channel_name, push
from alerts.sinks.console import ConsoleSink
from alerts.sinks.slack import SlackSink
from alerts.sinks.webhook import WebhookSink
from daemon.config import AlertmanagerConfig, AlertsConfig

__all__ = ["build_sinks", "test_alert"]

TEST_FOR = 300.0  # seconds a test alert fires in Alertmanager


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
    alertmanager = config.alertmanager if config is not None else None
    if not sinks and alertmanager is None:
        out.write(
            "no alert sinks are configured: add [alerts] with console = true, "
            "[alerts.slack] with a token or webhook_url, or [alerts.alertmanager] with urls "
            "(see docs/alerts.md)\n"
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
    if alertmanager is not None:
        failed += await _test_alertmanager(alertmanager, out)
    return 1 if failed else 0


async def _test_alertmanager(config: AlertmanagerConfig, out: TextIO) -> int:
    """A `BreakerwatchTest` alert to each Alertmanager; it resolves by itself (TEST_FOR)."""
    now = time.time()
    labels = (("alertname", "BreakerwatchTest"), ("severity", "info"), *config.labels)
    summary = "breakerwatch test alert: this Alertmanager receives and routes our alerts"
    alert = Alert(tuple(sorted(labels)), (("summary", summary),), now, now + TEST_FOR)
    failed = 0
    async with httpx.AsyncClient(timeout=config.timeout) as http:
        for url in config.urls:
            try:
                await push(http, url, [alert.to_json(now, 0.0)])
            except SinkError as error:
                failed += 1
                out.write(f"{channel_name(url)}: FAILED: {error} ({error.reason})\n")
            else:
                out.write(f"{channel_name(url)}: sent BreakerwatchTest (resolves in 5 minutes)\n")
    return failed
