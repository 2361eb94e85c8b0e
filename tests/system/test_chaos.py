"""The chaos run: a seeded random schedule of vendor faults (5xx, 429, 401, slow, reset,
malformed, and flapping from quick changes) across every integration, the daemon as a
process alerting to the fake Slack, while each vendor's status page posts and resolves
incidents and goes dead, slow, huge or malformed at random. Afterwards: every incident in
SQLite is one Slack message, resolved (a vendor's postings are edits and thread replies,
never messages); /metrics, /api/v1/status, SQLite and the last Slack message per
integration agree on each breaker; no traceback; memory did not grow."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, churn_config, environment
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin
from tests.support import soak

VENDORS = ("kit", "hubspot", "mailchimp", "sendgrid")
FAULTS = [{"mode": "healthy"}] * 3 + [
    {"mode": "5xx"}, {"mode": "429"}, {"mode": "401"}, {"mode": "reset"},
    {"mode": "malformed"}, {"mode": "slow", "delay_ms": 800},
]  # fmt: skip
pytestmark = pytest.mark.soak

RUN_FOR = soak(75.0)  # seconds of chaos
RSS_GROWTH_MB = 30


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    assert found
    return int(found[1]) / 1024


def states_everywhere(daemon: DaemonProcess, state_db: Path) -> dict[str, set[str]]:
    metrics = daemon.get("/metrics").text
    status = daemon.status()
    db = sqlite3.connect(state_db)
    try:
        rows = db.execute("SELECT integration, snapshot FROM breakers").fetchall()
        stored = {name: json.loads(snapshot)["state"] for name, snapshot in rows}
    finally:
        db.close()
    found: dict[str, set[str]] = {}
    for name in VENDORS:
        series = rf'breakerwatch_breaker_state{{integration="{name}",state="(\w+)"}} 1$'
        one_hot = re.findall(series, metrics, re.M)
        found[name] = {*one_hot, status[name]["state"], stored.get(name, "closed")}
    return found


def page_chaos(simulator: Simulator, vendor: str, chance: random.Random) -> None:
    """The vendor's page posts an incident, resolves them all, or changes how it answers."""
    page = simulator.status_pages[vendor]
    roll = chance.random()
    if roll < 0.4:
        admin(
            simulator, "POST", f"/{vendor}/status-incident", {"name": "Errors", "impact": "major"}
        )
    elif roll < 0.7:
        for key in list(page.incidents):
            admin(simulator, "POST", f"/{vendor}/status-resolve", {"id": key})
    else:
        mode = chance.choice(["ok", "ok", "503", "garbage", "huge", "slow"])
        admin(simulator, "PUT", f"/{vendor}/status-mode", {"mode": mode})


@pytest.mark.timeout(300)
def test_chaos(simulator: Simulator, slack: FakeSlack, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    no_storms = "storm_min_integrations = 100\n"  # every incident its own message, to count
    text = churn_config(simulator, tmp_path / "state", slack.api_url, no_storms)
    for vendor in VENDORS:  # every vendor reads its page, every second
        base = f'base_url = "{simulator.base_url(vendor)}"\n'
        text = text.replace(base, base + f'status_page = "{simulator.status_page(vendor)}"\n')
    pages = '[daemon]\nstatus_page_interval = "1s"\nstatus_page_interval_open = "1s"\n'
    config.write_text(text.replace("[daemon]\n", pages, 1))
    daemon = DaemonProcess(config, environment(simulator, SLACK_TOKEN="xoxb-test-token"))
    daemon.wait_ready()
    chance = random.Random(1128)
    try:
        time.sleep(3)
        rss_start = rss_mb(daemon.process.pid)
        end = time.monotonic() + RUN_FOR
        while time.monotonic() < end:
            vendor = chance.choice(VENDORS)
            if chance.random() < 0.25:
                page_chaos(simulator, vendor, chance)
            else:
                admin(simulator, "PUT", f"/{vendor}/mode", chance.choice(FAULTS))
            time.sleep(chance.uniform(0.2, 2.0))
        rss_end = rss_mb(daemon.process.pid)
        # Freeze: kit down for good, the rest healthy; once settled, every source agrees.
        final = {v: "open" if v == "kit" else "closed" for v in VENDORS}
        for vendor, state in final.items():
            admin(
                simulator,
                "PUT",
                f"/{vendor}/mode",
                {"mode": "5xx" if state == "open" else "healthy"},
            )
        daemon.until(lambda: all(daemon.state(v) == s for v, s in final.items()), 60, "settling")
        depth = 'breakerwatch_notification_queue_depth{channel="slack"} 0'
        daemon.until(lambda: depth in daemon.get("/metrics").text, 60, "the outbox to drain")
        agreed = states_everywhere(daemon, tmp_path / "state" / "state.db")
        assert agreed == {v: {s} for v, s in final.items()}, agreed
    finally:
        assert daemon.stop() == 0
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    assert "may show twice" not in daemon.output  # the bot can read the channel: exactly once
    messages = slack.top_level()
    total = 0
    for vendor in VENDORS:
        incidents = db.execute(
            "SELECT COUNT(*) FROM transitions WHERE integration = ? AND from_state = 'closed'"
            " AND to_state = 'open'", (vendor,),
        ).fetchone()[0]  # fmt: skip
        told = [m for m in messages if (m.text or "").startswith(f"{vendor}")]
        assert len(told) == incidents, (vendor, incidents, len(told))
        total += incidents
        last = told[-1].text or "" if told else ""
        if vendor == "kit":
            assert "failing" in last or "refused" in last, last  # the open incident, as it is
        for message in told[:-1] if vendor == "kit" else told:
            body = message.text or ""
            assert "recovered" in body or "accepted again" in body, body
    enough = max(1, round(8 * RUN_FOR / 75))  # 8 in the full 75 s
    assert total >= enough, f"the chaos opened breakers only {total} times"
    assert rss_end - rss_start < RSS_GROWTH_MB, (rss_start, rss_end)
    assert "Traceback" not in daemon.output
