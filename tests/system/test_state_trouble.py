"""A state directory the daemon cannot write: one clear error, and it keeps probing,
exporting and alerting, saying in /healthz, /metrics, the status and its log that it
cannot persist."""

from __future__ import annotations

import subprocess
from pathlib import Path

from simulator import Simulator
from tests.daemon.harness import (
    BREAKERWATCH,
    DaemonProcess,
    alerts_config,
    config_text,
    environment,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin


def test_an_unwritable_state_directory_degrades_to_memory(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # as root, permissions would not stop a write; a file in the way does
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, blocker / "state", extra=alerts_config(slack.api_url)))
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token")
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        health = daemon.get("/healthz")
        assert health.status_code == 200
        assert health.text.startswith(
            f"ok, but not persisting: cannot create the state directory {blocker / 'state'}"
        )
        assert "breakerwatch_state_persisted 0" in daemon.get("/metrics").text
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        daemon.until(lambda: slack.top_level(), what="the alert, from the in-memory outbox")
        table = subprocess.run(
            [BREAKERWATCH, "status", "--url", daemon.url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert "NOT PERSISTING: cannot create the state directory" in table.stdout
    finally:
        assert daemon.stop() == 0
    assert daemon.output.count("keeping the state in memory") == 1
    assert "Traceback" not in daemon.output
