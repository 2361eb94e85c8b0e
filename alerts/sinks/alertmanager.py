"""Prometheus Alertmanager: the ledger's alerts, POSTed to `/api/v2/alerts` of every
configured Alertmanager, each on its own (as Prometheus does: never a load balancer).

One task per Alertmanager sends the whole payload whenever the ledger changed, and again
every `resend_interval`. An Alertmanager that fails is retried with backoff (1 s doubling,
up to the re-send interval) while the others go on; since every send carries every alert,
the first send that gets through brings it up to date. Failures are logged when they start
and when they end, not at every retry, and counted by reason like any sink's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts.alertmanager import Ledger
from alerts.model import Facts
from alerts.sinks import TIMEOUT, FailureReason, SinkError, SinkStats, retry_after
from probes.http import new_client
from probes.outbound import Outbound
from probes.retry import capped_exponential
from probes.text import clip, printable

__all__ = ["AlertmanagerSink", "channel_name", "push"]

logger = logging.getLogger("breakerwatch.alerts")

TICK = 1.0


def channel_name(url: str) -> str:
    """`alertmanager HOST:PORT`: the `channel` label, without any credentials in the URL."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"alertmanager {parts.hostname}:{port}"


async def push(http: httpx.AsyncClient, url: str, alerts: list[dict[str, Any]]) -> None:
    """POST `alerts` to the Alertmanager at `url`; SinkError saying why it was not taken."""
    try:
        response = await http.post(url.rstrip("/") + "/api/v2/alerts", json=alerts)
    except httpx.TimeoutException:
        raise SinkError(FailureReason.NETWORK, "timed out") from None
    except httpx.HTTPError as error:
        raise SinkError(FailureReason.NETWORK, _network(error)) from None
    status = response.status_code
    if status < 300:
        return
    said = clip(printable(response.text).strip(), 200)
    reason = (
        FailureReason.AUTH if status in (401, 403)
        else FailureReason.RATE_LIMITED if status == 429
        else FailureReason.SERVER_ERROR if status >= 500
        else FailureReason.PAYLOAD
    )  # fmt: skip
    hint = retry_after(response.headers, time.time())
    raise SinkError(reason, f"HTTP {status}" + (f": {said}" if said else ""), hint)


@dataclass
class _Target:
    url: str
    name: str
    sent_version: int = -1
    sent_at: float = float("-inf")
    failures: int = 0
    retry_at: float = float("-inf")
    news: asyncio.Event = field(default_factory=asyncio.Event)  # the ledger changed


class AlertmanagerSink:
    """Keeps every configured Alertmanager told of the open incidents."""

    def __init__(
        self,
        urls: tuple[str, ...],
        ledger: Ledger,
        incidents: Callable[[], Mapping[str, Facts]],
        *,
        resend_interval: float,
        wall: Callable[[], float],
        timeout: float = TIMEOUT,
        outbound: Outbound | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.resend_interval = resend_interval
        self.targets = [_Target(url, channel_name(url)) for url in urls]
        self.stats = {target.name: SinkStats() for target in self.targets}
        self._incidents = incidents
        self._wall = wall
        self._http = new_client((outbound or Outbound.build()).transport(), timeout=timeout)
        self._http.headers.update(headers or {})  # basic auth or a bearer token
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the incidents now (the alert loop just decided)."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled; one task per Alertmanager, so a slow one holds up no other."""
        tasks = [asyncio.ensure_future(self._serve(target)) for target in self.targets]
        try:
            while True:
                self._wake.clear()
                version = self.ledger.version
                self.ledger.observe(self._incidents(), self._wall())
                for target in self.targets:
                    self.stats[target.name].depth = self._waiting(target)
                    if self.ledger.version != version:
                        target.news.set()
                await self._sleep(self._wake, TICK)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._http.aclose()

    async def _serve(self, target: _Target) -> None:
        while True:
            target.news.clear()
            now = self._wall()
            stale = target.sent_version != self.ledger.version
            if (stale or now - target.sent_at >= self.resend_interval) and now >= target.retry_at:
                await self._send(target)
            await self._sleep(target.news, TICK)

    async def _send(self, target: _Target) -> None:
        version, now = self.ledger.version, self._wall()
        stats = self.stats[target.name]
        try:
            await push(self._http, target.url, self.ledger.payload(now))
        except SinkError as error:
            stats.failed(error.reason)
            target.failures += 1
            backoff = capped_exponential(1.0, 2.0, target.failures - 1, self.resend_interval)
            target.retry_at = self._wall() + max(backoff, error.retry_after or 0.0)
            if target.failures == 1:
                logger.warning(
                    "%s: cannot deliver (%s); retrying: the first send that gets through "
                    "carries every alert", target.name, error,
                )  # fmt: skip
        else:
            if target.failures:
                logger.info("%s: delivering again after %d failures", target.name, target.failures)
            target.failures, target.retry_at = 0, float("-inf")
            target.sent_version, target.sent_at = version, now
            stats.sent += 1
        stats.depth = self._waiting(target)

    def _waiting(self, target: _Target) -> int:
        """Alerts this Alertmanager has not heard the latest of: all of them, or none."""
        return len(self.ledger) if target.sent_version != self.ledger.version else 0

    @staticmethod
    async def _sleep(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)


def _network(error: httpx.HTTPError) -> str:
    cause = error.__cause__ or error.__context__
    text = str(cause or error) or type(error).__name__
    return text.split("] ", 1)[-1][:200]
