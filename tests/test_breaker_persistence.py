"""Snapshot and restore across a restart: the rules of docs/resilience.md, "Persistence"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from probes import Breaker, BreakerConfig, BreakerSnapshot, State
from probes.outcome import SUCCESS
from tests.support import FakeClock
from tests.test_breaker import CONSECUTIVE_ONLY, FAIL, THROTTLED, Rig


def restart(
    snapshot: BreakerSnapshot,
    since_trip: float,
    config: BreakerConfig = CONSECUTIVE_ONLY,
    wall_skew: float = 0.0,
) -> Rig:
    """A new process `since_trip` wall seconds after the first trip, on a fresh monotonic clock."""
    rig = Rig(config)
    rig.clock.now = 77_000.0  # monotonic clocks do not survive a reboot
    rig.wall.now = 1_700_000_000.0 + since_trip + wall_skew
    rig.breaker.restore(snapshot)
    return rig


def open_snapshot(after: float = 10.0) -> BreakerSnapshot:
    rig = Rig()
    rig.trip()  # at wall 1_700_000_000, open for 30 s
    rig.advance(after)
    return rig.breaker.snapshot()


def remaining(rig: Rig) -> float:
    until = rig.breaker.open_until
    assert until is not None
    return until - rig.clock.now


def test_open_survives_a_restart_with_its_remaining_time() -> None:
    snapshot = open_snapshot(after=10)
    assert snapshot.state is State.OPEN
    assert snapshot.open_until == 1_700_000_030.0
    rig = restart(snapshot, since_trip=15)
    assert rig.breaker.state is State.OPEN
    assert remaining(rig) == pytest.approx(15.0)
    assert rig.breaker.try_acquire() is None
    rig.advance(15)
    assert rig.breaker.try_acquire() is not None
    assert rig.breaker.state is State.HALF_OPEN
    assert rig.events[0].cause == "open_elapsed"  # restore itself published nothing


def test_a_wall_clock_that_went_back_cannot_stretch_the_open_period() -> None:
    rig = restart(open_snapshot(after=0), since_trip=1, wall_skew=-3600)
    assert remaining(rig) == 30.0  # clamped to the original period, not 3,629 s


def test_an_open_period_that_ended_while_down_trials_at_once() -> None:
    rig = restart(open_snapshot(), since_trip=3600)
    assert rig.breaker.state is State.OPEN
    assert remaining(rig) == 0.0
    assert rig.breaker.try_acquire() is not None


def test_half_open_comes_back_as_open_with_nothing_remaining() -> None:
    rig = Rig()
    rig.trip()
    rig.advance(30)
    rig.breaker.acquire()
    snapshot = rig.breaker.snapshot()
    assert snapshot.state is State.HALF_OPEN
    restored = restart(snapshot, since_trip=1)
    assert restored.breaker.state is State.OPEN
    assert remaining(restored) == 0.0
    assert restored.breaker.try_acquire() is not None  # the lost trial's permit is free


@pytest.mark.parametrize("manual", [State.FORCED_OPEN, State.DISABLED])
def test_manual_states_persist_indefinitely(manual: State) -> None:
    rig = Rig()
    rig.breaker.force_open() if manual is State.FORCED_OPEN else rig.breaker.disable()
    restored = restart(rig.breaker.snapshot(), since_trip=86_400 * 30)
    assert restored.breaker.state is manual


def test_counters_survive_only_an_unchanged_config() -> None:
    rig = Rig()
    rig.run("F,F")
    snapshot = rig.breaker.snapshot()
    same = restart(snapshot, since_trip=5)
    assert same.breaker.consecutive_failures == 2
    assert same.run("F") == ["open"]
    changed = restart(snapshot, since_trip=5, config=replace(CONSECUTIVE_ONLY, reset_timeout=60))
    assert changed.breaker.consecutive_failures == 0
    assert changed.run("F,F") == ["closed", "closed"]


def test_changed_config_still_keeps_an_open_breaker_open() -> None:
    changed = replace(CONSECUTIVE_ONLY, failure_threshold=9)
    rig = restart(open_snapshot(after=10), since_trip=15, config=changed)
    assert rig.breaker.state is State.OPEN
    assert remaining(rig) == pytest.approx(15.0)


def test_trip_streak_and_incident_start_are_not_restamped() -> None:
    rig = Rig()
    rig.trip()
    rig.advance(30)
    rig.breaker.record(rig.breaker.acquire(), FAIL)  # streak 2, open 60 s
    snapshot = rig.breaker.snapshot()
    restored = restart(snapshot, since_trip=90)  # the 60 s period ended while down
    b = restored.breaker
    assert b.trip_streak == 2
    assert b.opened_at == 1_700_000_000.0  # the incident began before the restart
    b.record(b.acquire(), FAIL)  # the trial fails: streak 3
    assert remaining(restored) == 120.0


def test_a_throttling_cooldown_survives_with_its_remaining_time() -> None:
    rig = Rig()
    rig.breaker.record(rig.breaker.acquire(), THROTTLED)  # 5 s cooldown
    restored = restart(rig.breaker.snapshot(), since_trip=2)
    assert restored.breaker.try_acquire() is None
    restored.advance(3)
    assert restored.breaker.try_acquire() is not None


def test_closed_snapshot_restores_closed_and_working() -> None:
    rig = Rig()
    rig.run("S,S")
    snapshot = rig.breaker.snapshot()
    assert snapshot.open_until is None
    assert snapshot.opened_at is None
    restored = restart(snapshot, since_trip=1)
    assert restored.breaker.state is State.CLOSED
    restored.breaker.record(restored.breaker.acquire(), SUCCESS)
    assert restored.run("F,F,F")[-1] == "open"


def test_restore_fences_permits_from_before_it() -> None:
    clock = FakeClock()
    b = Breaker("vendor", CONSECUTIVE_ONLY, clock=clock)
    before = b.acquire()
    b.restore(open_snapshot())
    b.record(before, SUCCESS)
    assert b.state is State.OPEN
