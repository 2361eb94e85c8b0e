"""The status page: server-rendered HTML, no script, pure (the daemon's data in, a page out).

`index` lists every integration with its state, since when, its last probe, the verdict
where one exists, and its availability over the last 24 hours, 7 and 30 days;
`integration` shows one with its breaker's settings, its last day's latency as an inline
SVG chart, and its incidents. Everything that came from outside (a vendor's error text, a
name, a verdict's words) is escaped where it is written (`_e`): it renders as text, never
as markup. `public` leaves out error texts, verdict details and the breaker's internals, so
the page can be shared. Light and dark follow `prefers-color-scheme`; the layout fits a
phone. It does not reload itself: a timed refresh takes the page away from someone reading
it with a screen reader (WCAG 2.2.1, which axe-core checks), so a reload is the reader's.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from alerts.messages import duration
from daemon.recent import BUCKET, Bucket
from probes.text import printable

__all__ = ["CSP", "LONGEST", "PAGE", "WINDOWS", "chart", "index", "integration", "missing"]

_CSS = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a;
  --line: #d0d7de; --bad: #cf222e; --warn: #9a6700; --good: #1a7f37; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3;
  --line: #30363d; --bad: #ff7b72; --warn: #d29922; --good: #3fb950; --accent: #58a6ff; } }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  margin: 0 auto; max-width: 72rem; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
p, .muted { color: var(--muted); } a { color: var(--accent); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.state { font-weight: 600; white-space: nowrap; }
.closed { color: var(--good); } .open, .forced_open, .disabled { color: var(--bad); }
.half_open { color: var(--warn); }
svg { width: 100%; height: auto; max-height: 16rem; }
svg .axis { stroke: var(--line); } svg text { fill: var(--muted); font-size: 11px; }
svg .mean { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .highest { fill: var(--accent); opacity: .45; } svg .failed { fill: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: var(--muted); }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
# The page needs nothing but its own inline style: no script, no frame, no form, no fetch.
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATES = {
    "closed": "closed: healthy",
    "open": "open: failing",
    "half_open": "half open: trying",
    "forced_open": "forced open by an operator",
    "disabled": "disabled by an operator",
}
_ENDED = {"recovered": "recovered", "reset": "reset by an operator", None: "going on"}
WINDOWS = (("24h", 86400.0), ("7d", 7 * 86400.0), ("30d", 30 * 86400.0))
PAGE = 200  # integrations on one page of `/`: what it costs stays bounded at any size
LONGEST = max(seconds for _, seconds in WINDOWS)  # the page's history reaches this far back


def _e(value: object) -> str:
    """Text made inert in HTML (and in an attribute), without control characters (a page
    fetched with curl reaches a terminal)."""
    return html.escape(printable(str(value)), quote=True)


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><main>{body}</main></body></html>\n"
    )


def _state(state: str) -> str:
    return f'<span class="state {_e(state)}">{_e(_STATES.get(state, state))}</span>'


def _link(name: str) -> str:
    return f'<a href="/integrations/{quote(name, safe="")}">{_e(name)}</a>'


def index(
    shown: Sequence[Mapping[str, Any]],
    availability: Mapping[str, Sequence[float | None]],
    now: float,
    *,
    public: bool,
    failing: int,
    total: int,
    page: int = 1,
    pages: int = 1,
) -> str:
    """The page at `/`: `shown` (one page of `total` integrations, the failing first), each
    with its state and availability; the summary counts them all."""
    summary = (f"{failing} of {total} integrations failing" if failing
               else f"all {total} integrations healthy")  # fmt: skip
    heads = ["Integration", "State", "Since", "Last probe"] + ([] if public else ["Verdict"])
    heads += [f"Available {label}" for label, _ in WINDOWS]
    rows = []
    for item in shown:
        last = item.get("last_probe") or {}
        probe = "-"
        if last.get("outcome") == "rejected":  # the open breaker held it back
            probe = "held back: breaker open"
        elif last:
            probe = f"{_e(last['outcome'])}, {last['latency'] * 1000:.0f} ms"
        cells = [_link(item["name"]), _state(item["state"]),
                 f'<td class="num">{_e(duration(now - item["since"]))} ago',
                 f'<td class="num">{probe}']  # fmt: skip
        if not public:
            verdict = item.get("verdict") or {}
            cells.append(_e(verdict.get("line", "")) if verdict else "")
        cells += [f'<td class="num">{_percent(a)}' for a in availability.get(item["name"], ())]
        rows.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}" for c in cells))
    table = _table(heads, rows, "Integrations")
    body = (f"<h1>breakerwatch</h1><p>{_e(summary)}; as of {_when(now)}. Availability counts "
            "the time each breaker was open on its own, as the monthly reports do.</p>"
            f"{table}{_pages(page, pages, total)}")  # fmt: skip
    return _page(f"breakerwatch: {summary}", body)


def _pages(page: int, pages: int, total: int) -> str:
    """Where this page is among them, and the way to the others."""
    if pages == 1:
        return ""
    first, last = (page - 1) * PAGE + 1, min(page * PAGE, total)
    links = []
    if page > 1:
        links.append(f'<a href="/?page={page - 1}" rel="prev">Previous</a>')
    if page < pages:
        links.append(f'<a href="/?page={page + 1}" rel="next">Next</a>')
    return (f'<nav aria-label="Pages"><p>Integrations {first:,} to {last:,} of {total:,}, '
            f"the failing first. {' · '.join(links)}</p></nav>")  # fmt: skip


def integration(
    item: Mapping[str, Any],
    found: Sequence[Mapping[str, Any]],
    buckets: Sequence[Bucket],
    availability: Sequence[float | None],
    settings: Mapping[str, str],
    now: float,
    *,
    public: bool,
    months: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The page at `/integrations/<name>`: one integration, its chart, its months against
    its SLA (`months`: reports as `/api/v1/report` gives them) and its incidents."""
    name = item["name"]
    since = f"since {_when(item['since'])} ({duration(now - item['since'])})"
    avail = ", ".join(
        f"{label} {_percent(a)}" for (label, _), a in zip(WINDOWS, availability, strict=False)
    )
    parts = [
        f'<p><a href="/">All integrations</a></p><h1>{_e(name)}</h1>',
        f"<p>{_state(item['state'])} {_e(since)}. Available: {_e(avail)}.</p>",
    ]
    last = item.get("last_probe") or {}
    if last and not public and last.get("detail"):
        parts.append(f"<p>Last probe: {_e(last['outcome'])}: {_e(last['detail'])}</p>")
    parts.append("<h2>Latency, the last 24 hours</h2>" + chart(buckets, now))
    if not public:
        rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in settings.items())
        parts.append(f"<h2>The breaker</h2><dl>{rows}</dl>")
    if months:
        zone = months[0]["timezone"]
        rows_m = []
        for month in months:
            sla, below = month["sla_percent"], month["below_sla"]
            skipped = month["not_counted_minutes"]
            rows_m.append(
                f'<tr><td class="num">{_e(month["month"])}'
                f'<td class="num">{month["availability_percent"]:.3f}%'
                f'<td class="num">{"-" if sla is None else _e(f"{sla:g}%")}'
                f"<td>{'-' if below is None else ('below' if below else 'met')}"
                f'<td class="num">{month["downtime_minutes"]:g} min'
                f"<td>maintenance {skipped['maintenance']:g} min, egress {skipped['egress']:g} "
                f"min, operators' holds {skipped['operator_holds']:g} min"
            )
        parts.append(f"<h2>Availability by month ({_e(zone)})</h2>")
        parts.append(_table(["Month", "Available", "SLA", "Contract", "Downtime", "Not counted"],
                            rows_m, f"Monthly availability of {name}"))  # fmt: skip
    heads = ["Started", "Ended", "Lasted", "Why", "How it ended"]
    rows_html = []
    for incident in reversed(found):
        why = incident["reason"] or incident["cause"]
        if not public and incident.get("detail"):
            why = f"{why}: {incident['detail']}"
        rows_html.append(
            f'<tr><td class="num">{_when(incident["started_at"])}'
            f'<td class="num">{_when(incident["ended_at"])}'
            f'<td class="num">{_e(duration(incident["duration_seconds"]))}'
            f"<td>{_e(why)}<td>{_e(_ENDED.get(incident['ended'], incident['ended']))}"
        )
    parts.append("<h2>Incidents, the last 30 days</h2>")
    parts.append(_table(heads, rows_html, f"Incidents of {name}") if rows_html else "<p>None.</p>")
    return _page(f"breakerwatch: {name}", "".join(parts))


def missing(name: str) -> str:
    body = f'<h1>Not here</h1><p>No integration named {_e(name)}. <a href="/">All of them</a>.</p>'
    return _page("breakerwatch: not found", body)


def _table(heads: Sequence[str], rows: Sequence[str], caption: str) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in heads)
    return (
        f'<div class="scroll" tabindex="0" role="region" aria-label="{_e(caption)}">'
        f'<table><caption class="muted">{_e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def chart(buckets: Sequence[Bucket], now: float) -> str:
    """The mean latency of each 15 minutes as a line, the highest as bars behind it, and the
    failed probes as red marks along the bottom; an SVG with a title and a description."""
    width, height, left, bottom = 720, 200, 48, 24
    top = max((b.highest or 0.0 for b in buckets), default=0.0) or 1.0
    step = (width - left) / max(len(buckets), 1)

    def y(seconds: float) -> float:
        return height - bottom - (height - bottom - 8) * seconds / top

    bars, points, marks = [], [], []
    for n, bucket in enumerate(buckets):
        x = left + n * step
        if bucket.highest is not None:
            bars.append(
                f'<rect class="highest" x="{x:.1f}" y="{y(bucket.highest):.1f}" '
                f'width="{step * 0.8:.1f}" height="{height - bottom - y(bucket.highest):.1f}"/>'
            )
        if bucket.mean is not None:
            points.append(f"{x + step * 0.4:.1f},{y(bucket.mean):.1f}")
        if bucket.failed:
            marks.append(
                f'<rect class="failed" x="{x:.1f}" y="{height - bottom + 2}" '
                f'width="{step * 0.8:.1f}" height="6"/>'
            )
    probes = sum(b.probes for b in buckets)
    failed = sum(b.failed for b in buckets)
    means = [b.mean for b in buckets if b.mean is not None]
    said = (
        f"{probes} probes, {failed} failed; mean latency {sum(means) / len(means) * 1000:.0f}"
        f" ms, highest {top * 1000:.0f} ms"
        if means
        else "no probes in the last 24 hours"
    )
    line = f'<polyline class="mean" points="{" ".join(points)}"/>' if points else ""
    axis = (
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width}" '
        f'y2="{height - bottom}"/><text x="0" y="14">{top * 1000:.0f} ms</text>'
        f'<text x="0" y="{height - bottom}">0</text>'
        f'<text x="{left}" y="{height - 4}">24 hours ago</text>'
        f'<text x="{width - 30}" y="{height - 4}">now</text>'
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title '
        f'chart-desc"><title id="chart-title">Probe latency, 15-minute buckets</title>'
        f'<desc id="chart-desc">{_e(said)}</desc>{axis}{"".join(bars)}{line}'
        f'{"".join(marks)}</svg><p class="muted">{_e(said)}; each bar is the slowest probe '
        f"of {BUCKET / 60:.0f} minutes, the line their mean, red marks failed probes.</p>"
    )
