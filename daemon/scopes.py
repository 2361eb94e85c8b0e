"""What each integration's credential may do (`scopes`), asked of the vendor on a schedule.

At start-up, as soon as a reload rebuilds an integration (a new credential, new scopes),
and every `every` seconds after a check succeeded (`[daemon] scope_check_interval`, 1 h),
each integration with `scopes` to check (a vendor that can tell: HubSpot, SendGrid) asks
the vendor through its own adapter, so its proxy, trust store and breaker. When what the
credential lacks changes, the first check included, `changed(name, missing)` is told: the
alert policy opens, updates or ends the integration's scopes incident. A check that fails
(the vendor down, a credential refused) changes nothing it said before; it says why, and
is tried again after `RETRY` seconds. While the breaker is not closed nothing is asked (a
check must never take the permit of a trial probe); its outcome counts on the breaker like
any call with that credential. The checks run in a task of their own, at most
`CONCURRENT` at a time: probing never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from daemon.integrations import Integration
from probes import State
from probes.adapters import Adapter, Scopes, VendorAdapter

__all__ = ["CONCURRENT", "EVERY", "RETRY", "ScopeCheck", "ScopeChecks"]

logger = logging.getLogger("breakerwatch")

EVERY = 3600.0  # seconds between checks of one credential
RETRY = 60.0  # after a check that could not tell
CONCURRENT = 8  # checks in flight at once


@dataclass
class ScopeCheck:
    """One integration's credential, as last checked."""

    adapter: Adapter  # what was checked: a reload that builds another one checks at once
    needed: tuple[str, ...]
    missing: tuple[str, ...] | None = None  # None until a check could tell
    problem: str | None = None  # why the last check could not tell (None: it told, or none ran)
    checked_at: float | None = None  # wall clock of the last check that could tell
    next_at: float = 0.0


class ScopeChecks:
    """The scope checks of `integrations()`, run when due (`run`, or `check_due`)."""

    def __init__(
        self,
        integrations: Callable[[], Iterable[Integration]],
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        changed: Callable[[str, tuple[str, ...]], None] = lambda name, missing: None,
        every: float = EVERY,
    ) -> None:
        self.every = every
        self.checks: dict[str, ScopeCheck] = {}
        self._integrations = integrations
        self._clock, self._wall = clock, wall
        self._changed = changed
        self._slots = asyncio.Semaphore(CONCURRENT)

    async def run(self, tick: float = 5.0) -> None:
        """Check what is due every `tick` seconds, until cancelled."""
        while True:
            await self.check_due()
            await asyncio.sleep(tick)

    async def check_due(self) -> None:
        now = self._clock()
        current = {
            i.name: i
            for i in self._integrations()
            if i.config.scopes and isinstance(i.adapter, VendorAdapter)
        }
        for name in self.checks.keys() - current.keys():  # removed, or nothing left to check
            del self.checks[name]
        due = []
        for name, integration in current.items():
            check = self.checks.get(name)
            if check is None or check.adapter is not integration.adapter:
                check = ScopeCheck(integration.adapter, integration.config.scopes)
                self.checks[name] = check
            if now < check.next_at:
                continue
            if integration.breaker.state is not State.CLOSED:  # never take a trial's permit
                check.problem, check.next_at = (
                    "not asked while the breaker is not closed",
                    now + RETRY,
                )
                continue
            check.next_at = math.inf  # in flight: not due again until it is over
            due.append((integration, check))
        await asyncio.gather(*(self._check(integration, check) for integration, check in due))

    def summary(self) -> dict[str, int]:
        """Per integration whose check could tell: how many scopes its credential lacks."""
        return {name: len(c.missing) for name, c in self.checks.items() if c.missing is not None}

    def describe(self, name: str) -> dict[str, Any] | None:
        """What `/api/v1/status` says of `name`'s scopes (None: nothing is checked)."""
        check = self.checks.get(name)
        if check is None:
            return None
        return {
            "needed": list(check.needed),
            "missing": None if check.missing is None else list(check.missing),
            "checked_at": check.checked_at,
            "problem": check.problem,
        }

    async def _check(self, integration: Integration, check: ScopeCheck) -> None:
        adapter = integration.adapter
        assert isinstance(adapter, VendorAdapter)
        try:
            async with self._slots:
                scopes = await adapter.granted_scopes()
        except Exception:  # our own bug: logged, and the check tried again later
            logger.exception("%s: the scope check failed inside breakerwatch", integration.name)
            scopes = Scopes(None, "the check failed inside breakerwatch (see its log)")
        missing = scopes.missing(check.needed)
        if missing is None:
            check.problem, check.next_at = scopes.problem, self._clock() + min(RETRY, self.every)
            return
        told = check.checked_at is not None
        before, check.missing, check.problem = check.missing, missing, None
        check.checked_at, check.next_at = self._wall(), self._clock() + self.every
        if missing != before or not told:
            self._changed(integration.name, missing)
