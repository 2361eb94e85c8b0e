"""Operator holds on breakers: `breakerwatch breaker NAME force-open|disable|reset`.

A hold is loud: who set it and why is kept in the state beside the breaker's own snapshot
(so both survive a restart), logged, shown in the status, and told as an alert when it is
set, changed and let go (docs/operations.md, "Hold a breaker").
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from alerts.model import Event, EventKind, Override
from daemon.alerting import AlertRuntime
from daemon.integrations import Integration
from daemon.state import StateStore
from probes import State

__all__ = ["ACTIONS", "Holds"]

logger = logging.getLogger("breakerwatch")

ACTIONS = ("force-open", "disable", "reset")
_MODES = {State.FORCED_OPEN: "forced_open", State.DISABLED: "disabled"}


class Holds:
    """Who holds which breaker, why, and since when."""

    def __init__(
        self,
        store: StateStore,
        alerts: AlertRuntime,
        persist: Callable[[Integration], None],
        *,
        wall: Callable[[], float],
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._persist = persist
        self._wall = wall
        self._held: dict[str, tuple[Override, float]] = store.overrides()

    def act(self, integration: Integration, action: str, *, reason: str, by: str) -> None:
        """Carry out `action` (one of ACTIONS) on the integration's breaker, as `by` for
        `reason`: saved, logged, and told when a hold begins, changes or ends."""
        name, breaker = integration.name, integration.breaker
        was = self._held.get(name) if breaker.state in _MODES else None
        {"force-open": breaker.force_open, "disable": breaker.disable, "reset": breaker.reset}[
            action
        ]()
        self._persist(integration)  # also when nothing changed state (a reset of closed)
        now = self._wall()
        mode = _MODES.get(breaker.state)
        if mode is not None:
            held = Override(mode, by, reason)
            if was is None or was[0] != held:
                self._save(name, (held, now))
                logger.warning("%s: breaker %s by %s: %s", name, mode, by, reason)
                self._alerts.queue(
                    Event(name, EventKind.OVERRIDDEN, now, cause=mode, override=held)
                )
        elif was is not None:
            self._save(name, None)
            said = f": {reason}" if reason else ""
            logger.info("%s: breaker reset by %s (it was %s by %s)%s", name, by, was[0].mode,
                        was[0].by, said)  # fmt: skip
            ended = Override(was[0].mode, by, reason)
            self._alerts.queue(Event(name, EventKind.OVERRIDE_ENDED, now, override=ended))
        else:
            logger.info("%s: breaker reset by %s%s", name, by, f": {reason}" if reason else "")

    def of(self, integration: Integration) -> dict[str, Any] | None:
        """The hold on the integration's breaker, as the status shows it, or None."""
        held = self._held.get(integration.name)
        if held is None or integration.breaker.state not in _MODES:
            return None
        return {"mode": held[0].mode, "by": held[0].by, "reason": held[0].reason, "at": held[1]}

    def _save(self, name: str, held: tuple[Override, float] | None) -> None:
        if held is None:
            self._held.pop(name, None)
        else:
            self._held[name] = held
        try:
            self._store.save_override(name, held[0] if held else None, held[1] if held else 0.0)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist who holds the breaker: %s", name, error)
