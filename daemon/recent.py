"""The last day of one integration's probes, for the status page's chart: bounded memory.

96 buckets of 15 minutes, each with its probes' count, the sum and the highest of their
latencies, and how many failed; a bucket is reused once it is a day old. Five compact
arrays of 96 entries: 1,536 bytes of numbers per integration, 2.0 KB with the arrays' own
headers (measured, `tests/daemon/test_page.py`), whatever the probe interval; 20 MB for
10,000 integrations. Written on the
event loop, read by the page on the server's thread: a torn read shows one bucket a probe
early or late, never a wrong type.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

__all__ = ["BUCKET", "BUCKETS", "Bucket", "LatencyDay"]

BUCKET = 900.0  # seconds a bucket covers
BUCKETS = 96  # a day of them


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float  # Unix time
    probes: int
    mean: float | None  # seconds, over the probes that got an answer in time
    highest: float | None
    failed: int


class LatencyDay:
    __slots__ = ("_failed", "_highest", "_index", "_probes", "_total")

    def __init__(self) -> None:
        self._index = array("I", [0]) * BUCKETS  # which 15 minutes since 1970 the slot holds
        self._probes = array("H", [0]) * BUCKETS  # at most 900 a bucket (a 1 s interval)
        self._failed = array("H", [0]) * BUCKETS
        self._total = array("f", [0.0]) * BUCKETS
        self._highest = array("f", [0.0]) * BUCKETS

    def observe(self, at: float, seconds: float, *, ok: bool) -> None:
        """One probe that finished at `at` (Unix time), taking `seconds`."""
        index = int(at // BUCKET)
        slot = index % BUCKETS
        if self._index[slot] != index:
            self._index[slot] = index
            self._probes[slot] = self._failed[slot] = 0
            self._total[slot] = self._highest[slot] = 0.0
        self._probes[slot] = min(self._probes[slot] + 1, 65535)
        if not ok:
            self._failed[slot] = min(self._failed[slot] + 1, 65535)
        self._total[slot] += seconds
        self._highest[slot] = max(self._highest[slot], seconds)

    def buckets(self, now: float) -> list[Bucket]:
        """The last day's buckets, oldest first (one with no probes says so)."""
        last = int(now // BUCKET)
        found = []
        for index in range(last - BUCKETS + 1, last + 1):
            slot = index % BUCKETS
            held = self._index[slot] == index and self._probes[slot] > 0
            probes = self._probes[slot] if held else 0
            mean = self._total[slot] / probes if probes else None
            highest = float(self._highest[slot]) if probes else None
            found.append(Bucket(index * BUCKET, probes, mean, highest,
                                self._failed[slot] if held else 0))  # fmt: skip
        return found
