"""The verdict on an integration now: `alerts.verdict.judge` over what the daemon knows.

Its parents' breakers (`depends_on`) and the egress canaries', its vendor's status page as
last read (`daemon.vendor_pages`), and the breakers of the other integrations on the same
API host (the first `PEERS` of them). Reading them is a few dictionary lookups: a storm
of openings judges each one without slowing the transition that asks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from alerts.model import Verdict
from alerts.verdict import judge, line
from daemon.fleet import Fleet
from daemon.vendor_pages import PageReading, VendorPages
from probes import State

__all__ = ["Verdicts", "verdict_json"]

FAILING = (State.OPEN, State.HALF_OPEN)
PEERS = 100  # integrations on the same host looked at, at most


class Verdicts:
    """`of(name)`: the verdict on `name` as things stand; `refresh()` after the fleet changes."""

    def __init__(self, fleet: Fleet, pages: VendorPages) -> None:
        self._fleet = fleet
        self._pages = pages
        self._hosts: dict[str, list[str]] = {}  # API host -> the integrations on it
        self._canaries: list[str] = []
        self._children: Counter[str] = Counter()

    def refresh(self) -> None:
        """Index the fleet's integrations by API host, and find its egress canaries."""
        hosts: dict[str, list[str]] = {}
        for integration in self._fleet:
            hosts.setdefault(_host(integration.adapter.base_url), []).append(integration.name)
        self._hosts = hosts
        self._canaries = [i.name for i in self._fleet if i.config.egress]
        self._children = Counter(p for i in self._fleet for p in i.config.depends_on)

    def of(self, name: str, reason: str | None = None) -> Verdict | None:
        """The verdict on `name` (None: not probed here); `reason` is its last failure's,
        if the caller knows it better than the last probe does."""
        integration = self._fleet.get(name)
        if integration is None:
            return None
        if reason is None and integration.last is not None:
            outcome = integration.last.outcome
            reason = outcome.reason.value if outcome.reason else None
        failing = self._failing
        host = _host(integration.adapter.base_url)
        reading: PageReading | None = self._pages.readings.get(name)
        return judge(
            reason=reason,
            egress=integration.config.egress,
            failing_parents=[p for p in integration.config.parents if failing(p)],
            failing_canaries=[c for c in self._canaries if c != name and failing(c)],
            page=integration.config.status_page,
            vendor=reading.status if reading else None,
            problem=reading.problem if reading else "not read yet",
            host=host,
            peers=[(p, not failing(p)) for p in self._peers(host) if p != name],
            children=self._children[name],
        )

    def _peers(self, host: str) -> list[str]:
        return self._hosts.get(host, [])[: PEERS + 1]

    def _failing(self, name: str) -> bool:
        integration = self._fleet.get(name)
        return integration is not None and integration.breaker.state in FAILING


def verdict_json(verdict: Verdict | None) -> dict[str, Any] | None:
    """A verdict as /api/v1/status shows it."""
    if verdict is None:
        return None
    return {"kind": verdict.kind.value, "line": line(verdict), "detail": verdict.detail,
            "link": verdict.link, "since": verdict.since}  # fmt: skip


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""
