"""The probe schedule on APScheduler 3.11: the only module that imports it.

One job per integration (coalesced, never overlapping itself, late runs allowed for half an
interval) on a fixed phase within its interval, derived from its name as Prometheus offsets
its scrapes: after a first run within `spread` of its start, `name` runs at
`phase(name, interval) + k * interval` seconds since the epoch, so the gap between two runs
is the interval, the rate is the configured one, and the load is spread evenly (a per-run
jitter would stretch every interval by half its average). A one-off trial job when a
breaker's open period ends, and
a heartbeat job whose freshness `/healthz` and the systemd watchdog report. APScheduler 3.x's
pitfalls (docs/architecture.md, "The schedule") are handled: the scheduler starts inside the running
loop; `misfire_grace_time` goes in the job; missed runs are counted, not silent; the
cancellations of shutdown are not reported as job errors.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from hashlib import blake2b

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

__all__ = ["Phased", "ProbeScheduler", "phase"]

logger = logging.getLogger(__name__)

_PROBE, _TRIAL = "probe:", "trial:"


def phase(name: str, interval: float) -> float:
    """Where in each `interval` `name` runs, in seconds: uniform over names, and the same
    on every start and every machine (blake2b of the name)."""
    digest = int.from_bytes(blake2b(name.encode(), digest_size=8).digest(), "big")
    return digest / 2**64 * interval


class Phased(BaseTrigger):  # type: ignore[misc]
    """Fires at `phase + k * interval` seconds since the epoch. After a run off that grid
    (the first one, soon after start), the next is the first grid time at least half an
    interval later, never two runs back to back."""

    def __init__(self, interval: float, phase: float) -> None:
        self.interval, self.phase = interval, phase

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        earliest = (now.timestamp() if previous_fire_time is None
                    else previous_fire_time.timestamp() + self.interval / 2)  # fmt: skip
        periods = math.ceil((earliest - self.phase) / self.interval)
        return datetime.fromtimestamp(self.phase + periods * self.interval, UTC)

    def __str__(self) -> str:
        return f"every {self.interval:g}s at {self.phase:.3f}s"


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
    ) -> None:
        self._probe = probe
        self._missed = missed
        self._started = started
        self._due: dict[str, datetime] = {}  # job id -> the run time it was submitted for
        self._last_due: dict[str, datetime] = {}  # probe job id -> its previous run time
        self._intervals: dict[str, float] = {}
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._slots = asyncio.Semaphore(concurrency)
        self._random = random
        self._stopping = False
        self._in_flight: set[asyncio.Task[object]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start inside the running event loop (APScheduler 3.11 requires it)."""
        self._scheduler.add_listener(
            self._on_event,
            EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_SUBMITTED,
        )
        self._scheduler.add_job(
            self._heartbeat,
            "interval",
            seconds=self._heartbeat_every,
            id="heartbeat",
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def add(self, name: str, interval: float, *, spread: float) -> None:
        """Probe `name` every `interval` s; the first run within `spread` s, so that a large
        configuration does not start with every probe at once."""
        first = datetime.now(UTC) + timedelta(seconds=self._random() * spread)
        self._intervals[_PROBE + name] = interval
        self._last_due.pop(_PROBE + name, None)
        self._scheduler.add_job(
            self._run,
            Phased(interval, phase(name, interval)),
            args=[name, _PROBE + name],
            id=_PROBE + name,
            next_run_time=first,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(interval / 2)),
        )

    def remove(self, name: str) -> None:
        self._intervals.pop(_PROBE + name, None)
        self._last_due.pop(_PROBE + name, None)
        for job_id in (_PROBE + name, _TRIAL + name):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)

    def plan_trial(self, name: str, delay: float) -> None:
        """One probe of `name` in `delay` s: the trial when its open period ends, rather
        than at the next interval (plus up to a second of jitter)."""
        when = datetime.now(UTC) + timedelta(seconds=delay + self._random())
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=when,
            args=[name, _TRIAL + name],
            id=_TRIAL + name,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _run(self, name: str, job_id: str) -> None:
        async with self._slots:
            if self._stopping:
                return
            due = self._due.pop(job_id, None)
            if due is not None:  # late by scheduling and by waiting for a slot
                self._started(max(0.0, (datetime.now(UTC) - due).total_seconds()))
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                await self._probe(name)
            finally:
                self._in_flight.discard(task)

    def _on_event(self, event: JobEvent) -> None:
        job_id = event.job_id
        name = job_id.split(":", 1)[1] if ":" in job_id else job_id
        if isinstance(event, JobSubmissionEvent):
            if job_id != "heartbeat":
                due = event.scheduled_run_times[-1]
                self._due[job_id] = due
                self._count_coalesced(job_id, name, due)
            return
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            if job_id.startswith(_PROBE):
                self._missed(name)
        elif isinstance(event, JobExecutionEvent):
            if self._stopping or isinstance(event.exception, asyncio.CancelledError):
                return  # shutdown cancels in-flight jobs: not an error
            logger.error(
                "the probe job for %s failed (a breakerwatch bug, not a vendor outage)",
                name,
                exc_info=event.exception,
            )

    def _count_coalesced(self, job_id: str, name: str, due: datetime) -> None:
        """Runs APScheduler dropped to catch up (coalescing) are missed runs too."""
        interval = self._intervals.get(job_id)
        previous = self._last_due.get(job_id)
        if interval is None:
            return  # a trial: not part of the schedule
        self._last_due[job_id] = due
        if previous is not None:
            for _ in range(round((due - previous).total_seconds() / interval) - 1):
                self._missed(name)

    async def shutdown(self, grace: float) -> None:
        """Stop scheduling; give in-flight probes up to `grace` s, then cancel them."""
        self._stopping = True
        self._scheduler.pause()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0.1)  # the queued shutdown and its cancellations actually run


# APScheduler checks a job's callable against its arguments with inspect.signature, for
# every job it adds: at 10,000 integrations, 0.8 s of the start-up. inspect.signature
# honours a precomputed __signature__ (PEP 362), so it is computed once, here.
setattr(ProbeScheduler._run, "__signature__", inspect.signature(ProbeScheduler._run))  # noqa: B010
