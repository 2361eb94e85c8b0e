"""The Alertmanager sink against a real Alertmanager (Debian's), one of its peers down."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.alertmanager import Ledger
from alerts.model import Facts, Failure, IncidentKind
from alerts.sinks import FailureReason, SinkError
from alerts.sinks.alertmanager import AlertmanagerSink, channel_name, push
from tests.alertmanagers import Alertmanagers, needs_alertmanager
from tests.fakes.slack import FakeSlack
from tests.support import free_port

pytestmark = [needs_alertmanager, pytest.mark.system]

DOWN = Failure("http_5xx", 503, "HTTP 503", "HTTP 503 Service Unavailable")
BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))


@pytest.fixture
def alertmanager(tmp_path: Path, slack: FakeSlack) -> Any:
    with Alertmanagers(tmp_path / "am", slack.webhook_url(), count=1) as cluster:
        yield cluster


async def _until(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {check}")


def test_alerts_reach_one_alertmanager_while_another_is_down(
    alertmanager: Alertmanagers, caplog: pytest.LogCaptureFixture
) -> None:
    up = alertmanager.urls[0]
    down = f"http://127.0.0.1:{free_port()}"
    incidents: dict[str, Facts] = {}

    async def scenario() -> None:
        sink = AlertmanagerSink(
            (down, up), Ledger(3.0), lambda: incidents, resend_interval=3.0, wall=time.time
        )
        task = asyncio.ensure_future(sink.run())
        incidents["kit"] = Facts("kit", IncidentKind.OUTAGE, time.time(), DOWN, 3)
        sink.wake()
        (alert,) = await _until(lambda: alertmanager.alerts(up))
        assert alert["labels"] == {
            "alertname": "BreakerwatchIntegrationFailing",
            "integration": "kit",
            "reason": "http_5xx",
            "severity": "page",
        }
        assert alert["annotations"]["summary"] == "kit is failing: breaker open"
        assert alert["status"]["state"] == "active"
        sent = sink.stats[channel_name(up)].sent
        await _until(lambda: sink.stats[channel_name(up)].sent > sent)  # re-sent unchanged
        del incidents["kit"]
        sink.wake()
        # resolved at once: its endsAt (12 s ahead) would take far longer
        await _until(lambda: alertmanager.alerts(up) == [], timeout=3)
        failed = sink.stats[channel_name(down)]
        assert failed.failures[FailureReason.NETWORK] >= 2  # retried, with backoff
        assert failed.depth == 1  # it has not heard of the resolved alert
        assert sink.stats[channel_name(up)].depth == 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.INFO, logger="breakerwatch.alerts"):
        asyncio.run(scenario())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # when it started failing, not at every retry
    assert warnings[0].startswith(f"{channel_name(down)}: cannot deliver (")


def test_what_alertmanager_refuses_is_a_payload_failure(alertmanager: Alertmanagers) -> None:
    async def post() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            await push(http, alertmanager.urls[0], [{"labels": {"alertname": "X"}}])
            with pytest.raises(SinkError) as refused:
                await push(http, alertmanager.urls[0], [{"labels": {}, "startsAt": "soon"}])
            assert refused.value.reason is FailureReason.PAYLOAD
            assert str(refused.value).startswith("HTTP 400")

    asyncio.run(post())


def test_test_alert_goes_to_every_alertmanager(alertmanager: Alertmanagers, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[alerts.alertmanager]\nurls = ["{alertmanager.urls[0]}", "{down}"]\n'
        'labels = { team = "growth" }\n'
    )
    done = subprocess.run(
        [BREAKERWATCH, "test-alert", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1  # one of them failed
    lines = done.stdout.splitlines()
    assert (
        lines[0]
        == f"{channel_name(alertmanager.urls[0])}: sent BreakerwatchTest (resolves in 5 minutes)"
    )
    assert lines[1].startswith(f"{channel_name(down)}: FAILED: ")
    (alert,) = alertmanager.alerts(alertmanager.urls[0])
    assert alert["labels"] == {
        "alertname": "BreakerwatchTest",
        "severity": "info",
        "team": "growth",
    }
