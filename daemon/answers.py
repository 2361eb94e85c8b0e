"""What the HTTP endpoints are told (`daemon.server.Endpoints`), read from the daemon's
parts: the fleet, the alerts, the holds, the state. The plain methods run on the server's
thread (they only read); the coroutines, which change things, on the daemon's loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from prometheus_client import CollectorRegistry

from daemon.alerting import AlertRuntime
from daemon.availability import Report, last_month, month_bounds, recent_months, report
from daemon.canaries import CanaryWrites
from daemon.fleet import Fleet
from daemon.history import MAX_INCIDENTS, Incident, as_csv, incidents, moment
from daemon.holds import Holds
from daemon.integrations import Integration
from daemon.metrics import DaemonStats, HttpStats, render
from daemon.page import LONGEST, PAGE, WINDOWS, index, missing
from daemon.page import integration as integration_page
from daemon.scopes import ScopeChecks
from daemon.state import StateStore
from daemon.vendor_pages import VendorPages
from daemon.verdicts import FAILING, Verdicts, verdict_json
from probes import State

__all__ = ["Answers"]

MONTHS = 3  # months an integration's page shows against its SLA, this one included


@dataclass
class Answers:
    fleet: Fleet
    alerts: AlertRuntime
    holds: Holds
    store: StateStore
    stats: DaemonStats
    registry: CollectorRegistry  # the process, platform and build-info collectors
    health: Callable[[], tuple[bool, str]]
    ready: Callable[[], bool]
    local_failure: Callable[[str, str], None]
    trouble: Callable[[], str | None]  # what the daemon itself is short of, if anything
    wall: Callable[[], float]
    reload_config: Callable[[str], Awaitable[list[str]]]  # by whom; the problems, if any
    pages: VendorPages  # the vendors' status pages, as last read
    verdicts: Verdicts  # is it them or us, for the integrations failing now
    scopes: ScopeChecks  # what each credential may do, as last checked
    canaries: CanaryWrites  # the canary writes, and how they go
    report_zone: Callable[[], str] = lambda: "UTC"  # where a report's months begin and end
    page_mode: Callable[[], str] = lambda: "full"  # [daemon] status_page
    http: HttpStats | None = None  # the server's own numbers, once it exists

    def metrics(self, gzipped: bool = False) -> Iterator[bytes]:
        sinks = self.alerts.sink_stats() if self.alerts.on else None
        self.stats.state_persisted = 0 if self.store.unpersisted else 1
        return render(self.fleet.rows(), self.stats, self.registry, self.wall(), sinks, self.http,
                      self.pages.summary(), self.scopes.summary(), self.canaries.numbers(),
                      gzipped=gzipped)  # fmt: skip

    def status(self) -> dict[str, Any]:
        now = self.wall()
        integrations = [self._item(integration, now) for integration in self.fleet]
        alerts = {
            name: {
                "sent": stats.sent,
                "queued": stats.depth,
                "failures": dict(stats.failures),
                "exactly_once": stats.exactly_once,
            }
            for name, stats in self.alerts.sink_stats().items()
        }
        return {
            "version": version("breakerwatch"),
            "shard": str(self.fleet.shard),
            "summary": self.fleet.summary(),
            "state": {"path": str(self.store.path), "problem": self.store.unpersisted},
            "trouble": self.trouble(),
            "integrations": integrations,
            "alerts": alerts,
        }

    async def breaker_action(
        self, name: str, action: str, *, reason: str, by: str
    ) -> tuple[int, Any]:
        integration = self.fleet.get(name)
        if integration is None:
            return 404, {"error": f"no integration named {name!r}"}
        self.holds.act(integration, action, reason=reason, by=by)
        return 200, integration.status() | {"override": self.holds.of(integration)}

    async def silences(self, action: str, **arguments: Any) -> tuple[int, Any]:
        return await self.alerts.silences(action, **arguments)

    async def incidents(self, query: Mapping[str, str], *, csv: bool) -> tuple[int, Any]:
        """`GET /api/v1/incidents[.csv]?integration=&since=&until=`: the incidents from the
        transition history (`daemon.history`), the last 7 days unless asked; CSV as text."""
        now = self.wall()
        try:
            since = moment(query.get("since") or "7d", now)
            until = moment(query["until"], now) if query.get("until") else now
        except ValueError as error:
            return 400, {"error": f"since/until: {error}"}
        name = query.get("integration") or None
        names = None if name is None else [name]
        found = incidents(self.store.history(names, since, until), since=since, until=until)
        shown = found[-MAX_INCIDENTS:]
        if csv:
            return 200, as_csv(shown, now)
        return 200, {"since": since, "until": until, "truncated": len(shown) < len(found),
                     "incidents": [incident.to_json(now) for incident in shown]}  # fmt: skip

    async def report(self, query: Mapping[str, str]) -> tuple[int, Any]:
        """`GET /api/v1/report?month=2026-11&integration=`: each integration's availability
        that month against its `sla` (`daemon.availability`); the last full month unless
        asked."""
        now, zone = self.wall(), self.report_zone()
        month = query.get("month") or last_month(now, zone)
        try:
            start, end = month_bounds(month, zone)
        except ValueError as error:
            return 400, {"error": f"month: {error}"}
        name = query.get("integration") or None
        chosen = [i for i in self.fleet if name is None or i.name == name]
        if name is not None and not chosen:
            return 404, {"error": f"no integration named {name!r}"}
        reports = self._reports(chosen, month, zone, start, end, now)
        return 200, {"month": month, "timezone": zone, "start": start, "end": end,
                     "reports": [report.to_json() for report in reports]}  # fmt: skip

    def _item(self, integration: Integration, now: float) -> dict[str, Any]:
        """One integration as `/api/v1/status` shows it."""
        return integration.status() | {
            "silenced": self.alerts.silenced(integration.name, now),
            "override": self.holds.of(integration),
            "vendor": self.pages.describe(integration.name),
            "scopes": self.scopes.describe(integration.name),
            "canary": self.canaries.describe(integration.name),
            "verdict": verdict_json(self.verdicts.of(integration.name))
            if integration.breaker.state in FAILING else None,
        }  # fmt: skip

    def _reports(
        self,
        chosen: list[Integration],
        period: str,
        zone: str,
        start: float,
        end: float,
        now: float,
        found: list[Incident] | None = None,
    ) -> list[Report]:
        """Each of `chosen`'s availability over [start, end), as the reports count it, from
        `found` (the incidents of `chosen` and of the egress canaries, read if not given)."""
        canaries = [i.name for i in self.fleet if i.config.egress]
        if found is None:
            names = {i.name for i in chosen} | set(canaries)
            found = incidents(self.store.history(names, start, end), since=start, until=end)
        by_name: dict[str, list[Incident]] = {}
        for incident in found:
            by_name.setdefault(incident.integration, []).append(incident)
        theirs = [incident for name in canaries for incident in by_name.get(name, ())]
        reports = []
        for integration in chosen:
            config = integration.config
            windows = [span for window in self.alerts.windows if window.covers(config.name)
                       for span in window.spans(start, end)]  # fmt: skip
            reports.append(report(config.name, period, zone, start, end,
                                  by_name.get(config.name, []), now=now,
                                  egress=[] if config.egress else theirs,
                                  maintenance=windows, sla=config.sla))  # fmt: skip
        return reports

    def _recent(self, chosen: list[Integration], now: float) -> list[Incident]:
        """The incidents of `chosen` and of the egress canaries as far back as the page
        looks, from one read of the history."""
        names = {i.name for i in chosen} | {i.name for i in self.fleet if i.config.egress}
        rows = self.store.history(names, now - LONGEST, now)
        return incidents(rows, since=now - LONGEST, until=now)

    def _availability(
        self, chosen: list[Integration], now: float, found: list[Incident]
    ) -> dict[str, list[float]]:
        """The availability of each of `chosen` over the page's windows (24 h, 7 and 30 days),
        from `found` (`_recent`)."""
        shown: dict[str, list[float]] = {i.name: [] for i in chosen}
        for label, seconds in WINDOWS:
            for each in self._reports(chosen, label, "UTC", now - seconds, now, now, found):
                shown[each.integration].append(each.availability)
        return shown

    async def page(self, path: list[str], query: Mapping[str, str]) -> tuple[int, str]:
        """The status page (`daemon.page`): `/` (`?page=N`, `PAGE` integrations a page, the
        failing ones first), or `/integrations/<name>`."""
        now, public = self.wall(), self.page_mode() == "public"
        if not path:  # only the page's integrations are looked at closely
            ordered = sorted(self.fleet, key=lambda i: (i.breaker.state is State.CLOSED, i.name))
            failing = sum(1 for i in ordered if i.breaker.state is not State.CLOSED)
            pages = max(1, -(-len(ordered) // PAGE))
            number = int(query["page"]) if query.get("page", "").isdigit() else 1
            number = min(max(number, 1), pages)
            chosen = ordered[(number - 1) * PAGE : number * PAGE]
            availability = self._availability(chosen, now, self._recent(chosen, now))
            return 200, index([self._item(i, now) for i in chosen], availability, now,
                              public=public, failing=failing, total=len(ordered),
                              page=number, pages=pages)  # fmt: skip
        found = self.fleet.get(path[1]) if len(path) == 2 else None
        if found is None:
            return 404, missing(path[-1])
        item = self._item(found, now)
        recent = self._recent([found], now)
        history = [incident for incident in recent if incident.integration == found.name]
        breaker = found.config.breaker
        settings = {"failure threshold": str(breaker.failure_threshold),
                    "open for": f"{breaker.reset_timeout:g} s, x{breaker.backoff_multiplier:g} "
                                f"each trip in a row, at most {breaker.max_reset_timeout:g} s",
                    "probe interval": f"{found.config.interval:g} s",
                    "probe timeout": f"{found.config.timeout:g} s"}  # fmt: skip
        zone = self.report_zone()
        months = []
        for month in recent_months(now, zone, MONTHS):
            start, end = month_bounds(month, zone)
            months += [r.to_json() for r in self._reports([found], month, zone, start, end, now)]
        return 200, integration_page(
            item, [i.to_json(now) for i in history], found.stats.day.buckets(now),
            self._availability([found], now, recent)[found.name], settings, now, public=public,
            months=months,
        )  # fmt: skip

    async def reload(self, by: str) -> tuple[int, Any]:
        """`POST /-/reload`: 200 when the new configuration runs, else 500 (as Prometheus
        answers) with what is wrong in it; the old one keeps running."""
        problems = await self.reload_config(by)
        if problems:
            return 500, {"error": "the configuration was not reloaded", "problems": problems}
        return 200, {"reloaded": True, "summary": self.fleet.summary()}
