"""Slack down for three minutes while three breakers open and close: probing is undisturbed
meanwhile, and once Slack is back every incident is told once, in the order it happened,
each resolved with one reply."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, alerts_config, config_text, environment
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin
from tests.support import soak

pytestmark = pytest.mark.soak

DOWN_FOR = soak(180.0)  # seconds; the script below takes what it takes, at least


def counter(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert found, series
    return float(found[1])


@pytest.mark.timeout(400)
def test_three_minutes_without_slack(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        config_text(simulator, tmp_path / "state", extra=alerts_config(slack.api_url))
    )
    daemon = DaemonProcess(config, environment(simulator, SLACK_TOKEN="xoxb-test-token"))
    daemon.wait_ready()
    try:
        slack.mode = "down"
        started = time.monotonic()
        before = daemon.get("/metrics").text
        script = [
            ("kit", "5xx"), ("hubspot", "5xx"), ("kit", "healthy"),
            ("mailchimp", "5xx"), ("hubspot", "healthy"), ("mailchimp", "healthy"),
        ]  # fmt: skip
        for vendor, mode in script:
            admin(simulator, "PUT", f"/{vendor}/mode", {"mode": mode})
            wanted = "open" if mode == "5xx" else "closed"
            daemon.until(lambda v=vendor, w=wanted: daemon.state(v) == w, 30, f"{vendor} {wanted}")
            time.sleep(2)
        time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - started)))
        during = daemon.get("/metrics").text
        down = time.monotonic() - started
        assert slack.top_level() == []  # nothing got through
        assert counter(during, 'breakerwatch_notification_queue_depth{channel="slack"}') >= 6
        # Probing went on as if nothing happened: sendgrid, healthy throughout, every 0.5 s.
        probes = counter(during, 'breakerwatch_probes_total{integration="sendgrid"}') - counter(
            before, 'breakerwatch_probes_total{integration="sendgrid"}'
        )
        assert probes >= 0.8 * down / 0.5
        assert counter(during, 'breakerwatch_probes_missed_total{integration="sendgrid"}') == 0
        slack.mode = "healthy"
        daemon.until(
            lambda: counter(daemon.get("/metrics").text,
                            'breakerwatch_notification_queue_depth{channel="slack"}') == 0,
            90, "the backlog to drain",
        )  # fmt: skip
    finally:
        assert daemon.stop() == 0
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    opened = [
        name
        for (name,) in db.execute(
            "SELECT integration FROM transitions WHERE from_state = 'closed' AND to_state = 'open'"
            " ORDER BY id"
        )
    ]
    assert opened == ["kit", "hubspot", "mailchimp"]
    messages = slack.top_level()
    assert [(m.text or "").split(" ")[0] for m in messages] == opened  # once each, in order
    for message in messages:
        assert " recovered: breaker closed after " in (message.text or "")
        assert len(slack.replies(message.ts)) == 1
