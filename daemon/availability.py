"""Availability per calendar month, against a vendor's contractual SLA: pure.

The method, so an operator can defend it to a vendor (docs/operations.md, "Availability
reports"): the month runs from midnight on its first day to midnight on the next month's
first day in the report's time zone (a DST change makes it an hour longer or shorter).
Downtime is the time the integration's breaker was open because the vendor failed our
probes: each incident its breaker opened on its own (a trip rule, not an operator's hold),
from the opening to the closing, trial probes included. Not counted, and each stated: the
parts of that time inside a maintenance window covering the integration; the parts while
one of our egress canaries was failing (our own network, not the vendor); and an operator's
holds. Availability is 1 - downtime / the month's length (up to now, for the month under
way); the month is below the contract when that is under `sla` percent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from daemon.history import Incident

__all__ = [
    "Report",
    "Span",
    "last_month",
    "month_bounds",
    "recent_months",
    "report",
]

Span = tuple[float, float]  # [start, end) in Unix seconds


def month_bounds(month: str, zone: str) -> Span:
    """[start, end) of `month` ("2026-11") in the time zone `zone`; ValueError if it is not
    a month."""
    try:
        first = datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValueError(f"{month[:20]!r} is not a month: give one as 2026-11") from None
    tz = ZoneInfo(zone)
    after = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first.replace(tzinfo=tz).timestamp(), after.replace(tzinfo=tz).timestamp()


def recent_months(now: float, zone: str, count: int) -> list[str]:
    """The month of `now` in `zone` and the `count - 1` before it, newest first ("2026-11")."""
    today = datetime.fromtimestamp(now, ZoneInfo(zone))
    index = today.year * 12 + today.month - 1
    return [f"{(index - n) // 12:04d}-{(index - n) % 12 + 1:02d}" for n in range(count)]


def last_month(now: float, zone: str) -> str:
    """The last full month before `now` in `zone`, as "2026-11"."""
    return recent_months(now, zone, 2)[1]


@dataclass(frozen=True, slots=True)
class Report:
    integration: str
    month: str
    timezone: str
    start: float
    end: float  # the month's end, or now for the month under way
    downtime: float  # seconds counted against the vendor
    maintenance: float  # seconds of outage inside maintenance windows: not counted
    egress: float  # seconds of outage while our egress canary failed: not counted
    held: float  # seconds an operator held the breaker: not counted
    incidents: int  # the vendor's incidents that overlap the month
    sla: float | None  # the contract, in percent

    @property
    def availability(self) -> float:
        length = self.end - self.start
        return 1.0 - self.downtime / length if length > 0 else 1.0

    @property
    def below(self) -> bool | None:
        """Whether the month fell below the contract (None without one)."""
        return None if self.sla is None else self.availability * 100 < self.sla

    def to_json(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "month": self.month,
            "timezone": self.timezone,
            "start": self.start,
            "end": self.end,
            "availability_percent": round(self.availability * 100, 4),
            "sla_percent": self.sla,
            "below_sla": self.below,
            "downtime_minutes": round(self.downtime / 60, 2),
            "not_counted_minutes": {
                "maintenance": round(self.maintenance / 60, 2),
                "egress": round(self.egress / 60, 2),
                "operator_holds": round(self.held / 60, 2),
            },
            "incidents": self.incidents,
        }


def report(
    integration: str,
    period: str,
    zone: str,
    start: float,
    end: float,
    found: Iterable[Incident],
    *,
    now: float,
    egress: Iterable[Incident] = (),
    maintenance: Iterable[Span] = (),
    sla: float | None = None,
) -> Report:
    """`integration`'s availability over [start, end) (a calendar month from `month_bounds`,
    or the status page's last 24 hours, 7 and 30 days), named `period`, from its incidents
    (`found`), its egress canaries' (`egress`) and the maintenance windows covering it."""
    end = min(end, max(now, start))
    ours = [i for i in found if i.integration == integration]
    outage = _clip(_merge(_spans(i for i in ours if i.cause != "manual")), start, end, now)
    held = _clip(_merge(_spans(i for i in ours if i.cause == "manual")), start, end, now)
    windows = _merge(maintenance)
    canaries = _clip(_merge(_spans(i for i in egress if i.cause != "manual")), start, end, now)
    outside = _subtract(outage, windows)
    counted = _subtract(outside, canaries)
    return Report(
        integration, period, zone, start, end,
        downtime=_measure(counted),
        maintenance=_measure(outage) - _measure(outside),
        egress=_measure(outside) - _measure(counted),
        held=_measure(held),
        incidents=sum(1 for i in ours if i.cause != "manual" and _overlaps(i, start, end)),
        sla=sla,
    )  # fmt: skip


def _spans(found: Iterable[Incident]) -> list[Span]:
    return [(i.started_at, i.ended_at if i.ended_at is not None else float("inf")) for i in found]


def _overlaps(incident: Incident, start: float, end: float) -> bool:
    return incident.started_at < end and (incident.ended_at is None or incident.ended_at > start)


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for begin, finish in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _clip(spans: Sequence[Span], start: float, end: float, now: float) -> list[Span]:
    end = min(end, now)
    return [(max(b, start), min(f, end)) for b, f in spans if b < end and f > start]


def _subtract(spans: Sequence[Span], cuts: Sequence[Span]) -> list[Span]:
    """`spans` without `cuts` (both merged, sorted)."""
    left: list[Span] = []
    for begin, finish in spans:
        for cut_begin, cut_end in cuts:
            if cut_end <= begin or cut_begin >= finish:
                continue
            if cut_begin > begin:
                left.append((begin, cut_begin))
            begin = max(begin, cut_end)
            if begin >= finish:
                break
        if begin < finish:
            left.append((begin, finish))
    return left


def _measure(spans: Iterable[Span]) -> float:
    return sum(finish - begin for begin, finish in spans)
