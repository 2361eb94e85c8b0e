"""The status page's HTML (pure) and the last day's latency it charts (bounded memory)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import tracemalloc
from typing import Any

from daemon.page import CSP, PAGE, chart, index, integration, missing
from daemon.recent import BUCKET, BUCKETS, LatencyDay

NOW = 1_790_000_000.0
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\x1b[31m'


def item(name: str = "kit", state: str = "open", detail: str = EVIL) -> dict[str, Any]:
    return {"name": name, "kind": "kit", "state": state, "since": NOW - 600,
            "last_probe": {"outcome": "failure", "latency": 0.25, "detail": detail},
            "verdict": {"line": f"Only us so far: {EVIL}"}}  # fmt: skip


INCIDENT = {"started_at": NOW - 600, "ended_at": None, "duration_seconds": 600.0,
            "reason": "http_5xx", "cause": "consecutive_failures", "detail": EVIL,
            "ended": None}  # fmt: skip


def tags(page: str) -> set[str]:
    return set(re.findall(r"<([a-z][a-z0-9]*)", page))


def test_what_came_from_outside_is_text_never_markup() -> None:
    front = index([item(EVIL)], {EVIL: [0.999, 1.0, None]}, NOW, public=False, failing=1,
                  total=1)  # fmt: skip
    page = integration(item(), [INCIDENT], LatencyDay().buckets(NOW), [1.0], {"k": EVIL}, NOW,
                       public=False)  # fmt: skip
    for text in (front, page, missing(EVIL)):
        assert "<script" not in text
        assert "<img" not in text
        assert "\x1b" not in text
        assert tags(text) <= {"html", "head", "meta", "title", "style", "body", "main", "h1",
                              "h2", "p", "a", "span", "div", "table", "caption", "thead",
                              "tbody", "tr", "th", "td", "svg", "line", "text", "desc", "rect",
                              "polyline", "dl", "dt", "dd", "nav"}  # fmt: skip
    assert html.escape("<script>alert(1)</script>") in page
    assert 'href="/integrations/%3Cscript%3Ealert%281%29' in front  # a name in a URL, quoted
    assert "99.900%" in front
    assert '<td class="num">-' in front  # no data for 30 days yet


def test_public_leaves_out_the_words_of_failures_verdicts_and_settings() -> None:
    front = index([item()], {}, NOW, public=True, failing=1, total=1)
    page = integration(item(), [INCIDENT], [], [], {"failure threshold": "5"}, NOW, public=True)
    for text in (front, page):
        assert "alert(1)" not in text
        assert "Only us so far" not in text
        assert "failure threshold" not in text
    assert "http_5xx" in page  # the kind of failure stays
    assert "open: failing" in front


def test_a_long_list_is_paged_the_failing_first() -> None:
    items = [item(f"i{n:03d}", "closed") for n in range(PAGE + 50)]
    second = index(items[PAGE:], {}, NOW, public=False, failing=0, total=len(items), page=2,
                   pages=2)  # fmt: skip
    assert "Integrations 201 to 250 of 250, the failing first." in second
    assert '<a href="/?page=1" rel="prev">Previous</a>' in second
    assert 'rel="next"' not in second
    assert second.count("<tr><td><a") == 50
    assert "all 250 integrations healthy" in second  # the summary counts them all
    single = index(items[:3], {}, NOW, public=False, failing=0, total=3)
    assert "<nav" not in single


def test_the_style_is_the_one_the_policy_allows() -> None:
    page = missing("x")
    style = re.search(r"<style>(.*)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CSP
    assert "script-src" not in CSP  # default-src 'none': no script at all


def test_the_chart_draws_the_mean_the_highest_and_the_failures() -> None:
    day = LatencyDay()
    day.observe(NOW - 3600, 0.2, ok=True)
    day.observe(NOW - 3600, 0.4, ok=True)
    day.observe(NOW - 60, 1.0, ok=False)
    svg = chart(day.buckets(NOW), NOW)
    assert svg.count('class="highest"') == 2
    assert svg.count('class="failed"') == 1
    assert "3 probes, 1 failed; mean latency 650 ms, highest 1000 ms" in svg
    assert "no probes in the last 24 hours" in chart(LatencyDay().buckets(NOW), NOW)


def test_a_bucket_a_day_old_is_reused() -> None:
    day = LatencyDay()
    day.observe(NOW - 86400, 5.0, ok=False)  # a day ago: the slot of now
    day.observe(NOW, 0.1, ok=True)
    buckets = day.buckets(NOW)
    assert len(buckets) == BUCKETS
    assert buckets[-1].probes == 1
    assert buckets[-1].failed == 0
    assert buckets[-1].highest is not None
    assert abs(buckets[-1].highest - 0.1) < 1e-4  # a half float: 3 significant digits
    assert sum(b.probes for b in buckets) == 1
    assert buckets[0].start == (int(NOW // BUCKET) - BUCKETS + 1) * BUCKET


def test_a_late_probe_lands_in_its_own_bucket_and_a_clock_stepped_back_a_day_starts_over() -> None:
    day = LatencyDay()
    day.observe(NOW, 0.1, ok=True)
    day.observe(NOW - 7200, 0.3, ok=False)  # finished two hours back (read late): its bucket
    buckets = day.buckets(NOW)
    assert [b.probes for b in buckets].count(1) == 2
    assert buckets[-9].failed == 1
    assert buckets[-1].failed == 0
    day.observe(NOW - 2 * 86400, 0.2, ok=True)  # the wall clock went back two days
    assert sum(b.probes for b in day.buckets(NOW)) == 0
    assert sum(b.probes for b in day.buckets(NOW - 2 * 86400)) == 1


def test_a_day_of_latency_costs_1_1_kilobytes_an_integration() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        days = [LatencyDay() for _ in range(1000)]
        for n, day in enumerate(days):
            for minute in range(0, 1440, 5):  # a full day of probes
                day.observe(NOW - minute * 60, 0.1 * (n % 7), ok=True)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown / len(days) <= 1150  # bytes: docs/operations.md says 1.1 KB
