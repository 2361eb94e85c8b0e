"""JSON logs for journald and Loki, missed runs counted rather than silent, and the runs'
fixed phase."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from daemon.scheduler import Phased, ProbeScheduler, phase
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


def test_each_name_has_a_fixed_phase_and_the_phases_spread_evenly() -> None:
    names = [f"integration-{i}" for i in range(10_000)]
    phases = [phase(name, 30.0) for name in names]
    assert phases == [phase(name, 30.0) for name in names]  # the same on every start
    assert all(0 <= p < 30.0 for p in phases)
    per_second = Counter(int(p) for p in phases)  # 30 one-second slots, ~333 names each
    assert len(per_second) == 30
    assert max(per_second.values()) < 333 * 1.25
    assert min(per_second.values()) > 333 * 0.75


def test_runs_on_the_phase_keep_the_interval_exactly() -> None:
    interval = 30.0
    trigger = Phased(interval, phase("kit", interval))
    now = datetime(2026, 12, 3, 9, 0, 0, 250_000, tzinfo=UTC)
    first = now + timedelta(seconds=0.4)  # the first run, off the grid, soon after start
    runs = [first]
    for _ in range(2_000):  # 16 hours and 40 minutes of runs
        runs.append(trigger.get_next_fire_time(runs[-1], runs[-1]))
    gaps = [(b - a).total_seconds() for a, b in pairwise(runs[1:])]
    assert max(abs(gap - interval) for gap in gaps) < 1e-3  # no drift, no jitter
    on_grid = [(run.timestamp() - trigger.phase) % interval for run in runs[1:]]
    assert all(min(off, interval - off) < 1e-3 for off in on_grid)
    second = (runs[1] - first).total_seconds()  # never back to back with the first
    assert interval / 2 <= second < interval * 1.5


def test_the_first_run_without_a_previous_one_is_the_next_on_the_grid() -> None:
    trigger = Phased(10.0, 3.0)
    now = datetime.fromtimestamp(1_000_004.5, UTC)  # 4.5 s into its 10 s period
    assert trigger.get_next_fire_time(None, now).timestamp() == 1_000_013.0
    on_time = datetime.fromtimestamp(1_000_013.0, UTC)  # the grid time itself is due
    assert trigger.get_next_fire_time(None, on_time) == on_time
