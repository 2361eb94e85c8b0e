"""The last day of one integration's probes, for the status page's chart: bounded memory.

96 buckets of 15 minutes, each with its probes' count, how many failed, and the sum and
the highest of their latencies; a bucket is cleared when the day moves past it. One
bytearray of 96 packed slots (10 bytes each): 1.1 KB per integration with its headers
(measured, `tests/daemon/test_page.py`), whatever the probe interval; 11 MB for 10,000
integrations. Written on the event loop, read by the page on the server's thread: a slot is
packed in one call, so a read sees a bucket a probe early or late, never half a probe.
"""

from __future__ import annotations

import struct
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


# probes (at most 900 a bucket: 1 s), failed, the latencies' total (float32), the highest
# (a half float: 3 significant digits, up to 65,504 s, where a probe takes at most minutes)
_SLOT = struct.Struct("=HHfe")
_ZERO = bytes(_SLOT.size)
_EMPTY = (0, 0, 0.0, 0.0)


class LatencyDay:
    __slots__ = ("_data", "_last")

    def __init__(self) -> None:
        self._data = bytearray(_SLOT.size * BUCKETS)
        self._last = 0  # the newest bucket written: which 15 minutes since 1970

    def observe(self, at: float, seconds: float, *, ok: bool) -> None:
        """One probe that finished at `at` (Unix time), taking `seconds`."""
        index = int(at // BUCKET)
        if not self._last - BUCKETS < index <= self._last:
            self._advance(index)
        offset = index % BUCKETS * _SLOT.size
        probes, failed, total, highest = _SLOT.unpack_from(self._data, offset)
        _SLOT.pack_into(self._data, offset, min(probes + 1, 65535),
                        failed if ok else min(failed + 1, 65535),
                        total + seconds, max(highest, seconds))  # fmt: skip

    def _advance(self, index: int) -> None:
        """Bucket `index` is the newest now: clear the slots the day has moved past (all of
        them after a gap of a day, or when the clock went back further than the day holds)."""
        gap = index - self._last
        if 0 < gap < BUCKETS:
            for passed in range(self._last + 1, index + 1):
                offset = passed % BUCKETS * _SLOT.size
                self._data[offset : offset + _SLOT.size] = _ZERO
        else:
            self._data[:] = bytes(len(self._data))
        self._last = index

    def buckets(self, now: float) -> list[Bucket]:
        """The last day's buckets, oldest first (one with no probes says so)."""
        last = int(now // BUCKET)
        found = []
        for index in range(last - BUCKETS + 1, last + 1):
            held = self._last - BUCKETS < index <= self._last
            probes, failed, total, highest = (
                _SLOT.unpack_from(self._data, index % BUCKETS * _SLOT.size) if held else _EMPTY
            )
            found.append(Bucket(index * BUCKET, probes, total / probes if probes else None,
                                float(highest) if probes else None, failed))  # fmt: skip
        return found
