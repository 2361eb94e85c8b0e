"""Availability per calendar month against an SLA, checked against a month computed by
hand: November 2026 in New York, which has 30 days and one hour (the clocks go back at
2:00 on the 1st), with an outage crossing midnight, one begun in October, one partly in a
maintenance window, one partly while our egress canary failed, and an operator's hold."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.silences import MaintenanceWindow
from daemon.availability import (
    Report,
    last_month,
    month_bounds,
    recent_months,
    report,
)
from daemon.history import Incident
from daemon.page import integration
from daemon.status import format_report

NY = ZoneInfo("America/New_York")


def at(month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=NY).timestamp()


def outage(
    start: float, end: float | None, name: str = "hubspot", cause: str = "consecutive_failures"
) -> Incident:
    state = "forced_open" if cause == "manual" else "open"
    ended = None if end is None else ("reset" if cause == "manual" else "recovered")
    return Incident(name, start, end, cause, "http_5xx", None, state, 0, ended)


INCIDENTS = [
    outage(at(10, 31, 23), at(11, 1, 0, 30)),  # 30 min in November, 60 in October
    outage(at(11, 10, 23, 30), at(11, 11, 0, 45)),  # 75 min across midnight
    outage(at(11, 15, 1, 30), at(11, 15, 2, 30)),  # 30 min, then 30 in the Sunday window
    outage(at(11, 20, 10, 5), at(11, 20, 10, 25)),  # 5 min, then 15 while egress failed
    outage(at(11, 25, 9), at(11, 25, 10), cause="manual"),  # an operator's hold: 60 min
]
EGRESS = [outage(at(11, 20, 10), at(11, 20, 10, 20), name="egress")]
SUNDAYS = MaintenanceWindow(frozenset({"hubspot"}), "America/New_York", time(2), time(4),
                            frozenset({6}))  # fmt: skip
NOW = at(12, 15, 12)


def month(name: str, found: list[Incident], sla: float | None = None, **more: Any) -> Report:
    start, end = month_bounds(name, "America/New_York")
    return report("hubspot", name, "America/New_York", start, end, found, now=NOW, sla=sla,
                  **more)  # fmt: skip


def november(sla: float = 99.9) -> Report:
    start, end = month_bounds("2026-11", "America/New_York")
    return month("2026-11", INCIDENTS, sla, egress=EGRESS, maintenance=SUNDAYS.spans(start, end))


def test_the_hand_computed_month() -> None:
    start, end = month_bounds("2026-11", "America/New_York")
    assert end - start == (30 * 24 + 1) * 3600  # the hour the clocks went back
    windows = SUNDAYS.spans(start, end)
    assert len(windows) == 5  # Sundays 1, 8, 15, 22, 29
    assert windows[0][1] - windows[0][0] == 2 * 3600  # 02:00 EST: after 2:00 EDT became 1:00
    night = MaintenanceWindow(frozenset({"hubspot"}), "America/New_York", time(1), time(3))
    ((begin, finish),) = night.spans(start, start + 86400)  # the 1st: 01:00 comes twice
    assert finish - begin == 3 * 3600  # from the first 01:00 (EDT) to 03:00 EST
    counted = november()
    assert counted.downtime == (30 + 75 + 30 + 5) * 60
    assert counted.maintenance == 30 * 60
    assert counted.egress == 15 * 60
    assert counted.held == 60 * 60
    assert counted.incidents == 4
    assert counted.availability == pytest.approx(1 - 140 / 43260)
    assert counted.below is True  # 99.676% < 99.9%
    data = counted.to_json()
    assert data["availability_percent"] == 99.6764
    assert data["not_counted_minutes"] == {"maintenance": 30.0, "egress": 15.0,
                                           "operator_holds": 60.0}  # fmt: skip
    assert november(sla=99.5).below is False


def test_the_month_under_way_counts_to_now_and_an_open_incident_to_now() -> None:
    going = [outage(at(12, 15, 11), None)]
    counted = month("2026-12", going)
    assert counted.end == NOW
    assert counted.downtime == 3600
    assert counted.availability == pytest.approx(1 - 3600 / (NOW - at(12, 1, 0)))
    assert counted.below is None  # no contract


def test_a_month_in_utc_and_a_month_that_is_not_one() -> None:
    start, end = month_bounds("2026-12", "UTC")
    assert (end - start) / 86400 == 31
    assert datetime.fromtimestamp(end, ZoneInfo("UTC")).year == 2027
    with pytest.raises(ValueError, match="'November' is not a month: give one as 2026-11"):
        month_bounds("November", "UTC")


def test_the_report_table_says_the_month_the_figures_and_the_method() -> None:
    table = format_report({"month": "2026-11", "timezone": "America/New_York",
                           "reports": [november().to_json()]})  # fmt: skip
    assert table.splitlines() == [
        "2026-11 (America/New_York):",
        "",
        "INTEGRATION  AVAILABILITY  SLA    BELOW SLA  DOWNTIME  INCIDENTS  NOT COUNTED",
        "hubspot      99.676%       99.9%  YES        140 min   4          maintenance 30 min, "
        "egress 15 min, holds 60 min",
        "downtime: the breaker open on its own, opening to closing; not counted: inside "
        "maintenance windows, while an egress canary failed, operators' holds",
    ]


def test_recent_months_cross_the_year() -> None:
    january = datetime(2027, 1, 10, tzinfo=NY).timestamp()
    assert recent_months(january, "America/New_York", 3) == ["2027-01", "2026-12", "2026-11"]
    assert last_month(january, "America/New_York") == "2026-12"
    new_year_utc = datetime(2027, 1, 1, 2, tzinfo=ZoneInfo("UTC")).timestamp()
    assert recent_months(new_year_utc, "America/New_York", 1) == ["2026-12"]  # still 2026 there


def test_an_integrations_page_shows_its_months_against_the_sla() -> None:
    page = integration({"name": "hubspot", "state": "closed", "since": NOW - 60}, [], [], [],
                       {}, NOW, public=True, months=[november().to_json()])  # fmt: skip
    assert "Availability by month (America/New_York)" in page
    assert "99.676%" in page
    assert "<td>below" in page
    assert "maintenance 30 min, egress 15 min, operators' holds 60 min" in page
