"""Silences (ad hoc, from the CLI) and maintenance windows (recurring, from config). Pure.

A maintenance window is a local wall-clock interval in an IANA time zone, the way
Alertmanager's `time_intervals` are: `start = "02:00"`, `end = "04:00"`, on the given
`weekdays` and/or `days_of_month` (none: every day); an `end` at or before `start` runs
past midnight. Local wall-clock means a window across a daylight-saving change keeps its
local times: 02:00 to 04:00 lasts three hours on the night the clocks go back and one on
the night they go forward; a start inside the skipped hour moves forward by that hour, and a
time that happens twice means its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["ALL", "WEEKDAYS", "MaintenanceWindow", "Silence", "Silences"]

ALL = "*"  # an integration pattern matching every integration
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Silence:
    id: int
    integration: str  # a name, or ALL
    starts_at: float
    ends_at: float
    reason: str
    created_at: float
    created_by: str = "local"  # an admin token's label, a user, or "local"

    def active(self, integration: str, now: float) -> bool:
        return self.integration in (ALL, integration) and self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class MaintenanceWindow:
    integrations: frozenset[str]  # names, or {ALL}
    timezone: str
    start: time
    end: time
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    days_of_month: frozenset[int] = frozenset()
    reason: str = "maintenance window"

    def covers(self, integration: str) -> bool:
        return ALL in self.integrations or integration in self.integrations

    def _runs_on(self, day: date) -> bool:
        weekday_ok = not self.weekdays or day.weekday() in self.weekdays
        month_ok = not self.days_of_month or day.day in self.days_of_month
        return weekday_ok and month_ok

    def active(self, now: float) -> bool:
        """True if `now` (Unix time) falls in a window started today or yesterday (local)."""
        return any(begin <= now < finish for begin, finish in self.spans(now, now))

    def spans(self, since: float, until: float) -> list[tuple[float, float]]:
        """The windows (Unix times, [begin, finish)) that overlap [since, until], oldest
        first; each day's in its own local time, so a DST change moves them as it moves
        the clocks."""
        zone = ZoneInfo(self.timezone)
        day = datetime.fromtimestamp(since, zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(until, zone).date()
        found = []
        while day <= last:
            if self._runs_on(day):
                end_day = day if self.end > self.start else day + timedelta(days=1)
                begin = _instant(day, self.start, zone)
                finish = _instant(end_day, self.end, zone)
                if begin <= until and finish > since:
                    found.append((begin, finish))
            day += timedelta(days=1)
        return found


def _instant(day: date, at: time, zone: ZoneInfo) -> float:
    """Unix time of a local wall-clock time. A repeated time (clocks going back) is its first
    occurrence; a skipped one (clocks going forward) moves forward by the skipped amount."""
    return datetime.combine(day, at, tzinfo=zone).timestamp()


class Silences:
    """The silences and maintenance windows in force; `reason(name, now)` is the policy's view."""

    def __init__(self, silences: Iterable[Silence], windows: Iterable[MaintenanceWindow]) -> None:
        self.silences = tuple(silences)
        self.windows = tuple(windows)

    def reason(self, integration: str, now: float) -> str | None:
        for silence in self.silences:
            if silence.active(integration, now):
                return silence.reason
        for window in self.windows:
            if window.covers(integration) and window.active(now):
                return window.reason
        return None
