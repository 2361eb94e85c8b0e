"""The incident history, derived from the breakers' transitions: pure.

An incident is the time a breaker was not closed: from the transition that left `closed`
to the one that came back to it. It started for a reason (the transition's `cause`: the
trip rule that opened it, or an operator's hold) and with the failure of that moment; it
went as far as `open`, or an operator's `forced_open` or `disabled`; its trial probes
failed `trials` times; it ended `recovered` (a trial succeeded) or `reset` (an operator
let go), or has not ended. `incidents` reads the transitions of one or more integrations
in the order they happened; a transition back to `closed` without its start (pruned by the
retention) is skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daemon.config.model import parse_duration
from probes.text import printable

__all__ = ["MAX_INCIDENTS", "Incident", "TransitionRow", "as_csv", "incidents", "moment"]

MAX_INCIDENTS = 10_000  # the most one answer holds: the newest, with `truncated`

# (integration, from_state, to_state, cause, at, reason, detail), as the state stores them
TransitionRow = tuple[str, str, str, str, float, str | None, str | None]
_DEPTH = {"open": 1, "forced_open": 2, "disabled": 3}  # how far an incident went
_CSV_FIELDS = ("integration", "started_at", "ended_at", "duration_seconds", "state", "cause",
               "reason", "detail", "trials", "ended")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Incident:
    integration: str
    started_at: float
    ended_at: float | None  # None: still going on
    cause: str  # what opened it: the trip rule ("consecutive_failures", ...) or "manual"
    reason: str | None  # the failure's reason then ("http_5xx", "timeout", ...)
    detail: str | None  # the failure's detail then (the vendor's words: text from outside)
    state: str  # how far it went: "open", "forced_open" or "disabled"
    trials: int  # trial probes that failed
    ended: str | None  # "recovered", "reset", or None while it goes on

    def duration(self, now: float) -> float:
        """Seconds it lasted, or has lasted until `now`."""
        return (self.ended_at if self.ended_at is not None else now) - self.started_at

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": round(self.duration(now), 3),
            "state": self.state,
            "cause": self.cause,
            "reason": self.reason,
            "detail": self.detail,
            "trials": self.trials,
            "ended": self.ended,
        }


def incidents(
    rows: Iterable[TransitionRow], *, since: float = float("-inf"), until: float = float("inf")
) -> list[Incident]:
    """The incidents in `rows` (in the order they happened) that overlap [since, until],
    oldest first."""
    found: list[Incident] = []
    going: dict[str, dict[str, Any]] = {}
    for integration, before, after, cause, at, reason, detail in rows:
        current = going.get(integration)
        if before == "closed" and after != "closed":
            going[integration] = {"integration": integration, "started_at": at, "cause": cause,
                                  "reason": reason, "detail": detail, "state": after,
                                  "trials": 0}  # fmt: skip
        elif current is None:
            continue  # its start was pruned, or it never left closed
        elif after == "closed":
            ended = "recovered" if cause == "trial_succeeded" else "reset"
            found.append(Incident(**current, ended_at=at, ended=ended))
            del going[integration]
        else:
            if _DEPTH.get(after, 0) > _DEPTH.get(current["state"], 0):
                current["state"] = after
            if before == "half_open" and after == "open":
                current["trials"] += 1
    found += [Incident(**current, ended_at=None, ended=None) for current in going.values()]
    overlapping = [
        incident for incident in found
        if incident.started_at <= until
        and (incident.ended_at is None or incident.ended_at >= since)
    ]  # fmt: skip
    return sorted(overlapping, key=lambda incident: (incident.started_at, incident.integration))


def moment(text: str, now: float) -> float:
    """A point in time, as the API and `breakerwatch history` take it: a duration before
    `now` ("7d", "12h"), an ISO 8601 date or time ("2026-11-01", "2026-11-01T08:00:00Z";
    UTC unless it says otherwise), or Unix seconds. ValueError, naming the forms, if not."""
    text = text.strip()
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else now - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{printable(text)[:40]!r} is not a time: give a duration before now (7d, 12h), "
            "an ISO 8601 date or time (2026-11-01, 2026-11-01T08:00:00Z) or Unix seconds"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def as_csv(found: Iterable[Incident], now: float) -> str:
    """RFC 4180 CSV, one incident a line, times in ISO 8601 UTC. Every cell is printable
    text, and one a spreadsheet would take for a formula (`=`, `+`, `-`, `@`) starts with
    an apostrophe: what a vendor wrote stays text (OWASP, "CSV Injection")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_FIELDS)
    for incident in found:
        data: Mapping[str, Any] = incident.to_json(now)
        writer.writerow(_cell(field, data[field]) for field in _CSV_FIELDS)
    return out.getvalue()


def _cell(field: str, value: Any) -> str:
    if value is None:
        return ""
    if field in ("started_at", "ended_at"):
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, int | float):
        return str(value)
    text = printable(str(value))
    return "'" + text if text.lstrip()[:1] in ("=", "+", "-", "@") else text
