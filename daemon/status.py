"""`breakerwatch status`: the daemon's /api/v1/status as a table (pure formatting).

Every cell is made printable (`probes.text.printable`): a vendor's error text, an
operator's reason and whatever a daemon at the other end sends reach a terminal here,
and a terminal obeys escape sequences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from probes.text import clip, printable

__all__ = ["ago", "format_history", "format_report", "format_silences", "format_table"]

_COLUMNS = ("INTEGRATION", "KIND", "STATE", "SINCE", "FAILURES", "LAST PROBE", "LATENCY",
            "NEXT TRIAL", "LAST ERROR")  # fmt: skip


def ago(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h, 2d."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def format_table(status: dict[str, Any], now: float) -> str:
    """The integrations as aligned columns, then the daemon's one-line summary."""
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for item in status["integrations"]:
        last = item.get("last_probe") or {}
        until = item.get("open_until")
        rows.append(
            (
                item["name"],
                item["kind"],
                item["state"],
                f"{ago(now - item['since'])} ago",
                str(item["consecutive_failures"]),
                f"{last['outcome']} {ago(now - last['at'])} ago" if last else "-",
                f"{last['latency'] * 1000:.0f}ms" if last else "-",
                f"in {ago(until - now)}" if until else "-",
                (last.get("detail") or "-") if last and last["outcome"] != "success" else "-",
            )
        )
    footer = [status["summary"]]
    trouble = status.get("trouble")
    if trouble:
        footer.append(f"IN TROUBLE: {trouble}; probes failing so are not counted against vendors")
    problem = (status.get("state") or {}).get("problem")
    if problem:
        footer.append(f"NOT PERSISTING: {problem}; the state is kept in memory")
    for item in status["integrations"]:
        held = item.get("override")
        if held:
            mode = "forced open" if held["mode"] == "forced_open" else held["mode"]
            footer.append(
                f"held: {item['name']} {mode} by {held['by']} {ago(now - held['at'])} ago: "
                f"{held['reason']}"
            )
    for item in status["integrations"]:
        if item.get("verdict"):
            footer.append(f"verdict: {item['name']}: {item['verdict']['line']}")
    for item in status["integrations"]:
        footer += _vendor(item["name"], item.get("vendor"), now)
    for item in status["integrations"]:
        latency = item.get("latency") or {}
        if latency.get("degraded") and latency.get("p95") and latency.get("baseline"):
            footer.append(f"slow but working: {item['name']}: p95 {latency['p95'] * 1000:.0f}ms, "
                          f"usually {latency['baseline'] * 1000:.0f}ms")  # fmt: skip
    for item in status["integrations"]:
        canary = item.get("canary") or {}
        if canary.get("state") in ("open", "half_open") and canary.get("last_error"):
            footer.append(f"writes failing: {item['name']}: {canary['last_error']}")
    for item in status["integrations"]:
        scopes = item.get("scopes") or {}
        if scopes.get("missing"):
            footer.append(f"scopes: {item['name']}: the credential lacks "
                          f"{', '.join(scopes['missing'])}; writes will be refused")  # fmt: skip
        elif scopes.get("problem") and scopes.get("missing") is None:
            footer.append(f"scopes: {item['name']}: not known: {scopes['problem']}")
    silenced = [i["name"] for i in status["integrations"] if i.get("silenced")]
    if silenced:
        footer.append(f"silenced: {', '.join(silenced)}")
    for sink, numbers in sorted((status.get("alerts") or {}).items()):
        once = {True: "; exactly once", False: "; at least once"}.get(numbers.get("exactly_once"))
        footer.append(f"alerts via {sink}: {numbers['sent']} sent, {numbers['queued']} waiting"
                      f"{once or ''}")  # fmt: skip
    return _columns(rows) + "\n" + "\n".join(printable(line) for line in footer) + "\n"


def _vendor(name: str, page: dict[str, Any] | None, now: float) -> list[str]:
    """What the vendor's status page says, when it says something is wrong (or is silent)."""
    if not page or page["indicator"] == "none":
        return []
    if page["problem"]:
        return [f"vendor: {name}'s status page could not be read: {page['problem']}"]
    lines = [f"vendor: {name}'s status page says {page['indicator']}"]
    for incident in page["incidents"]:
        since = f", {ago(now - incident['created_at'])} ago" if incident["created_at"] else ""
        link = f" {incident['link']}" if incident["link"] else ""
        lines.append(f"  {incident['name']} ({incident['impact']}, {incident['status']}"
                     f"{since}){link}")  # fmt: skip
    lines += [f"  {component}: {state}" for component, state in page["degraded"]]
    return lines


def format_silences(silences: list[dict[str, Any]], now: float) -> str:
    """The silences not yet over, as aligned columns."""
    if not silences:
        return "no silences\n"
    rows = [("ID", "INTEGRATION", "ENDS", "BY", "REASON")]
    for item in silences:
        ends = f"in {ago(item['ends_at'] - now)}" if item["ends_at"] > now else "ended"
        rows.append(
            (str(item["id"]), item["integration"], ends, item.get("by", "-"), item["reason"])
        )
    return _columns(rows)


def format_history(history: dict[str, Any], now: float) -> str:
    """`breakerwatch history`: one incident a line, oldest first (times in UTC)."""
    rows: list[tuple[str, ...]] = [("INTEGRATION", "STARTED (UTC)", "LASTED", "STATE", "WHY",
                                    "ENDED")]  # fmt: skip
    for item in history["incidents"]:
        started = datetime.fromtimestamp(item["started_at"], UTC).strftime("%Y-%m-%d %H:%M")
        why = item["reason"] or item["cause"]
        detail = f": {item['detail']}" if item.get("detail") else ""
        ended = item["ended"] or "going on"
        rows.append((item["integration"], started, ago(item["duration_seconds"]), item["state"],
                     clip(f"{why}{detail}", 60), ended))  # fmt: skip
    if len(rows) == 1:
        return "no incidents in that time\n"
    more = "(only the newest shown)\n" if history.get("truncated") else ""
    return _columns(rows) + more


def format_report(report: dict[str, Any]) -> str:
    """`breakerwatch report`: each integration's month against its SLA, then how it is
    counted."""
    rows: list[tuple[str, ...]] = [("INTEGRATION", "AVAILABILITY", "SLA", "BELOW SLA",
                                    "DOWNTIME", "INCIDENTS", "NOT COUNTED")]  # fmt: skip
    for item in report["reports"]:
        sla, below = item["sla_percent"], item["below_sla"]
        skipped = item["not_counted_minutes"]
        rows.append((item["integration"], f"{item['availability_percent']:.3f}%",
                     "-" if sla is None else f"{sla:g}%",
                     "-" if below is None else ("YES" if below else "no"),
                     f"{item['downtime_minutes']:g} min", str(item["incidents"]),
                     f"maintenance {skipped['maintenance']:g} min, egress {skipped['egress']:g}"
                     f" min, holds {skipped['operator_holds']:g} min"))  # fmt: skip
    title = f"{report['month']} ({report['timezone']}):"
    method = ("downtime: the breaker open on its own, opening to closing; not counted: inside "
              "maintenance windows, while an egress canary failed, operators' holds\n")  # fmt: skip
    return printable(title) + "\n\n" + _columns(rows) + method


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    """Aligned columns; the last one is not padded."""
    rows = [tuple(printable(str(cell)) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
