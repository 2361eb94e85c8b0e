"""Our breaker against pybreaker and purgatory, every scenario in one process and one run.

    make bench                      # or: .venv/bin/python bench/breakers.py [--quick]

Scenarios (docs/benchmarks.md has the results):
  S1  closed path, sync: ns per protected call of a trivial function (best of 5 repeats)
  S2  closed path, asyncio: ns per protected await
  S3  rejection while open: ns per refused call (raising, and our non-raising try_acquire)
  S5  8 threads each making one 50 ms call through one closed breaker: wall time / ideal
  S6  half-open burst: 20 concurrent callers (threads, and coroutines) against a backend
      that is still failing: how many reach it

Absolute numbers move with the machine; the ratios within one run are what to compare.
S1 times the contenders in alternation (15 rounds, best kept), so they share the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import platform
import sys
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import purgatory
import pybreaker

from probes import Breaker, BreakerConfig, Kind, Outcome, Reason
from probes.outcome import SUCCESS

FAIL = Outcome(Kind.FAILURE, Reason.HTTP_5XX)
REPEATS = 5
ROUNDS = 15


def ok() -> int:
    return 1


async def aok() -> int:
    return 1


def guarded(breaker: Breaker) -> Callable[[Callable[[], Any]], Any]:
    """The protected call a user of our breaker writes (what ResilientClient does)."""
    try_acquire, record = breaker.try_acquire, breaker.record

    def call(fn: Callable[[], Any]) -> Any:
        permit = try_acquire()
        if permit is None:
            raise RuntimeError("open")
        try:
            result = fn()
        except Exception:
            record(permit, FAIL)
            raise
        record(permit, SUCCESS)
        return result

    return call


def aguarded(breaker: Breaker) -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    try_acquire, record = breaker.try_acquire, breaker.record

    async def call(fn: Callable[[], Awaitable[Any]]) -> Any:
        permit = try_acquire()
        if permit is None:
            raise RuntimeError("open")
        try:
            result = await fn()
        except Exception:
            record(permit, FAIL)
            raise
        record(permit, SUCCESS)
        return result

    return call


def per_call_ns(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=REPEATS)) / number * 1e9


def interleaved_ns(contenders: dict[str, Callable[[], Any]], number: int) -> dict[str, float]:
    """Best ns per call for each contender, timed in alternation so all share the noise."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(ROUNDS):
        for name, fn in contenders.items():
            best[name] = min(best[name], timeit.timeit(fn, number=number) / number * 1e9)
    return best


def per_await_ns(make: Callable[[], Awaitable[Any]], number: int) -> float:
    async def loop() -> float:
        start = time.perf_counter()
        for _ in range(number):
            await make()
        return time.perf_counter() - start

    best = float("inf")
    for _ in range(REPEATS):
        gc.disable()
        try:
            best = min(best, asyncio.run(loop()))
        finally:
            gc.enable()
    return best / number * 1e9


def expect_raise(call: Callable[[], Any]) -> Callable[[], None]:
    def refused() -> None:
        try:
            call()
        except Exception:
            pass
        else:
            raise AssertionError("the breaker admitted a call while open")

    return refused


# -- scenarios ----------------------------------------------------------------------------


def closed_sync(n: int) -> dict[str, float]:
    ours = guarded(Breaker("bench"))
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
    decorated = factory("bench")(ok)
    prefetched = factory.get_breaker("bench-ctx")

    def purgatory_context() -> int:
        with prefetched:
            return ok()

    contenders = {
        "baseline (direct call)": ok,
        "ours": lambda: ours(ok),
        "pybreaker .call()": lambda: pb.call(ok),
        "purgatory decorator": decorated,
        "purgatory context, prefetched": purgatory_context,
    }
    return interleaved_ns(contenders, n // 4)


def closed_async(n: int) -> dict[str, float]:
    ours = aguarded(Breaker("bench"))
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
    decorated = factory("bench")(aok)
    return {
        "baseline (direct await)": per_await_ns(aok, n),
        "ours": per_await_ns(lambda: ours(aok), n),
        "purgatory decorator": per_await_ns(decorated, max(1, n // 4)),
    }


def rejection(n: int) -> dict[str, float]:
    ours = Breaker("bench")
    ours.force_open()
    pb = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    pb.open()
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=1, default_ttl=3600)

    @factory("bench")
    def boom() -> None:
        raise ValueError

    expect_raise(boom)()  # trips it

    return {
        "ours try_acquire (no raise)": per_call_ns(ours.try_acquire, n),
        "ours acquire (raises BreakerOpen)": per_call_ns(expect_raise(ours.acquire), n // 4),
        "pybreaker (raises)": per_call_ns(expect_raise(lambda: pb.call(ok)), n // 4),
        "purgatory (raises)": per_call_ns(expect_raise(boom), n // 4),
    }


def threads_wall(call: Callable[[Callable[[], Any]], Any], threads: int = 8) -> float:
    def slow() -> None:
        time.sleep(0.05)

    workers = [threading.Thread(target=call, args=(slow,)) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) / 0.05


def serialization() -> dict[str, float]:
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)

    def purgatory_call(fn: Callable[[], Any]) -> Any:
        return factory("bench")(fn)()

    def direct(fn: Callable[[], Any]) -> Any:
        return fn()

    runs = {
        "direct (no breaker)": direct,
        "ours": guarded(Breaker("bench")),
        "pybreaker": pb.call,
        "purgatory": purgatory_call,
    }
    return {name: min(threads_wall(call) for _ in range(3)) for name, call in runs.items()}


class Backend:
    """Still failing: each call takes 100 ms and raises. Counts who reached it."""

    def __init__(self) -> None:
        self.hits = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.hits += 1
        time.sleep(0.1)
        raise ConnectionError("still down")

    async def acall(self) -> None:
        self.hits += 1
        await asyncio.sleep(0.1)
        raise ConnectionError("still down")


def burst_threads(call: Callable[[Callable[[], Any]], Any], backend: Backend) -> int:
    barrier = threading.Barrier(20)

    def caller() -> None:
        barrier.wait()
        with contextlib.suppress(Exception):
            call(backend)

    workers = [threading.Thread(target=caller) for _ in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return backend.hits


def burst_async(
    call: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]], backend: Backend
) -> int:
    async def caller() -> None:
        with contextlib.suppress(Exception):
            await call(backend.acall)

    async def burst() -> None:
        await asyncio.gather(*(caller() for _ in range(20)))

    asyncio.run(burst())
    return backend.hits


def tripped_ours() -> Breaker:
    config = BreakerConfig(failure_threshold=1, reset_timeout=0.2, open_jitter=0)
    breaker = Breaker("bench", config)
    breaker.record(breaker.acquire(), FAIL)
    time.sleep(0.25)
    return breaker


def half_open_burst() -> dict[str, tuple[int | str, int | str]]:
    def boom() -> None:
        raise ConnectionError

    results: dict[str, tuple[int | str, int | str]] = {}

    results["ours"] = (
        burst_threads(guarded(tripped_ours()), Backend()),
        burst_async(aguarded(tripped_ours()), Backend()),
    )

    pb = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=0.2)
    expect_raise(lambda: pb.call(boom))()
    time.sleep(0.25)
    results["pybreaker"] = (burst_threads(pb.call, Backend()), "n/a (no asyncio)")

    sync_factory = purgatory.SyncCircuitBreakerFactory(default_threshold=1, default_ttl=0.2)
    expect_raise(sync_factory("bench")(boom))()
    time.sleep(0.25)
    sync_hits = burst_threads(lambda fn: sync_factory("bench")(fn)(), Backend())

    async def async_purgatory() -> int:
        factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=1, default_ttl=0.2)

        async def aboom() -> None:
            raise ConnectionError

        with contextlib.suppress(Exception):
            await factory("bench")(aboom)()
        await asyncio.sleep(0.25)
        backend = Backend()

        async def caller() -> None:
            with contextlib.suppress(Exception):
                await factory("bench")(backend.acall)()

        await asyncio.gather(*(caller() for _ in range(20)))
        return backend.hits

    results["purgatory"] = (sync_hits, asyncio.run(async_purgatory()))
    return results


# -- report -------------------------------------------------------------------------------


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000

    print(
        f"# breaker benchmark\n\nPython {platform.python_version()} on {platform.machine()}, "
        f"{platform.system()} {platform.release()}, {len(__import__('os').sched_getaffinity(0))} "
        f"cores; pybreaker {version('pybreaker')}, purgatory {version('purgatory')}, "
        f"breakerwatch {version('breakerwatch')}. S1: best of {ROUNDS} interleaved rounds of "
        f"{n // 4} calls; S2, S3: best of {REPEATS} repeats of {n} (S3 raising: {n // 4}).\n"
    )

    sync = closed_sync(n)
    base = sync["baseline (direct call)"]
    pybreaker_ns = sync["pybreaker .call()"] - base
    rows = [(name, f"{ns:,.0f}", f"{ns - base:,.0f}") for name, ns in sync.items()]
    print(table("S1 closed path, sync", ("", "ns/call", "minus baseline"), rows))
    ours_ns = sync["ours"] - base
    print(
        f"ours / pybreaker: **{sync['ours'] / sync['pybreaker .call()']:.2f}** per call, "
        f"**{ours_ns / pybreaker_ns:.2f}** in overhead over the baseline (target <= 0.33)\n"
    )

    aio = closed_async(n)
    abase = aio["baseline (direct await)"]
    rows = [(name, f"{ns:,.0f}", f"{ns - abase:,.0f}") for name, ns in aio.items()]
    rows.append(("pybreaker", "n/a", "no asyncio support"))
    print(table("S2 closed path, asyncio", ("", "ns/await", "minus baseline"), rows))

    rows = [(name, f"{ns:,.0f}") for name, ns in rejection(n).items()]
    print(table("S3 rejection while open", ("", "ns/call"), rows))

    rows = [(name, f"{ratio:.2f}x") for name, ratio in serialization().items()]
    print(table("S5 8 threads x one 50 ms call, wall time / ideal", ("", "wall / ideal"), rows))

    rows = [(name, str(t), str(a)) for name, (t, a) in half_open_burst().items()]
    print(
        table(
            "S6 half-open burst: 20 callers, backend still failing (half_open_permits=1)",
            ("", "backend hits, threads", "backend hits, asyncio"),
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
