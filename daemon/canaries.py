"""Canary writes: each integration with `canary` runs its vendor's idempotent write with a
dedicated identity and reads it back (`VendorAdapter.canary`), every `interval`, the first
soon after start-up.

The writes go through an adapter of their own (the integration's settings, proxy, trust and
OAuth tokens, but another breaker for its requests), so a write outage never opens the read
breaker nor the other way round. Each run counts on the canary's own breaker
(`FAILURES` consecutive failed runs open it); when it opens while the integration's reads
succeed (its breaker closed), `changed(name, failure)` is told, and `changed(name, None)`
when a run succeeds again (after a restart too, so an incident left open is resolved). The
runs are a task of their own: probing never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daemon.integrations import Integration, build_adapter
from daemon.metrics import CanaryNumbers
from probes import (
    Breaker,
    BreakerConfig,
    BreakerOpen,
    Kind,
    Outcome,
    Reason,
    RequestFailed,
    State,
    Transition,
)
from probes.adapters import Adapter, CanaryWrite, ClientOptions, VendorAdapter

__all__ = ["FAILURES", "Canary", "CanaryWrites"]

logger = logging.getLogger("breakerwatch")

FAILURES = 2  # consecutive failed runs before the writes count as failing
_SUCCESS = Outcome(Kind.SUCCESS)


@dataclass
class Canary:
    """One integration's canary: its writer, its breaker, and how its runs went."""

    integration: Integration
    writer: Adapter
    breaker: Breaker
    next_at: float = 0.0
    runs: int = 0
    successes: int = 0
    failures: int = 0
    rejected: int = 0
    last_duration: float | None = None
    last_success_at: float | None = None
    last_error: str | None = None
    told: bool = False  # whether a run has ended since start-up


class CanaryWrites:
    """The canaries of `integrations()`, run when due (`run`, or `run_due`)."""

    def __init__(
        self,
        integrations: Callable[[], Iterable[Integration]],
        options: ClientOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        changed: Callable[[str, Outcome | None], None] = lambda name, failure: None,
    ) -> None:
        self.canaries: dict[str, Canary] = {}
        self._integrations = integrations
        self._options = options
        self._clock, self._wall = clock, wall
        self._changed = changed

    async def run(self, tick: float = 1.0) -> None:
        """Run the canaries that are due every `tick` seconds, until cancelled."""
        while True:
            await self.run_due()
            await asyncio.sleep(tick)

    async def run_due(self) -> None:
        now = self._clock()
        current = {i.name: i for i in self._integrations() if i.config.canary is not None}
        for name in self.canaries.keys() - current.keys():  # removed, or no canary now
            await self.canaries.pop(name).writer.aclose()
        due = []
        for name, integration in current.items():
            canary = self.canaries.get(name)
            if canary is None or canary.integration is not integration:  # new, or reloaded
                if canary is not None:
                    await canary.writer.aclose()
                canary = self.canaries[name] = self._canary(integration)
            if now >= canary.next_at:
                canary.next_at = math.inf  # in flight
                due.append(canary)
        await asyncio.gather(*(self._run(canary) for canary in due))

    def describe(self, name: str) -> dict[str, Any] | None:
        """What `/api/v1/status` says of `name`'s canary (None: it has none)."""
        canary = self.canaries.get(name)
        if canary is None:
            return None
        return {"state": canary.breaker.state.value, "runs": canary.runs,
                "failures": canary.failures, "last_duration": canary.last_duration,
                "last_success_at": canary.last_success_at,
                "last_error": canary.last_error}  # fmt: skip

    def numbers(self) -> dict[str, CanaryNumbers]:
        """Per integration with a canary: how its runs go, for /metrics."""
        return {
            name: CanaryNumbers(c.breaker.state, c.successes, c.failures, c.rejected,
                                c.last_duration, c.last_success_at)
            for name, c in self.canaries.items()
        }  # fmt: skip

    async def aclose(self) -> None:
        for canary in self.canaries.values():
            await canary.writer.aclose()

    def _canary(self, integration: Integration) -> Canary:
        config = integration.config
        adapter = integration.adapter
        oauth = adapter.oauth if isinstance(adapter, VendorAdapter) else None
        requests = Breaker(f"{config.name} writes", config.breaker, clock=self._clock,
                           wall=self._wall)  # fmt: skip
        writer = build_adapter(config, requests, self._options, oauth)
        told: list[Canary] = []  # the canary its breaker's transitions are about
        # Open until the next run at the latest, which is its trial.
        assert config.canary is not None
        opens = BreakerConfig(failure_threshold=FAILURES,
                              reset_timeout=min(config.canary.interval, 1800.0))  # fmt: skip
        runs = Breaker(f"{config.name} canary", opens, clock=self._clock, wall=self._wall,
                       listeners=[lambda event: self._transition(told[0], event)])  # fmt: skip
        told.append(Canary(integration, writer, runs))
        return told[0]

    async def _run(self, canary: Canary) -> None:
        name, settings = canary.integration.name, canary.integration.config.canary
        assert settings is not None
        assert isinstance(canary.writer, VendorAdapter)
        canary.next_at = self._clock() + settings.interval
        try:
            permit = canary.breaker.acquire()
        except BreakerOpen:
            canary.rejected += 1
            return
        marker = (
            f"breakerwatch canary {datetime.fromtimestamp(self._wall(), UTC):%Y-%m-%dT%H:%M:%SZ}"
        )
        write = CanaryWrite(settings.email, marker, settings.list_id, settings.form_id,
                            settings.tag_id)  # fmt: skip
        started = self._clock()
        try:
            await canary.writer.canary(write)
            outcome = _SUCCESS
        except RequestFailed as failed:
            outcome = failed.outcome
        except BreakerOpen as refused:  # its own requests' breaker: writes have been failing
            outcome = Outcome(Kind.FAILURE, Reason.CONNECT_ERROR, error="BreakerOpen",
                              detail=str(refused))  # fmt: skip
        except (KeyError, TypeError, ValueError) as odd:  # an answer not as the vendor documents
            said = f"the vendor's answer lacked what it documents ({odd})"
            outcome = Outcome(Kind.FAILURE, Reason.INVALID_RESPONSE, error=type(odd).__name__,
                              detail=said)  # fmt: skip
        except Exception:  # our own bug: logged, and counted against nobody
            logger.exception("%s: the canary run failed inside breakerwatch", name)
            outcome = Outcome(Kind.IGNORED, error="internal", detail="internal error")
        canary.last_duration = self._clock() - started
        canary.runs += 1
        first = not canary.told
        canary.told = True
        if outcome.ok:
            canary.successes += 1
            canary.last_success_at, canary.last_error = self._wall(), None
        elif outcome.kind is Kind.FAILURE:
            canary.failures += 1
            canary.last_error = outcome.detail or str(outcome.kind)
            logger.warning("%s: the canary write failed: %s", name, canary.last_error,
                           extra={"integration": name})  # fmt: skip
        canary.breaker.record(permit, outcome, canary.last_duration)
        if first and outcome.ok and canary.breaker.state is State.CLOSED:
            self._changed(name, None)  # resolves one left from before

    def _transition(self, canary: Canary, event: Transition) -> None:
        name = canary.integration.name
        if event.to_state is State.OPEN and event.from_state is State.CLOSED:
            if canary.integration.breaker.state is State.CLOSED:  # reads succeed: it is writes
                self._changed(name, event.last_failure or Outcome(Kind.FAILURE))
        elif event.to_state is State.CLOSED:
            self._changed(name, None)
