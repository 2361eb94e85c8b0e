"""Each integration's vendor status page (`status_page`), read on a schedule of its own.

Every `QUIET` seconds while the integration's breaker is closed, every `WATCHFUL` while it
is open or trying; with `If-None-Match` (an unchanged page is a 304, nothing to parse), a
10 s timeout, a 1 MiB cap and a breaker of its own, through the daemon's one HTTP client
(its proxy and trust store). Probing never waits for a page: the pages are read by a task
of their own, and a dead page only makes its reading `unknown`, saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
    """What one integration's page said last, or why it could not be read."""

    page: str
    components: tuple[str, ...]
    client: ResilientClient = field(repr=False)
    status: VendorStatus | None = None
    problem: str | None = "not read yet"
    etag: str | None = None
    next_at: float = 0.0

    @property
    def indicator(self) -> str:
        return "unknown" if self.status is None or self.problem else self.status.indicator


class VendorPages:
    """The status pages of `integrations()`, read when due (`run`, or `read_due`)."""

    def __init__(
        self,
        integrations: Callable[[], Iterable[Integration]],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.readings: dict[str, PageReading] = {}
        self._integrations = integrations
        self._http = http
        self._clock = clock

    async def run(self, tick: float = 1.0) -> None:
        """Read the pages that are due, every `tick` seconds, until cancelled."""
        while True:
            await self.read_due()
            await asyncio.sleep(tick)

    async def read_due(self) -> None:
        now, due = self._clock(), []
        current = {i.config.name: i for i in self._integrations() if i.config.status_page}
        for name in self.readings.keys() - current.keys():  # removed, or its page unset
            del self.readings[name]
        for integration in current.values():
            reading = self._reading(integration)
            if now >= reading.next_at:
                due.append(self._read(integration, reading))
        await asyncio.gather(*due)

    def summary(self) -> dict[str, tuple[str, int]]:
        """Per integration with a page: its indicator and its unresolved vendor incidents."""
        return {
            name: (r.indicator, len(r.status.incidents) if r.status and not r.problem else 0)
            for name, r in self.readings.items()
        }

    def _reading(self, integration: Integration) -> PageReading:
        config = integration.config
        page, components = config.status_page or "", config.status_components
        reading = self.readings.get(config.name)
        if reading is None or (reading.page, reading.components) != (page, components):
            client = ResilientClient(
                f"{config.name} status page", base_url=page, http=self._http, timeout=10.0,
                deadline=12.0, retry=RetryPolicy(max_attempts=1), max_response_bytes=CAP,
                clock=self._clock,
            )  # fmt: skip
            reading = self.readings[config.name] = PageReading(page, components, client)
        return reading

    async def _read(self, integration: Integration, reading: PageReading) -> None:
        headers = {"If-None-Match": reading.etag} if reading.etag else {}
        result = await reading.client.request("GET", SUMMARY, ok_status=(200, 304),
                                              headers=headers)  # fmt: skip
        response = result.response
        if not result.outcome.ok or response is None:
            reading.problem = result.outcome.detail or str(result.outcome.kind)
        elif response.status_code == 304 and reading.status is not None:
            reading.problem = None
        else:
            try:
                reading.status = parse_summary(response.content, reading.components)
                reading.problem, reading.etag = None, response.headers.get("etag")
            except StatusPageError as error:
                reading.status, reading.problem, reading.etag = None, str(error), None
        trouble = integration.breaker.state in (State.OPEN, State.HALF_OPEN)
        reading.next_at = self._clock() + (WATCHFUL if trouble else QUIET)
