"""The probe schedule on APScheduler 3.11: the only module that imports it.

APScheduler owns the schedule's clock, not a job per probe: one job turns the wheel
(`daemon/wheel.py`) every `TICK` seconds, starting the probes whose time has come, each at
its integration's fixed phase within its interval. A job per integration cost, at every
run, APScheduler's bookkeeping (its job store, trigger, executor and events: about 10% of
a probe's CPU) and, at start-up, 0.2 ms and 1 KB an integration (docs/benchmarks.md). A
probe starts within a tick of its time; it never overlaps itself; a run later than half its
interval (at least a second), or whose previous run is still going, is counted missed, not
silent. One-off trial jobs when a breaker's open period ends, and a heartbeat job whose
freshness `/healthz` and the systemd watchdog report, are APScheduler's own. Its 3.x
pitfalls (docs/architecture.md, "The schedule") are handled: the scheduler starts inside
the running loop; `misfire_grace_time` goes in the job; the cancellations of shutdown are
not reported as job errors.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from daemon.wheel import Due, Wheel

__all__ = ["TICK", "ProbeScheduler"]

logger = logging.getLogger(__name__)

TICK = 0.025  # seconds between the wheel's turns: a probe starts within this of its time
_TRIAL = "trial:"


class ProbeScheduler:
    """Runs `probe(name)` on each integration's interval, at most `concurrency` at once."""

    def __init__(
        self,
        probe: Callable[[str], Awaitable[object]],
        *,
        missed: Callable[[str], None],
        started: Callable[[float], None],
        heartbeat: Callable[[], None],
        heartbeat_every: float,
        concurrency: int,
        random: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._probe = probe
        self._missed = missed
        self._started = started
        self._wall = wall
        self._wheel = Wheel()
        self._running: set[str] = set()  # integrations whose scheduled probe is going
        self._trials: dict[str, float] = {}  # trial job id -> the time it was due
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._slots = asyncio.Semaphore(concurrency)
        self._random = random
        self._stopping = False
        self._in_flight: set[asyncio.Task[object]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start inside the running event loop (APScheduler 3.11 requires it)."""
        self._scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_SUBMITTED)
        now = datetime.now(UTC)
        self._scheduler.add_job(self._heartbeat, "interval", seconds=self._heartbeat_every,
                                id="heartbeat", next_run_time=now,
                                misfire_grace_time=None)  # fmt: skip
        self._scheduler.add_job(self._turn, "interval", seconds=TICK, id="wheel",
                                next_run_time=now, coalesce=True, max_instances=1,
                                misfire_grace_time=None)  # fmt: skip
        self._scheduler.start()

    def add(self, name: str, interval: float, *, spread: float) -> None:
        """Probe `name` every `interval` s; the first run within `spread` s, so that a large
        configuration does not start with every probe at once."""
        self._wheel.plan(name, interval, self._wall() + self._random() * spread)

    def remove(self, name: str) -> None:
        self._wheel.drop(name)
        if self._scheduler.get_job(_TRIAL + name) is not None:
            self._scheduler.remove_job(_TRIAL + name)

    def plan_trial(self, name: str, delay: float) -> None:
        """One probe of `name` in `delay` s: the trial when its open period ends, rather
        than at the next interval (plus up to a second of jitter)."""
        when = datetime.now(UTC) + timedelta(seconds=delay + self._random())
        self._scheduler.add_job(
            self._trial,
            "date",
            run_date=when,
            args=[name],
            id=_TRIAL + name,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _turn(self) -> None:
        """Start what is due; count what cannot start."""
        if self._stopping:
            return
        start, missed = self._wheel.turn(self._wall(), self._running.__contains__)
        for due in missed:
            for _ in range(due.missed + 1):
                self._missed(due.name)
        for due in start:
            for _ in range(due.missed):
                self._missed(due.name)
            self._running.add(due.name)
            self._spawn(self._scheduled(due))

    async def _scheduled(self, due: Due) -> None:
        try:
            await self._run(due.name, due.at)
        finally:
            self._running.discard(due.name)

    async def _trial(self, name: str) -> None:
        await self._run(name, self._trials.pop(_TRIAL + name, None))

    async def _run(self, name: str, due: float | None) -> None:
        async with self._slots:
            if self._stopping:
                return
            if due is not None:  # late by scheduling and by waiting for a slot
                self._started(max(0.0, self._wall() - due))
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)  # a trial's, too: shutdown waits for it
            try:
                await self._probe(name)
            finally:
                self._in_flight.discard(task)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a probe failed (a breakerwatch bug, not a vendor outage)",
                         exc_info=task.exception())  # fmt: skip

    def _on_event(self, event: JobEvent) -> None:
        job_id = event.job_id
        if isinstance(event, JobSubmissionEvent):
            if job_id.startswith(_TRIAL):
                self._trials[job_id] = event.scheduled_run_times[-1].timestamp()
            return
        if isinstance(event, JobExecutionEvent):
            if self._stopping or isinstance(event.exception, asyncio.CancelledError):
                return  # shutdown cancels in-flight jobs: not an error
            logger.error(
                "the %s job failed (a breakerwatch bug, not a vendor outage)",
                job_id,
                exc_info=event.exception,
            )

    async def shutdown(self, grace: float) -> None:
        """Stop scheduling; give in-flight probes up to `grace` s, then cancel them."""
        self._stopping = True
        self._scheduler.pause()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        for task in list(self._in_flight):
            task.cancel()  # a trial's is APScheduler's to cancel too: once is enough
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0.1)  # the queued shutdown and its cancellations actually run
