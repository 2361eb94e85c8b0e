"""A state file, an alerter over it and a wall clock the test moves: the outbox and the
sender as the daemon runs them, without the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from alerts.engine import Alerter
from alerts.model import AlertSettings, Event, EventKind, Failure
from alerts.outbox import Outbox, add_event
from alerts.policy import Policy
from alerts.sinks import Sink
from daemon.state import StateStore

__all__ = ["FAIL", "TOKEN", "World"]

TOKEN = "xoxb-test-token"
FAIL = Failure("http_5xx", 503, "HTTPStatusError", "HTTP 503 Service Unavailable")


class World:
    """A state file, an alerter over it, and a wall clock the test moves."""

    def __init__(self, directory: Path, sinks: list[Sink], **settings: object) -> None:
        self.now = 1_790_000_000.0
        self.directory = directory
        self.sinks = sinks
        self.settings = AlertSettings(**settings)  # type: ignore[arg-type]
        self.open()

    def open(self) -> None:
        self.store = StateStore.open(self.directory)
        self.outbox = Outbox(self.store)
        self.alerter = Alerter(
            self.outbox, self.sinks, Policy(self.settings), lambda name, now: None,
            wall=lambda: self.now,
        )  # fmt: skip

    def restart(self, sinks: list[Sink] | None = None) -> None:
        """Close and open the state again, as a new process would (with new `sinks`)."""
        self.store.close()
        self.sinks = sinks if sinks is not None else self.sinks
        self.open()

    def event(self, kind: EventKind, name: str = "mailchimp", *, after: float = 0.0) -> None:
        """Queue an event `after` seconds from now (the clock moves on)."""
        self.now += after
        failure = FAIL if kind is EventKind.OPENED else None
        with self.store.connection:
            add_event(self.store.connection, Event(name, kind, self.now, failure, 5, self.now + 30))

    def step(self, seconds: float = 0.0) -> None:
        self.now += seconds
        asyncio.run(self.alerter.step())

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(self.directory / "state.db")
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def crash_during_step(self, until: Callable[[], object]) -> None:
        """Run one turn and stop it dead once `until()` holds, as `kill -9` would: whatever
        it committed stays, nothing else is written."""

        async def crash() -> None:
            turn = asyncio.ensure_future(self.alerter.step())
            while not until() and not turn.done():
                await asyncio.sleep(0.002)
            turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await turn

        asyncio.run(crash())
