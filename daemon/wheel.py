"""Which probes are due: each integration at a fixed phase within its interval (pure).

An integration's runs fall at `phase(name, interval) + k * interval` seconds since the
epoch, as Prometheus offsets each target's scrapes by a hash of the target, pinned to
absolute time; the first comes sooner (the caller says when, within a spread after start),
and the next is then the first phase time at least half an interval later, never two runs
back to back. So the gap between two runs is the interval, the rate is the configured one,
and the load is spread evenly over the interval.

`Wheel.turn(now)` takes every run whose time has come, in order: one to start, or one
missed, because its integration's previous run is still going (runs never overlap) or
because it is later than its grace (half the interval, at least a second) allows. Runs
that fell wholly within a stall are counted missed too, each once. The next run of each
is planned as it is taken. A heap of the next run times: O(log n) a run, and about a
hundred bytes an integration.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b

__all__ = ["Due", "Wheel", "next_run", "phase"]


def phase(name: str, interval: float) -> float:
    """Where in each `interval` `name` runs, in seconds: uniform over names, and the same
    on every start and every machine (blake2b of the name)."""
    digest = int.from_bytes(blake2b(name.encode(), digest_size=8).digest(), "big")
    return digest / 2**64 * interval


def next_run(previous: float, interval: float, offset: float) -> float:
    """The first time `offset + k * interval` at least half an interval after `previous`."""
    periods = math.ceil((previous + interval / 2 - offset) / interval)
    return offset + periods * interval


def grace(interval: float) -> float:
    """How late a run may start: half its interval, at least a second."""
    return max(1.0, interval / 2)


@dataclass(frozen=True, slots=True)
class Due:
    name: str
    at: float  # the time it was due (Unix time)
    missed: int = 0  # runs of `name` counted missed before this one (0: none)


@dataclass(frozen=True, slots=True)
class _Plan:
    interval: float
    offset: float
    generation: int


class Wheel:
    """Every integration's next run, earliest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []  # (due, generation, name)
        self._plans: dict[str, _Plan] = {}
        self._generations = 0

    def __len__(self) -> int:
        return len(self._plans)

    def plan(self, name: str, interval: float, first: float) -> None:
        """Run `name` at `first`, then on its phase every `interval` s (replacing any plan)."""
        self._generations += 1
        plan = _Plan(interval, phase(name, interval), self._generations)
        self._plans[name] = plan
        heapq.heappush(self._heap, (first, plan.generation, name))

    def drop(self, name: str) -> None:
        self._plans.pop(name, None)  # its heap entry is skipped when it comes up

    def next_due(self) -> float | None:
        """When the earliest planned run is due (None: nothing planned)."""
        while self._heap:
            due, generation, name = self._heap[0]
            plan = self._plans.get(name)
            if plan is not None and plan.generation == generation:
                return due
            heapq.heappop(self._heap)  # dropped or planned again since
        return None

    def turn(self, now: float, busy: Callable[[str], bool]) -> tuple[list[Due], list[Due]]:
        """The runs due by `now`: those to start, and those missed (each with `at`; a
        run's `missed` counts the runs a stall swallowed before it). `busy(name)`: its
        previous run is still going."""
        start: list[Due] = []
        missed: list[Due] = []
        starting: set[str] = set()
        while (due := self.next_due()) is not None and due <= now:
            _, generation, name = heapq.heappop(self._heap)
            plan = self._plans[name]
            after = next_run(due, plan.interval, plan.offset)
            swallowed = 0
            if after < now - grace(plan.interval):  # a stall: runs that can no longer start
                swallowed = math.ceil((now - grace(plan.interval) - after) / plan.interval)
                after += swallowed * plan.interval
            heapq.heappush(self._heap, (after, generation, name))
            if now - due > grace(plan.interval) or name in starting or busy(name):
                missed.append(Due(name, due, swallowed))
            else:
                starting.add(name)
                start.append(Due(name, due, swallowed))
        return start, missed
