"""Slow but working (daemon/degraded.py), driven sample by sample with a plain-number clock:
the warm-up, the learned baseline, a sustained slowdown told once, a spike not told, the
hysteresis of the recovery, a slow ramp that does not drag the baseline along, a pinned
baseline, and the switch."""

from __future__ import annotations

import math

import pytest

from daemon.degraded import (
    HYSTERESIS,
    WARMUP,
    Baseline,
    Change,
    DegradedSettings,
    Detector,
)

INTERVAL = 30.0
SETTINGS = DegradedSettings(factor=3.0, floor=0.2, after=300.0)


class Feed:
    """A detector fed one probe every INTERVAL seconds."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.now, self.changes = detector, 0.0, []

    def run(self, latency: float, count: int = 1) -> list[tuple[float, Change]]:
        told = []
        for _ in range(count):
            self.now += INTERVAL
            change = self.detector.observe(latency, self.now)
            if change is not None:
                told.append((self.now, change))
        self.changes += told
        return told


def warmed(latency: float = 0.1) -> Feed:
    feed = Feed(Detector(SETTINGS, INTERVAL))
    feed.run(latency, WARMUP)
    return feed


def test_the_baseline_is_not_trusted_until_warm_and_is_a_geometric_mean() -> None:
    feed = Feed(Detector(SETTINGS, INTERVAL))
    for latency in (0.05, 0.2) * ((WARMUP - 2) // 2):
        assert feed.run(latency) == []
    assert feed.detector.baseline is None  # not warm yet: nothing is judged
    assert feed.run(5.0) == []  # however slow
    feed.run(0.1)
    assert feed.detector.learned is not None
    assert feed.detector.learned.samples == WARMUP
    assert feed.detector.baseline is not None
    assert 0.09 < feed.detector.baseline < 0.13  # the geometric mean, one 5 s probe in it


def test_a_sustained_slowdown_is_told_once_and_its_end_after_the_hysteresis() -> None:
    feed = warmed()
    assert feed.detector.threshold == pytest.approx(0.3)  # three times 100 ms, over the floor
    # The window is 165 s (five and a half probes, more than half of degraded_after), the
    # hold 330 s: over the line from the first slow probe on, told eleven probes later.
    assert (feed.detector.window, feed.detector.hold) == (165.0, 330.0)
    assert feed.run(0.5, 11) == []
    assert [change for _, change in feed.run(0.5)] == [Change.DEGRADED]
    assert feed.detector.degraded
    assert feed.detector.p95 == 0.5
    assert feed.run(0.5, 100) == []  # still slow: nothing new
    assert feed.run(0.27, 100) == []  # below the line, not below 0.8 of it: still degraded
    assert HYSTERESIS * 0.3 < 0.27
    told = feed.run(0.1, 40)
    assert [change for _, change in told] == [Change.RECOVERED]
    assert feed.detector.baseline is not None
    assert feed.detector.baseline < 0.11  # it learned nothing while slow


def test_a_spike_is_not_a_degradation() -> None:
    feed = warmed()
    feed.run(2.0, 5)  # two and a half minutes, less than half the hold: never told
    assert feed.detector.p95 == 2.0
    feed.run(0.1, 20)
    assert feed.changes == []
    feed.run(2.0, 7)  # a little longer is a slowdown, told when it has held 330 s
    feed.run(0.1, 5)
    assert [change for _, change in feed.changes] == [Change.DEGRADED]


def test_a_slow_ramp_is_caught_without_dragging_the_baseline_along() -> None:
    feed = warmed()
    steps = 240  # two hours, 100 ms to 1 s
    told = []
    for step in range(steps):
        told += feed.run(0.1 * math.exp(math.log(10) * step / steps))
    assert [change for _, change in told] == [Change.DEGRADED]
    assert feed.detector.baseline is not None
    assert feed.detector.baseline < 0.12


def test_a_pinned_baseline_judges_at_once_and_learns_nothing() -> None:
    pinned = Detector(DegradedSettings(floor=0.0, after=60.0, pinned=0.05), INTERVAL)
    feed = Feed(pinned)
    feed.run(0.05, 5)
    assert pinned.baseline == 0.05
    assert pinned.learned is None
    assert [change for _, change in feed.run(0.2, 12)] == [Change.DEGRADED]


def test_switched_off_it_never_tells_and_a_restored_baseline_is_warm() -> None:
    off = Feed(Detector(DegradedSettings(enabled=False), INTERVAL, Baseline(0.1, 500)))
    assert off.run(9.0, 100) == []
    restored = Detector(SETTINGS, INTERVAL, Baseline(0.1, WARMUP))
    assert restored.baseline == 0.1  # warm from the first probe after a restart
