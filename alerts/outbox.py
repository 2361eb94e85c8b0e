"""The durable outbox, in the daemon's SQLite state file (schema migration 2).

Exactly once, across crashes:
1. A breaker transition and its alert event are written in one transaction
   (`add_event`, called by the state store inside the transition's transaction).
2. `decide` reads pending events, runs the policy, and in one transaction writes the
   notices it produced (one delivery per sink), deletes the events, and saves the policy
   state. A crash before the commit redoes the decision; after it, nothing is decided twice.
3. A sink sends a delivery, then `delivered` marks it. Slack's `ts` of a new thread is
   stored (`save_thread`) the moment Slack answers, before anything else is sent.
A crash between Slack acting on a request and our commit of its answer is the one gap:
that request is sent again after the restart. An edit (`chat.update`) sent twice is
harmless; a new message or thread reply sent twice is a duplicate. The gap is the time
from Slack's answer arriving to one SQLite commit (microseconds), plus the request's own
round trip when Slack acted but the answer was lost.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from alerts.model import Event, Notice
from alerts.policy import Policy, PolicyState
from alerts.silences import Silence

__all__ = ["MIGRATION", "Database", "Delivery", "Outbox", "add_event"]

_T = TypeVar("_T")

MIGRATION = """
    CREATE TABLE alert_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        event      TEXT NOT NULL
    );
    CREATE TABLE alert_policy (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        state      TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        sink       TEXT NOT NULL,
        thread     TEXT NOT NULL,
        notice     TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    REAL NOT NULL,
        last_error TEXT,
        done_at    REAL,
        outcome    TEXT
    );
    CREATE INDEX deliveries_pending ON deliveries (sink, done_at, id);
    CREATE TABLE threads (
        sink       TEXT NOT NULL,
        thread     TEXT NOT NULL,
        channel    TEXT NOT NULL,
        ts         TEXT NOT NULL,
        PRIMARY KEY (sink, thread)
    );
    CREATE TABLE silences (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        integration TEXT NOT NULL,
        starts_at   REAL NOT NULL,
        ends_at     REAL NOT NULL,
        reason      TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
"""
KEEP_DONE = 30 * 86400.0  # delivered rows are kept this long, as the alert history


def add_event(db: sqlite3.Connection, event: Event) -> None:
    """Queue `event`; the caller's transaction makes it durable with the transition."""
    db.execute("INSERT INTO alert_events (event) VALUES (?)", (json.dumps(event.to_json()),))


@dataclass(frozen=True)
class Delivery:
    id: int
    sink: str
    thread: str
    notice: Notice
    unknown: bool  # an earlier attempt's outcome is unknown (it crashed or timed out mid-send)


class Database(Protocol):
    """Where the outbox lives: the daemon's state store (which may move into memory)."""

    @property
    def connection(self) -> sqlite3.Connection: ...

    def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T: ...


class Outbox:
    """The alert tables of one state database, used from the event-loop thread only."""

    def __init__(self, database: Database) -> None:
        self._database = database
        row = self._db.execute("SELECT state FROM alert_policy WHERE id = 1").fetchone()
        self._saved = row[0] if row else ""
        self.state = PolicyState.from_json(json.loads(row[0])) if row else PolicyState()

    @property
    def _db(self) -> sqlite3.Connection:
        return self._database.connection

    # -- deciding ------------------------------------------------------------------------

    def decide(
        self,
        policy: Policy,
        now: float,
        silenced: Callable[[str, float], str | None],
        sinks: tuple[str, ...],
    ) -> list[Notice]:
        """Run the policy over the pending events and the time; queue what it says, atomically."""
        rows = self._db.execute("SELECT id, event FROM alert_events ORDER BY id").fetchall()
        events = [Event.from_json(json.loads(text)) for _, text in rows]
        state = PolicyState.from_json(json.loads(self._saved)) if self._saved else PolicyState()
        notices = policy.step(state, events, now, silenced)
        text = json.dumps(state.to_json(), separators=(",", ":"))
        if not rows and not notices and text == self._saved:
            return []

        def work(db: sqlite3.Connection) -> None:
            if rows:
                db.execute("DELETE FROM alert_events WHERE id <= ?", (rows[-1][0],))
            for notice in notices:
                body = json.dumps(notice.to_json())
                db.executemany(
                    "INSERT INTO deliveries (sink, thread, notice, created_at, next_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(sink, notice.thread, body, now, 0.0) for sink in sinks],
                )
            db.execute(
                "INSERT INTO alert_policy (id, state) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                (text,),
            )

        self._database.write(work)
        self._saved, self.state = text, state  # only once committed
        return notices

    # -- sending -------------------------------------------------------------------------

    def due(self, sink: str, now: float, limit: int = 50) -> list[Delivery]:
        """Pending deliveries of `sink` that may go now: oldest first, and never one whose
        thread has an older delivery still pending (a thread's messages stay in order)."""
        rows = self._db.execute(
            "SELECT id, thread, notice, attempts, next_at, last_error FROM deliveries"
            " WHERE sink = ? AND done_at IS NULL ORDER BY id",
            (sink,),
        ).fetchall()
        ready: list[Delivery] = []
        blocked: set[str] = set()
        for id_, thread, notice, attempts, next_at, error in rows:
            if thread in blocked:
                continue
            blocked.add(thread)
            if next_at <= now:
                body = Notice.from_json(json.loads(notice))
                unknown = attempts > 0 and error is None
                ready.append(Delivery(id_, sink, thread, body, unknown))
                if len(ready) >= limit:
                    break
        return ready

    def next_due(self, sink: str) -> float | None:
        row = self._db.execute(
            "SELECT MIN(next_at) FROM deliveries WHERE sink = ? AND done_at IS NULL", (sink,)
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def depth(self, sink: str) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE sink = ? AND done_at IS NULL", (sink,)
        ).fetchone()
        return int(row[0])

    def attempt(self, delivery: Delivery) -> None:
        """Count an attempt before making it. Until `delivered` or `retry_later` records how it
        went, its outcome is unknown: after a crash, that delivery may already be in Slack."""
        self._execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (delivery.id,),
        )

    def delivered(self, delivery: Delivery, now: float, outcome: str = "sent") -> None:
        self._execute(
            "UPDATE deliveries SET done_at = ?, outcome = ? WHERE id = ?",
            (now, outcome, delivery.id),
        )

    def retry_later(self, delivery: Delivery, at: float, error: str) -> None:
        self._execute(
            "UPDATE deliveries SET next_at = ?, last_error = ? WHERE id = ?",
            (at, error, delivery.id),
        )

    def thread_ts(self, sink: str, thread: str) -> tuple[str, str] | None:
        """(channel, ts) of the thread's message in `sink`, once posted."""
        row = self._db.execute(
            "SELECT channel, ts FROM threads WHERE sink = ? AND thread = ?", (sink, thread)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def save_thread(self, sink: str, thread: str, channel: str, ts: str) -> None:
        self._execute(
            "INSERT OR REPLACE INTO threads (sink, thread, channel, ts) VALUES (?, ?, ?, ?)",
            (sink, thread, channel, ts),
        )

    def prune(self, now: float) -> None:
        """Drop delivered rows older than KEEP_DONE, and expired silences."""
        self._execute("DELETE FROM deliveries WHERE done_at < ?", (now - KEEP_DONE,))
        self._execute("DELETE FROM silences WHERE ends_at < ?", (now - KEEP_DONE,))

    # -- silences ------------------------------------------------------------------------

    def add_silence(
        self, integration: str, starts_at: float, ends_at: float, reason: str, by: str = "local"
    ) -> Silence:
        cursor = self._execute(
            "INSERT INTO silences (integration, starts_at, ends_at, reason, created_at,"
            " created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (integration, starts_at, ends_at, reason, starts_at, by),
        )
        return Silence(
            int(cursor.lastrowid or 0), integration, starts_at, ends_at, reason, starts_at, by
        )

    def end_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now (kept for the record); False if there is no such live silence."""
        cursor = self._execute(
            "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
            (now, silence_id, now),
        )
        return cursor.rowcount == 1

    def _execute(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Cursor:
        """One statement in its own transaction, through the store (which may move to memory)."""
        return self._database.write(lambda db: db.execute(sql, parameters))

    def silences(self, now: float) -> list[Silence]:
        """Silences not yet over."""
        rows = self._db.execute(
            "SELECT id, integration, starts_at, ends_at, reason, created_at, created_by"
            " FROM silences WHERE ends_at > ? ORDER BY id",
            (now,),
        ).fetchall()
        return [Silence(*row) for row in rows]
