"""JSON logs for journald and Loki, and missed runs counted rather than silent."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from daemon.scheduler import ProbeScheduler
from simulator import Simulator
from tests.daemon.harness import DaemonProcess, config_text, environment
from tests.simulator.helpers import admin


@pytest.mark.system
def test_json_logs_are_one_object_per_line(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state").replace(
        "[daemon]\n", '[daemon]\nlog_format = "json"\n'
    )
    config.write_text(text)
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
    daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
    assert daemon.stop() == 0
    records = [json.loads(line) for line in daemon.lines]  # every line is JSON
    assert all(set(r) >= {"ts", "level", "logger", "msg"} for r in records)
    opened = [r for r in records if r["msg"].startswith("kit: breaker closed -> open")]
    assert [r["level"] for r in opened] == ["warning"]
    (record,) = opened  # the facts as fields, for Loki or jq to select on
    facts = {key: record[key] for key in ("integration", "from_state", "to_state", "reason")}
    assert facts == {"integration": "kit", "from_state": "closed", "to_state": "open",
                     "reason": "http_5xx"}  # fmt: skip
    assert record["cause"]
    assert records[-1]["msg"] == "stopped"


def test_a_run_that_cannot_start_on_time_is_counted_as_missed() -> None:
    missed: list[str] = []

    async def scenario() -> None:
        async def probe(name: str) -> None:
            pass

        scheduler = ProbeScheduler(
            probe,
            missed=missed.append,
            started=lambda delay: None,
            heartbeat=lambda: None,
            heartbeat_every=60,
            concurrency=10,
        )
        scheduler.start()
        scheduler.add("kit", 1.0, spread=0.0)  # misfire grace: half the interval, 1 s minimum
        await asyncio.sleep(0.2)
        time.sleep(3.5)  # the loop is blocked past the grace of the next runs
        await asyncio.sleep(0.5)
        await scheduler.shutdown(grace=1)

    asyncio.run(scenario())
    assert "kit" in missed


def test_healthz_turns_unhealthy_when_the_heartbeat_is_stale(tmp_path: Path) -> None:
    from daemon.app import Daemon
    from daemon.config import parse
    from tests.support import FakeClock

    config = parse("", tmp_path / "config.toml", environ={})
    clock = FakeClock()
    daemon = Daemon(config, environ={}, clock=clock)
    assert daemon.health() == (True, "ok")
    clock.advance(10.5)  # five missed heartbeats (one every 2 s)
    assert daemon.health() == (False, "unhealthy: the scheduler heartbeat is 10s old")
    daemon._beat()
    assert daemon.health() == (True, "ok")
