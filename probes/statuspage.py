"""A vendor's own status page, read: the summary of an Atlassian Statuspage page.

A Statuspage page publishes `GET /api/v2/summary.json` (each page documents it at its own
`/api`, for example https://confluence.status.atlassian.com/api): `status.indicator`
(none, minor, major, critical; maintenance while maintenance runs), every component with
its `status` (operational, degraded_performance, partial_outage, major_outage,
under_maintenance), and the unresolved incidents, each with `name`, `impact`, `status`,
`created_at`, `shortlink` and the `components` it affects.

`parse_summary` turns that body into a `VendorStatus`, narrowed, when asked, to the
components an integration uses: only the incidents that name one of them count, and the
indicator is the worst of those components' statuses and those incidents' impacts.
Everything the page says is vendor text: names are made printable and cut short here, and
a link that is not http(s) is dropped. Pure: the caller fetches the body.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from probes.text import clip, printable

__all__ = ["INDICATORS", "StatusPageError", "VendorIncident", "VendorStatus", "parse_summary"]

# Worst last; "unknown" is ours: the page could not be read.
INDICATORS = ("none", "maintenance", "minor", "major", "critical", "unknown")
_COMPONENT = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
_NAME = 200  # characters of a vendor's name for an incident or a component


class StatusPageError(ValueError):
    """The body is not a Statuspage summary (or lacks what was asked); says what, briefly."""


@dataclass(frozen=True, slots=True)
class VendorIncident:
    """One unresolved incident the vendor has posted."""

    name: str
    impact: str  # none, minor, major, critical, maintenance
    status: str  # investigating, identified, monitoring, ...
    created_at: float | None  # Unix time
    shortlink: str | None
    components: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VendorStatus:
    """What the vendor's page says: the indicator, its words for it, the components not
    operational (name, status), and the unresolved incidents."""

    indicator: str
    description: str
    degraded: tuple[tuple[str, str], ...] = ()
    incidents: tuple[VendorIncident, ...] = ()

    @property
    def confirms(self) -> bool:
        """Whether the vendor admits trouble: an unresolved incident or a component down."""
        return bool(self.incidents) or any(s != "under_maintenance" for _, s in self.degraded)


def parse_summary(body: bytes, components: Sequence[str] = ()) -> VendorStatus:
    """The status in a summary.json body; with `components`, only what concerns them."""
    try:
        document = json.loads(body)
        status = document["status"]
        listed = [_component(item) for item in document.get("components") or []]
        incidents = [_incident(item) for item in document.get("incidents") or []]
        indicator, description = str(status["indicator"]), _text(status.get("description", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StatusPageError(f"not a Statuspage summary ({type(error).__name__})") from None
    if indicator not in INDICATORS[:-1]:
        raise StatusPageError(f"an unknown status indicator {clip(printable(indicator), 40)!r}")
    if components:
        wanted = {name.casefold() for name in components}
        chosen = [(name, state) for name, state in listed if name.casefold() in wanted]
        missing = wanted - {name.casefold() for name, _ in chosen}
        if missing:
            raise StatusPageError(f"the page has no component named {sorted(missing)[0]!r}")
        listed = chosen
        incidents = [i for i in incidents if {c.casefold() for c in i.components} & wanted]
        levels = [_COMPONENT.get(s, "minor") for _, s in chosen]
        levels += [i.impact for i in incidents if i.impact in INDICATORS[:-1]]
        indicator = max(levels, key=INDICATORS.index)
        description = "components: " + ", ".join(f"{n} {s}" for n, s in chosen)
    degraded = tuple((name, state) for name, state in listed if state != "operational")
    return VendorStatus(indicator, description, degraded, tuple(incidents))


def _component(item: dict[str, Any]) -> tuple[str, str]:
    return _text(item["name"]), str(item["status"])


def _incident(item: dict[str, Any]) -> VendorIncident:
    link = item.get("shortlink")
    link = link if isinstance(link, str) and link.startswith(("https://", "http://")) else None
    return VendorIncident(
        name=_text(item["name"]),
        impact=str(item.get("impact", "none")),
        status=str(item.get("status", "")),
        created_at=_time(item.get("created_at")),
        shortlink=clip(printable(link), 300) if link else None,
        components=tuple(_text(c["name"]) for c in item.get("components") or []),
    )


def _text(value: object) -> str:
    return clip(printable(str(value)), _NAME)


def _time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
