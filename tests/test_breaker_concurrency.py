"""Half-open admission under real concurrency: threads and coroutines."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import replace

import pytest

from probes import Breaker, State
from probes.outcome import SUCCESS
from tests.support import FakeClock
from tests.test_breaker import CONSECUTIVE_ONLY, FAIL

CALLERS = 20


def tripped(permits: int) -> Breaker:
    """A breaker whose open period has just ended: the next caller starts the trial."""
    clock = FakeClock()
    breaker = Breaker("vendor", replace(CONSECUTIVE_ONLY, half_open_permits=permits), clock=clock)
    for _ in range(3):
        breaker.record(breaker.acquire(), FAIL)
    clock.advance(30)
    return breaker


@pytest.mark.parametrize("permits", [1, 3])
def test_threads_exactly_the_permits_reach_a_failing_backend(permits: int) -> None:
    breaker = tripped(permits)
    hits = 0
    lock = threading.Lock()
    start = threading.Barrier(CALLERS)

    def caller() -> None:
        nonlocal hits
        start.wait()
        permit = breaker.try_acquire()
        if permit is None:
            return
        with lock:
            hits += 1
        time.sleep(0.1)  # the backend is slow, and still failing
        breaker.record(permit, FAIL)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hits == permits
    assert breaker.state is State.OPEN


@pytest.mark.parametrize("permits", [1, 3])
def test_coroutines_exactly_the_permits_reach_a_failing_backend(permits: int) -> None:
    breaker = tripped(permits)
    hits = 0

    async def caller() -> None:
        nonlocal hits
        permit = breaker.try_acquire()
        if permit is None:
            return
        hits += 1
        await asyncio.sleep(0.05)
        breaker.record(permit, FAIL)

    async def burst() -> None:
        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    asyncio.run(burst())
    assert hits == permits
    assert breaker.state is State.OPEN


def test_threads_hammering_never_exceed_the_permits_of_a_generation() -> None:
    """8 threads, random outcomes, a breaker cycling through every state.

    The clock ticks a millisecond each time it is read, so the breaker reopens and
    half-opens constantly whatever the machine's speed.
    """
    permits = 2
    config = replace(
        CONSECUTIVE_ONLY,
        failure_threshold=1,
        reset_timeout=0.01,
        max_reset_timeout=0.02,
        half_open_permits=permits,
    )
    ticks = itertools.count()
    breaker = Breaker("vendor", config, clock=lambda: next(ticks) / 1000)
    in_flight: Counter[int] = Counter()
    worst = Counter[int]()
    trials = 0
    lock = threading.Lock()

    def worker(seed: int) -> None:
        nonlocal trials
        rng = random.Random(seed)
        for _ in range(3000):
            permit = breaker.try_acquire()
            if permit is None:
                continue
            if permit.lease:
                with lock:
                    trials += 1
                    in_flight[permit.generation] += 1
                    worst[permit.generation] = max(
                        worst[permit.generation], in_flight[permit.generation]
                    )
            if rng.random() < 0.3:
                time.sleep(0)
            if permit.lease:
                with lock:
                    in_flight[permit.generation] -= 1
            breaker.record(permit, SUCCESS if rng.random() < 0.5 else FAIL)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trials > 100  # the test did reach half-open, many times
    assert max(worst.values()) <= permits
