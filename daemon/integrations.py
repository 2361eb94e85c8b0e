"""One configured integration at run time: adapter, breaker, statistics, last result."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from daemon.config import Config, HttpSettings, IntegrationConfig, VendorSettings
from daemon.degraded import Baseline, Detector
from daemon.metrics import ProbeStats, Row
from daemon.state import StateStore
from probes import Breaker, Result, RetryBudget
from probes.adapters import (
    Adapter,
    ClientOptions,
    HttpEndpointAdapter,
    VendorAdapter,
    adapter_class,
)
from probes.oauth import OAuthApp, RefreshingToken

__all__ = ["Integration", "build_adapter", "oauth_tokens"]

logger = logging.getLogger("breakerwatch")


def token_store(config: Config, integrations: Iterable[IntegrationConfig]) -> StateStore | None:
    """The state, opened, when one of `integrations` uses OAuth: a one-off command keeps a
    refresh token it rotated there, as the daemon does, and the daemon finds it there when
    its own is refused (`RefreshingToken`'s `stored`)."""
    if not any(isinstance(i.settings, VendorSettings) and i.settings.oauth for i in integrations):
        return None
    return StateStore.open(config.daemon.state_dir)


def oauth_tokens(
    config: IntegrationConfig, store: StateStore, clock: Callable[[], float]
) -> RefreshingToken | None:
    """The refreshing tokens of an integration with `oauth`, from the refresh token it last
    rotated to (kept in `store`, for as long as the configured one is the one it descends
    from), keeping each rotation there: the daemon and a one-off command share them."""
    settings = config.settings
    if not isinstance(settings, VendorSettings) or settings.oauth is None:
        return None
    oauth, name = settings.oauth, config.name
    configured = oauth.refresh_token.reveal()
    origin = hashlib.sha256(configured.encode()).hexdigest()
    secret = oauth.client_secret.reveal() if oauth.client_secret else None

    def rotated(token: str) -> None:
        try:
            store.save_refresh_token(name, origin, token)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot keep the rotated refresh token: %s", name, error)

    return RefreshingToken(
        OAuthApp(oauth.token_url, oauth.client_id, secret),
        store.refresh_token(name, origin) or configured,
        clock=clock, rotated=rotated, stored=lambda: store.refresh_token(name, origin),
    )  # fmt: skip


def build_adapter(
    config: IntegrationConfig,
    breaker: Breaker,
    options: ClientOptions,
    oauth: RefreshingToken | None = None,
) -> Adapter:
    """The adapter for `config`, with the probe's timeouts and the given breaker (and, for
    an integration with `oauth`, its refreshing tokens)."""
    common: ClientOptions = {
        **options,
        "breaker": breaker,
        "retry": config.retry,
        "budget": RetryBudget(clock=options.get("clock", time.monotonic)),
        "timeout": config.timeout,
        "deadline": config.deadline,
        "proxy": config.proxy_url(),
        "fresh_every": config.fresh_connection,
    }
    settings = config.settings
    if isinstance(settings, HttpSettings):
        return HttpEndpointAdapter(
            config.name, settings.url, method=settings.method,
            expect_status=settings.expect_status, headers=settings.headers, body=settings.body,
            assertions=settings.assertions, max_latency=settings.max_latency,
            tls_min_days=settings.tls_min_days, **common,
        )  # fmt: skip
    vendor = adapter_class(config.name, config.kind)
    assert issubclass(vendor, VendorAdapter)
    return vendor(config.name, settings.credential, oauth=oauth, base_url=settings.base_url,
                  **common)  # fmt: skip


class Integration:
    """What the daemon keeps per integration; the adapter does the talking."""

    __slots__ = (
        "_wall", "adapter", "breaker", "config", "last", "last_at", "latency", "row", "stats"
    )  # fmt: skip

    def __init__(
        self,
        config: IntegrationConfig,
        breaker: Breaker,
        options: ClientOptions,
        *,
        wall: Callable[[], float],
        stats: ProbeStats | None = None,
        learned: Baseline | None = None,
        degraded: bool = False,
        oauth: RefreshingToken | None = None,
    ) -> None:
        self.config = config
        self.breaker = breaker
        self.adapter = build_adapter(config, breaker, options, oauth)
        self.stats = stats or ProbeStats()
        # What an earlier run, or the integration's last version, learned and told.
        self.latency = Detector(config.degraded, config.interval, learned)
        self.latency.degraded = degraded
        self.row = Row(config.name, breaker, self.stats, self.latency)
        self._wall = wall
        self.last: Result | None = None
        self.last_at: float | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def probe(self) -> Result:
        """One health check, counted."""
        result = await self.adapter.health_check()
        now = self._wall()
        self.stats.observe(result, now)
        metrics = self.adapter.metrics()
        self.stats.rate_limit_remaining = metrics.rate_limit_remaining
        if isinstance(self.adapter, HttpEndpointAdapter):
            self.stats.tls_expiry = self.adapter.tls_not_after
        self.last, self.last_at = replace(result, response=None), now  # not 10,000 bodies
        return result

    def status(self) -> dict[str, Any]:
        """The integration as `/api/v1/status` shows it (nothing secret: details are redacted)."""
        breaker = self.breaker
        remaining = breaker.open_remaining
        last: dict[str, Any] | None = None
        if self.last is not None:
            outcome = self.last.outcome
            last = {
                "at": self.last_at,
                "outcome": outcome.kind.value,
                "reason": outcome.reason.value if outcome.reason else None,
                "status": outcome.status,
                "latency": round(self.last.duration, 6),
                "attempts": self.last.attempts,
                "error": outcome.error,
                "detail": outcome.detail,
            }
        return {
            "name": self.name,
            "kind": self.config.kind,
            "state": breaker.state.value,
            "since": breaker.since,
            "opened_at": breaker.opened_at,
            "open_until": None if remaining is None else self._wall() + remaining,
            "consecutive_failures": breaker.consecutive_failures,
            "failure_rate": breaker.failure_rate,
            "trip_streak": breaker.trip_streak,
            "interval": self.config.interval,
            "rate_limit_remaining": self.stats.rate_limit_remaining,
            "last_probe": last,
            "latency": {
                "baseline": self.latency.baseline,
                "learned_from": self.latency.learned.samples if self.latency.learned else 0,
                "pinned": self.config.degraded.pinned is not None,
                "p95": self.latency.p95,
                "threshold": self.latency.threshold,
                "degraded": self.latency.degraded,
            },
        }

    async def aclose(self) -> None:
        await self.adapter.aclose()
