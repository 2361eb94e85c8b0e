"""Each integration's vendor status page (`status_page`), read on a schedule of its own.

Every `quiet` seconds while the integration's breaker is closed (`QUIET` unless configured),
every `watchful` (`WATCHFUL`) while it is open or trying. A page that several integrations
read is fetched once a round, and each reads it for its own components. When what a page
says about an integration changes (an incident posted or resolved, a component down or
back), `changed(name)` is told: the verdict of an alert about it may have changed; a page
that cannot be read changes nothing it said before. With `If-None-Match` (an unchanged
page is a 304, nothing to fetch), a 10 s timeout, a 1 MiB cap and a breaker of its own,
through the daemon's one HTTP client (its proxy and trust store). Probing never waits for
a page: the pages are read by a task of their own, and a dead page only makes its reading
`unknown`, saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from daemon.integrations import Integration
from probes import ResilientClient, RetryPolicy, State
from probes.statuspage import StatusPageError, VendorStatus, parse_summary

__all__ = ["CAP", "QUIET", "WATCHFUL", "PageReading", "VendorPages"]

QUIET = 300.0  # seconds between reads while all is well
WATCHFUL = 60.0  # while the integration's breaker is open
CAP = 1 << 20  # bytes of a summary, at most
SUMMARY = "/api/v2/summary.json"


@dataclass
class PageReading:
    """What one integration's page said last (narrowed to its components), or why it
    could not be read."""

    page: str
    components: tuple[str, ...]
    status: VendorStatus | None = None  # None exactly while `problem` says why
    problem: str | None = "not read yet"
    next_at: float = 0.0
    said: frozenset[str] | None = None  # the incidents and components down, as last read

    @property
    def indicator(self) -> str:
        return "unknown" if self.status is None else self.status.indicator


@dataclass
class _Page:
    """One status page, fetched once a round however many integrations read it."""

    client: ResilientClient = field(repr=False)
    body: bytes | None = None
    etag: str | None = None
    problem: str | None = None


class VendorPages:
    """The status pages of `integrations()`, read when due (`run`, or `read_due`)."""

    def __init__(
        self,
        integrations: Callable[[], Iterable[Integration]],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float],
        changed: Callable[[str], None] = lambda name: None,
        quiet: float = QUIET,
        watchful: float = WATCHFUL,
    ) -> None:
        self.quiet, self.watchful = quiet, watchful
        self.readings: dict[str, PageReading] = {}
        self._pages: dict[str, _Page] = {}
        self._integrations = integrations
        self._http = http
        self._clock = clock
        self._changed = changed

    async def run(self, tick: float = 5.0) -> None:
        """Read the pages that are due, every `tick` seconds (at most `watchful`), until
        cancelled."""
        while True:
            await self.read_due()
            await asyncio.sleep(min(tick, self.watchful))

    async def read_due(self) -> None:
        """Fetch each page that one of its integrations is due to read, once."""
        now = self._clock()
        current = {i.config.name: i for i in self._integrations() if i.config.status_page}
        for name in self.readings.keys() - current.keys():  # removed, or its page unset
            del self.readings[name]
        due: dict[str, list[tuple[Integration, PageReading]]] = {}
        for integration in current.values():
            reading = self._reading(integration)
            if now >= reading.next_at:
                due.setdefault(reading.page, []).append((integration, reading))
        for url in self._pages.keys() - {r.page for r in self.readings.values()}:
            del self._pages[url]
        await asyncio.gather(*(self._read(url, readers) for url, readers in due.items()))

    def summary(self) -> dict[str, tuple[str, int]]:
        """Per integration with a page: its indicator and its unresolved vendor incidents."""
        return {
            name: (r.indicator, len(r.status.incidents) if r.status else 0)
            for name, r in self.readings.items()
        }

    def describe(self, name: str) -> dict[str, Any] | None:
        """What `/api/v1/status` says of `name`'s status page (None: it has none)."""
        reading = self.readings.get(name)
        if reading is None:
            return None
        status = reading.status
        return {
            "page": reading.page,
            "indicator": reading.indicator,
            "problem": reading.problem,
            "degraded": [list(pair) for pair in status.degraded] if status else [],
            "incidents": [
                {"name": i.name, "impact": i.impact, "status": i.status,
                 "created_at": i.created_at, "link": i.shortlink}
                for i in (status.incidents if status else ())
            ],
        }  # fmt: skip

    def _reading(self, integration: Integration) -> PageReading:
        config = integration.config
        page, components = config.status_page or "", config.status_components
        reading = self.readings.get(config.name)
        if reading is None or (reading.page, reading.components) != (page, components):
            reading = self.readings[config.name] = PageReading(page, components)
        return reading

    def _page(self, url: str) -> _Page:
        if url not in self._pages:
            client = ResilientClient(
                f"status page {url}", base_url=url, http=self._http, timeout=10.0,
                deadline=12.0, retry=RetryPolicy(max_attempts=1), max_response_bytes=CAP,
                clock=self._clock,
            )  # fmt: skip
            self._pages[url] = _Page(client)
        return self._pages[url]

    async def _read(self, url: str, readers: list[tuple[Integration, PageReading]]) -> None:
        page = self._page(url)
        headers = {"If-None-Match": page.etag} if page.etag and page.body else {}
        result = await page.client.request("GET", SUMMARY, ok_status=(200, 304), headers=headers)
        response = result.response
        if not result.outcome.ok or response is None:
            page.problem = result.outcome.detail or str(result.outcome.kind)
        elif response.status_code == 200:
            page.body, page.etag, page.problem = (
                response.content,
                response.headers.get("etag"),
                None,
            )
        else:  # 304: the body we have is still the page
            page.problem = None
        for integration, reading in readers:
            reading.status, reading.problem = None, page.problem
            if page.problem is None and page.body is not None:
                try:
                    reading.status = parse_summary(page.body, reading.components)
                except StatusPageError as error:
                    reading.problem = str(error)
            trouble = integration.breaker.state in (State.OPEN, State.HALF_OPEN)
            reading.next_at = self._clock() + (self.watchful if trouble else self.quiet)
            self._compare(integration.name, reading)

    def _compare(self, name: str, reading: PageReading) -> None:
        """Tell `changed` when the page says something new about `name`: the first
        reading counts only when it admits trouble."""
        if reading.status is None:
            return
        said = frozenset(
            [f"incident {i.name}" for i in reading.status.incidents]
            + [f"component {n}" for n, s in reading.status.degraded if s != "under_maintenance"]
        )
        before, reading.said = reading.said, said
        if said != before and (before is not None or said):
            self._changed(name)
