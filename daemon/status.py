"""`breakerwatch status`: the daemon's /api/v1/status as a table (pure formatting)."""

from __future__ import annotations

from typing import Any

__all__ = ["ago", "format_table"]

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
    rows = [_COLUMNS]
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
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + f"\n\n{status['summary']}\n"
