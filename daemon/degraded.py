"""Slow but working: each integration's usual latency, learned, and when it is far above it.
Pure: no I/O, no clock of its own (time is an argument).

The baseline is an exponentially weighted mean of the logarithm of each successful probe's
latency (a geometric mean: one slow probe moves it little), each probe weighing
`1 - exp(-interval / TAU)`, so it follows the last several hours; until `WARMUP` probes are
in, it is the plain mean of those seen and is not trusted. `pinned` replaces it altogether.
The recent latency is the 95th percentile (nearest rank) of the successful probes of the
last `window` seconds: half of `after`, but at least `MIN_RECENT` probes' worth. The
integration is degraded once that p95 has stayed above `factor` times the baseline, and
above `floor`, for `hold` seconds: `after`, but at least twice the window, so a slowdown
shorter than half the hold (a spike) is never told, however slow. It recovers once the p95
has stayed below `HYSTERESIS` times that line as long. While it is slow or degraded the
baseline learns nothing, so a slowdown never becomes the new normal by itself. Failed
probes are the breaker's business and count for nothing here.
"""

from __future__ import annotations

import enum
import math
from array import array
from bisect import bisect_right
from dataclasses import dataclass

__all__ = [
    "HYSTERESIS",
    "MIN_RECENT",
    "TAU",
    "WARMUP",
    "Baseline",
    "Change",
    "DegradedSettings",
    "Detector",
]

TAU = 6 * 3600.0  # seconds: how long the baseline remembers
WARMUP = 50  # successful probes before the baseline is trusted
MIN_RECENT = 5  # the fewest probes the recent p95 is taken over
_KEPT = 512  # recent probes kept at most (a short interval, a long window)
HYSTERESIS = 0.8  # of the threshold: below it (sustained) is recovered


@dataclass(frozen=True, slots=True)
class DegradedSettings:
    """An integration's `degraded_*` and `baseline` settings (durations in seconds)."""

    enabled: bool = True
    factor: float = 3.0
    floor: float = 0.5
    after: float = 300.0
    pinned: float | None = None  # `baseline = "300ms"`: no learning, no warm-up


@dataclass(frozen=True, slots=True)
class Baseline:
    """What is learned and kept across restarts: the geometric mean, and of how many."""

    seconds: float
    samples: int


class Change(enum.StrEnum):
    DEGRADED = "degraded"
    RECOVERED = "recovered"


class Detector:
    """One integration's latency (`observe` each successful probe's)."""

    __slots__ = (
        "_at", "_latencies", "_since", "_weight", "degraded", "hold", "learned", "p95", "settings",
        "window"
    )  # fmt: skip

    def __init__(
        self, settings: DegradedSettings, interval: float, learned: Baseline | None = None
    ) -> None:
        self.settings = settings
        self.learned = learned
        self.degraded = False
        self.window = max(settings.after / 2, (MIN_RECENT + 0.5) * interval)
        self.hold = max(settings.after, 2 * self.window)
        # The recent probes' times and latencies: two arrays of floats, some 400 bytes for
        # the dozen a 30 s interval keeps (a deque of pairs took 2 KB: 20 MB at 10,000).
        self._at, self._latencies = array("d"), array("d")
        # The 95th percentile (nearest rank) of `recent`, None while it holds too few:
        # kept up to date here, so a scrape on another thread reads one float.
        self.p95: float | None = None
        self._weight = 1 - math.exp(-interval / TAU)
        self._since: float | None = None  # when the p95 last crossed the line it must hold

    @property
    def baseline(self) -> float | None:
        """The usual latency in seconds, once it can be trusted; None while warming up."""
        if self.settings.pinned is not None:
            return self.settings.pinned
        if self.learned is None or self.learned.samples < WARMUP:
            return None
        return self.learned.seconds

    @property
    def threshold(self) -> float | None:
        """Above this (sustained) is degraded: `factor` times the baseline, at least `floor`."""
        baseline = self.baseline
        return (
            None if baseline is None else max(self.settings.factor * baseline, self.settings.floor)
        )

    def observe(self, latency: float, now: float) -> Change | None:
        """One successful probe's latency, at `now` (any monotonic clock, in seconds): the
        change it completes, if any."""
        if not self.settings.enabled:
            return None
        self._at.append(now)
        self._latencies.append(latency)
        old = max(bisect_right(self._at, now - self.window), len(self._at) - _KEPT)
        if old > 0:
            del self._at[:old], self._latencies[:old]
        if len(self._latencies) >= MIN_RECENT:
            ordered = sorted(self._latencies)
            self.p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
        else:
            self.p95 = None
        threshold, p95 = self.threshold, self.p95
        if threshold is None or p95 is None:
            self._learn(latency)
            return None
        crossing = p95 <= HYSTERESIS * threshold if self.degraded else p95 > threshold
        if not crossing:
            self._since = None
            if not self.degraded and latency <= threshold:
                self._learn(latency)
            return None
        self._since = now if self._since is None else self._since
        if now - self._since < self.hold:
            return None
        self.degraded, self._since = not self.degraded, None
        return Change.DEGRADED if self.degraded else Change.RECOVERED

    def _learn(self, latency: float) -> None:
        if self.settings.pinned is not None:
            return
        value = math.log(max(latency, 1e-6))
        if self.learned is None:
            self.learned = Baseline(latency, 1)
            return
        samples = self.learned.samples + 1
        weight = 1 / samples if samples <= WARMUP else self._weight  # warming: the plain mean
        mean = math.log(self.learned.seconds)
        self.learned = Baseline(math.exp(mean + weight * (value - mean)), samples)
