"""Maintenance windows in local wall-clock time, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

from alerts.model import AlertSettings, Event, EventKind, Failure, NoticeKind
from alerts.policy import Policy, PolicyState
from alerts.silences import ALL, MaintenanceWindow, Silence, Silences


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# Sundays 02:00 to 04:00 in Berlin. 2026-10-25: at 03:00 CEST the clocks go back to 02:00
# CET, so 02:00-04:00 local lasts three hours; 2026-03-29: at 02:00 CET they jump to 03:00
# CEST, so the window starts at the jump and lasts one hour.
BERLIN = MaintenanceWindow(frozenset({ALL}), "Europe/Berlin", time(2), time(4), frozenset({6}))


def test_window_on_an_ordinary_sunday() -> None:
    assert not BERLIN.active(utc(2026, 11, 1, 0, 59))  # 01:59 CET
    assert BERLIN.active(utc(2026, 11, 1, 1, 0))  # 02:00 CET
    assert BERLIN.active(utc(2026, 11, 1, 2, 59))
    assert not BERLIN.active(utc(2026, 11, 1, 3, 0))  # 04:00 CET
    assert not BERLIN.active(utc(2026, 11, 2, 1, 30))  # a Monday


def test_window_when_the_clocks_go_back_lasts_three_hours() -> None:
    assert not BERLIN.active(utc(2026, 10, 24, 23, 59))  # 01:59 CEST
    assert BERLIN.active(utc(2026, 10, 25, 0, 0))  # 02:00 CEST, the first 02:00
    assert BERLIN.active(utc(2026, 10, 25, 1, 30))  # 02:30 CET, the second time round
    assert BERLIN.active(utc(2026, 10, 25, 2, 59))  # 03:59 CET
    assert not BERLIN.active(utc(2026, 10, 25, 3, 0))  # 04:00 CET


def test_window_when_the_clocks_go_forward_lasts_one_hour() -> None:
    assert not BERLIN.active(utc(2026, 3, 29, 0, 59))  # 01:59 CET
    assert BERLIN.active(utc(2026, 3, 29, 1, 0))  # 03:00 CEST: 02:00 never happened
    assert BERLIN.active(utc(2026, 3, 29, 1, 59))
    assert not BERLIN.active(utc(2026, 3, 29, 2, 0))  # 04:00 CEST


def test_window_past_midnight_and_days_of_month() -> None:
    night = MaintenanceWindow(
        frozenset({"kit"}), "UTC", time(23), time(1), days_of_month=frozenset({1})
    )
    assert night.active(utc(2026, 12, 1, 23, 30))
    assert night.active(utc(2026, 12, 2, 0, 30))  # the window that began on the 1st
    assert not night.active(utc(2026, 12, 2, 23, 30))
    assert night.covers("kit")
    assert not night.covers("hubspot")


def test_silences_and_windows_answer_with_their_reason() -> None:
    ad_hoc = Silence(1, "hubspot", 100.0, 200.0, "token rotation", 100.0)
    book = Silences([ad_hoc], [BERLIN])
    assert book.reason("hubspot", 150.0) == "token rotation"
    assert book.reason("hubspot", 200.0) is None
    assert book.reason("kit", utc(2026, 11, 1, 1, 30)) == "maintenance window"


def test_an_outage_inside_a_window_across_the_dst_change_is_one_summary_at_its_end() -> None:
    book = Silences([], [BERLIN])
    policy, state = Policy(AlertSettings()), PolicyState()
    fail = Failure("http_5xx", 503, None, "HTTP 503")
    start, end = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30)  # 02:30 CEST .. 03:30 CET
    told = policy.step(state, [Event("kit", EventKind.OPENED, start, fail, 5)], start, book.reason)
    told += policy.step(state, [Event("kit", EventKind.CLOSED, end)], end, book.reason)
    told += policy.step(state, [], utc(2026, 10, 25, 2, 59), book.reason)  # 03:59 CET
    assert told == []
    (summary,) = policy.step(state, [], utc(2026, 10, 25, 3, 0), book.reason)
    assert summary.kind is NoticeKind.SILENCE_ENDED
    assert summary.count == 2
