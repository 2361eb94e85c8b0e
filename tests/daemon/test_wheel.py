"""The wheel: each integration at a fixed phase in its interval, the interval kept exactly,
the load spread evenly, a run never overlapping itself, and stalls counted as missed."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from daemon.scheduler import TICK
from daemon.wheel import Wheel, grace, next_run, phase

T0 = 1_796_000_000.25  # a Unix time, off every grid


def idle(name: str) -> bool:
    return False


def test_each_name_has_a_fixed_phase_and_the_phases_spread_evenly() -> None:
    names = [f"integration-{i}" for i in range(10_000)]
    phases = [phase(name, 30.0) for name in names]
    assert phases == [phase(name, 30.0) for name in names]  # the same on every start
    assert all(0 <= p < 30.0 for p in phases)
    per_second = Counter(int(p) for p in phases)  # 30 one-second slots, ~333 names each
    assert len(per_second) == 30
    assert max(per_second.values()) < 333 * 1.25
    assert min(per_second.values()) > 333 * 0.75


def turns(wheel: Wheel, until: float, step: float = TICK) -> list[tuple[float, str, float]]:
    """Turn the wheel every `step` s up to `until`: (turned at, name, due) of each start."""
    started = []
    now = T0
    while now < until:
        start, missed = wheel.turn(now, idle)
        assert missed == []
        started += [(now, due.name, due.at) for due in start]
        now += step
    return started


def test_runs_keep_the_interval_exactly_within_a_tick_of_their_phase() -> None:
    wheel = Wheel()
    wheel.plan("kit", 30.0, first=T0 + 0.4)  # the first, off the grid, soon after start
    started = turns(wheel, T0 + 3_000)
    assert len(started) == 101  # the first, then every 30 s on its phase for 3,000 s
    due = [at for _, _, at in started]
    gaps = [b - a for a, b in pairwise(due[1:])]
    assert max(abs(gap - 30.0) for gap in gaps) < 1e-6  # no drift, no jitter
    assert all(abs((at - phase("kit", 30.0)) % 30.0) < 1e-6 for at in due[1:])  # on its phase
    assert all(0 <= turned - at < TICK + 1e-9 for turned, _, at in started)  # within a tick
    assert 15.0 <= due[1] - due[0] < 45.0  # never back to back with the first


def test_the_next_run_is_the_first_on_the_grid_half_an_interval_on() -> None:
    assert next_run(1_000_004.5, 10.0, 3.0) == 1_000_013.0  # 4.5 s into a 10 s period
    assert next_run(1_000_003.0, 10.0, 3.0) == 1_000_013.0  # on the grid: one interval on
    assert next_run(1_000_009.0, 10.0, 3.0) == 1_000_023.0  # 4 s before: not back to back


def test_the_load_is_spread_evenly_over_the_interval() -> None:
    wheel = Wheel()
    for i in range(3_000):
        wheel.plan(f"t{i}", 30.0, first=T0 + 1_000)  # all at once at first, then phased
    started = turns(wheel, T0 + 1_100, step=1.0)
    steady = [turned for turned, _, at in started if T0 + 1_060 <= at < T0 + 1_090]
    assert len(steady) == 3_000  # one run each in any 30 s once they are on their phase
    per_second = Counter(int(turned - T0) for turned in steady)
    assert len(per_second) == 30
    assert max(per_second.values()) < 100 * 1.5  # 100 a second, give or take
    assert min(per_second.values()) > 100 * 0.5


def test_a_run_whose_previous_is_still_going_is_missed_not_overlapped() -> None:
    wheel = Wheel()
    wheel.plan("kit", 10.0, first=T0)
    start, _ = wheel.turn(T0, idle)
    assert [d.name for d in start] == ["kit"]
    due = wheel.next_due()
    assert due is not None
    start, missed = wheel.turn(due, lambda name: name == "kit")  # still going
    assert (start, [d.name for d in missed]) == ([], ["kit"])
    start, _ = wheel.turn(due + 10.0, idle)  # the one after starts
    assert [d.at for d in start] == [due + 10.0]


def test_a_stall_counts_each_run_it_swallowed_once_then_the_schedule_goes_on() -> None:
    wheel = Wheel()
    wheel.plan("kit", 10.0, first=T0)
    wheel.turn(T0, idle)
    due = wheel.next_due()
    assert due is not None
    stalled = due + 95.0  # the loop was blocked: 10 runs were due meanwhile
    start, missed = wheel.turn(stalled, idle)
    counted = sum(d.missed + 1 for d in missed) + sum(d.missed for d in start)
    assert counted == 9  # the due one and eight swallowed; the tenth is within its grace
    assert [round(stalled - d.at, 6) for d in start] == [5.0]  # late, but by less than 5 s
    assert grace(10.0) == 5.0


def test_dropped_and_replanned_integrations() -> None:
    wheel = Wheel()
    wheel.plan("kit", 10.0, first=T0)
    wheel.plan("hubspot", 10.0, first=T0)
    wheel.drop("hubspot")
    wheel.plan("kit", 60.0, first=T0 + 1)  # a reload changed its interval
    start, _ = wheel.turn(T0 + 1, idle)
    assert [(d.name, d.at) for d in start] == [("kit", T0 + 1)]  # once, by its new plan
    assert len(wheel) == 1
    nxt = wheel.next_due()
    assert nxt is not None
    assert abs((nxt - phase("kit", 60.0)) % 60.0) < 1e-6
