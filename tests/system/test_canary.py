"""Canary writes, end to end: the daemon as a process, the simulator's vendors over real
sockets, the fake Slack. Each vendor's canary writes and reads back every second, one
record ever; when HubSpot's writes fail while its reads succeed, one message says so (never
a breaker opening) and /metrics tells the write breaker from the read one; a restart while
they still fail tells nothing new; when they succeed again, the message is edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import (
    DaemonProcess,
    alerts_config,
    config_file,
    config_text,
    environment,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system
CANARY = 'canary = {{ email = "breakerwatch-canary@example.com", interval = "1s"{more} }}\n'
MORE = {"mailchimp": ', list_id = "a1b2c3d4e5"', "kit": ', form_id = 1234, tag_id = "5678"'}


def configure(sim: Simulator, slack: FakeSlack, tmp_path: Path) -> Path:
    text = config_text(sim, tmp_path / "state", extra=alerts_config(slack.api_url))
    for vendor in ("kit", "hubspot", "mailchimp", "sendgrid"):
        base = f'base_url = "{sim.base_url(vendor)}"\n'
        text = text.replace(base, base + CANARY.format(more=MORE.get(vendor, "")))
    return config_file(tmp_path, text)


def test_writes_failing_while_reads_succeed_are_one_message_and_one_record(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token")
    config = configure(simulator, slack, tmp_path)
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        every = ("kit", "hubspot", "mailchimp", "sendgrid")
        daemon.until(lambda: all((daemon.status()[n]["canary"] or {}).get("runs", 0) >= 3
                                 for n in every), timeout=30, what="three runs each")  # fmt: skip
        # A failure here is a write that failed with every vendor healthy: its reason is
        # in the daemon's warning ("the canary write failed: ...").
        status = daemon.status()
        failed = {n: status[n]["canary"]["failures"] for n in every}
        assert not any(failed.values()), (failed, daemon.output[-3000:])
        stores = {"kit": "subscribers", "hubspot": "contacts", "mailchimp": "members",
                  "sendgrid": "contacts"}  # fmt: skip
        for vendor, store in stores.items():
            assert len(getattr(simulator.vendors[vendor], store)) == 1, vendor  # never a second
        admin(simulator, "PUT", "/hubspot/writes", {"mode": "5xx", "status": 502})
        (message,) = daemon.until(slack.top_level, timeout=30, what="the writes alert")
        assert message.text is not None
        assert message.text.startswith(
            "hubspot: writes are failing while reads succeed (the canary write)\n"
        ), message.text
        assert daemon.state("hubspot") == "closed"  # the reads' breaker: untouched
        metrics = daemon.get("/metrics").text
        assert 'breakerwatch_canary_breaker_state{integration="hubspot",state="open"} 1' in metrics
        assert 'breakerwatch_breaker_state{integration="hubspot",state="closed"} 1' in metrics
        assert 'breakerwatch_canary_runs_total{integration="kit",outcome="failure"} 0' in metrics
        assert daemon.stop() == 0

        daemon = DaemonProcess(config, env).wait_ready()  # still failing: nothing new told
        daemon.until(lambda: daemon.status()["hubspot"]["canary"]["state"] == "open",
                     timeout=30, what="the writes failing again after the restart")  # fmt: skip
        assert len(slack.top_level()) == 1
        admin(simulator, "PUT", "/hubspot/writes", {"mode": "healthy"})
        daemon.until(lambda: message.edits, timeout=60, what="the edit")
        (edited,) = slack.top_level()
        assert edited.text is not None
        assert edited.text.startswith("hubspot: writes succeed again, after ")
    finally:
        assert daemon.stop() == 0
