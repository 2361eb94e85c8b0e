"""Breakerwatch's own trouble: probes (or the HTTP server) failing for want of its own
resources (file descriptors, ports, memory). `Trouble` is the pure rule, the caller saying
what time it is; `TroubleWatch` tells it: the counters, one log line, one alert when it
starts and when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from alerts.model import Event, EventKind, Failure
from daemon.metrics import DaemonStats

__all__ = ["LOCAL", "Trouble", "TroubleWatch", "health"]

logger = logging.getLogger("breakerwatch")

LOCAL = "breakerwatch"  # the name our own trouble goes by in alerts (its own incident kind)


@dataclass
class Trouble:
    """Starts at the first local failure; ends once `quiet` seconds pass without another."""

    quiet: float
    what: str | None = None  # what ran out, while in trouble
    since: float = 0.0  # wall-clock time it began
    last: float = 0.0  # monotonic time of the latest local failure

    def failed(self, detail: str, now: float, wall: float) -> bool:
        """A local failure at monotonic `now`; True when it starts the trouble."""
        self.last = now
        if self.what is not None:
            return False
        self.what, self.since = detail, wall
        return True

    def ended(self, now: float) -> bool:
        """True once, when the trouble is over at monotonic `now`."""
        if self.what is None or now - self.last < self.quiet:
            return False
        self.what = None
        return True


class TroubleWatch:
    """Our own trouble, told: `breakerwatch_local_*`, the log, and alerts through `queue`."""

    def __init__(
        self,
        stats: DaemonStats,
        queue: Callable[[Event], None],
        *,
        quiet: float,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.trouble = Trouble(quiet)
        self._stats = stats
        self._queue = queue
        self._clock = clock
        self._wall = wall

    @property
    def what(self) -> str | None:
        """What ran out, while in trouble; else None."""
        return self.trouble.what

    def failed(self, code: str, detail: str) -> None:
        """A failure for want of our own resources (`code`: EMFILE ...): counted, never the
        vendor's; the first starts the trouble."""
        self._stats.failed_locally(code)
        if not self.trouble.failed(detail, self._clock(), self._wall()):
            return
        self._stats.local_trouble = 1
        logger.error(
            "breakerwatch itself is in trouble: %s; probes failing so are not counted against "
            "the vendors (LimitNOFILE and the connection cap: docs/operations.md)", detail,
        )  # fmt: skip
        failure = Failure("local", None, code, detail)
        self._queue(Event(LOCAL, EventKind.LOCAL_TROUBLE, self._wall(), failure))

    async def run(self, every: float) -> None:
        """Look every `every` seconds whether the trouble is over; until cancelled."""
        while True:
            await asyncio.sleep(every)
            what, since = self.trouble.what, self.trouble.since
            if self.trouble.ended(self._clock()):
                self._stats.local_trouble = 0
                logger.info("breakerwatch is out of trouble (%s, since %.0fs ago)", what,
                            self._wall() - since)  # fmt: skip
                self._queue(Event(LOCAL, EventKind.LOCAL_TROUBLE_ENDED, self._wall()))


def health(
    heartbeat_age: float, stale: float, trouble: str | None, unpersisted: str | None
) -> tuple[bool, str]:
    """Whether the daemon is healthy, and the sentence `/healthz` says about it."""
    if heartbeat_age > stale:
        return False, f"unhealthy: the scheduler heartbeat is {heartbeat_age:.0f}s old"
    if trouble is not None:  # still probing: healthy, and saying what is wrong
        return True, (
            f"degraded: breakerwatch itself is in trouble: {trouble}; probes "
            "failing so are not counted against the vendors"
        )
    if unpersisted is not None:  # still probing and alerting: healthy, and saying what is wrong
        return True, f"ok, but not persisting: {unpersisted}; the state is kept in memory"
    return True, "ok"
