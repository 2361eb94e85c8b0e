"""The durable outbox, in the daemon's SQLite state file (schema migration 2).

Exactly once, across crashes:
1. A breaker transition and its alert event are written in one transaction
   (`add_event`, called by the state store inside the transition's transaction).
2. `decide` reads pending events, runs the policy, and in one transaction writes the
   notices it produced (one delivery per sink), deletes the events, and saves the policy
   state. A crash before the commit redoes the decision; after it, nothing is decided twice.
3. Each delivery has a stamp minted with it (a random UUID, `alerts/stamp.py`) that every
   message it sends carries. Before each attempt `attempt` records that its fate is unknown
   (`unsure`) and since when; a sink's answer settles it: `delivered`, or `retry_later`
   saying whether the failed attempt may still have acted (a timeout, a dropped connection,
   a 5xx after the request was sent). Slack's `ts` of a new thread is stored (`save_thread`,
   with the thread's stamp) the moment Slack answers, before anything else is sent.
4. A delivery still unsure when it is sent again (a crash, or an uncertain failure) is
   looked up first in the channel by its stamp (the engine, `alerts/engine.py`), and sent
   only when it is provably absent. Where the channel cannot be read (no history scope, a
   webhook) that resend is at least once, and says so.
An edit (`chat.update`) sent twice is harmless.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from alerts.model import Event, Notice
from alerts.policy import Policy, PolicyState
from alerts.silences import Silence
from alerts.stamp import Stamp

__all__ = ["MIGRATION", "STAMPS_MIGRATION", "Database", "Delivery", "Outbox", "add_event"]

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
# Schema 6: a stamp per delivery (old rows get a random one), whether its last attempt's
# fate is unknown and since when; each thread's stamp.
STAMPS_MIGRATION = """
    ALTER TABLE deliveries ADD COLUMN stamp TEXT;
    UPDATE deliveries SET stamp = lower(hex(randomblob(16)));
    ALTER TABLE deliveries ADD COLUMN unsure INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deliveries ADD COLUMN unsure_since REAL;
    UPDATE deliveries SET unsure = 1, unsure_since = created_at
        WHERE done_at IS NULL AND attempts > 0 AND last_error IS NULL;
    ALTER TABLE threads ADD COLUMN stamp TEXT;
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
    stamp: str  # the random id every message of this delivery carries
    # When an earlier attempt whose outcome is unknown began (it crashed, timed out or lost
    # its connection mid-send): what it sent may be in Slack. None: nothing is unsure.
    unsure_since: float | None = None

    @property
    def unknown(self) -> bool:
        return self.unsure_since is not None


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
                    "INSERT INTO deliveries (sink, thread, notice, created_at, next_at, stamp)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(sink, notice.thread, body, now, 0.0, uuid.uuid4().hex) for sink in sinks],
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
            "SELECT id, thread, notice, next_at, stamp, unsure, unsure_since FROM deliveries"
            " WHERE sink = ? AND done_at IS NULL ORDER BY id",
            (sink,),
        ).fetchall()
        ready: list[Delivery] = []
        blocked: set[str] = set()
        for id_, thread, notice, next_at, stamp, unsure, since in rows:
            if thread in blocked:
                continue
            blocked.add(thread)
            if next_at <= now:
                body = Notice.from_json(json.loads(notice))
                ready.append(Delivery(id_, sink, thread, body, stamp, since if unsure else None))
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

    def attempt(self, delivery: Delivery, now: float) -> None:
        """Count an attempt before making it. Until `delivered` or `retry_later` records how it
        went, its outcome is unknown: after a crash, that delivery may already be in Slack.
        `unsure_since` keeps the start of the earliest attempt still unsure."""
        self._execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = NULL,"
            " unsure_since = CASE WHEN unsure THEN unsure_since ELSE ? END, unsure = 1"
            " WHERE id = ?",
            (now, delivery.id),
        )

    def delivered(self, delivery: Delivery, now: float, outcome: str = "sent") -> None:
        self._execute(
            "UPDATE deliveries SET done_at = ?, outcome = ?, unsure = 0 WHERE id = ?",
            (now, outcome, delivery.id),
        )

    def retry_later(self, delivery: Delivery, at: float, error: str, *, unsure: bool) -> None:
        """Try again at `at`; `unsure`: what was sent may have been acted on all the same."""
        self._execute(
            "UPDATE deliveries SET next_at = ?, last_error = ?, unsure = ?,"
            " unsure_since = CASE WHEN ? THEN unsure_since END WHERE id = ?",
            (at, error, int(unsure), int(unsure), delivery.id),
        )

    def thread(self, sink: str, thread: str) -> tuple[tuple[str, str], Stamp | None] | None:
        """Where the thread's message is in `sink`, `(channel, ts)`, once posted, and the
        stamp it carries (None for one posted before stamps)."""
        row = self._db.execute(
            "SELECT channel, ts, stamp FROM threads WHERE sink = ? AND thread = ?", (sink, thread)
        ).fetchone()
        return None if row is None else ((str(row[0]), str(row[1])), _stamp(row[2]))

    def thread_stamps(self, sink: str) -> set[str]:
        """The ids of the stamps of every thread `sink` knows."""
        rows = self._db.execute(
            "SELECT stamp FROM threads WHERE sink = ? AND stamp IS NOT NULL", (sink,)
        ).fetchall()
        return {stamp.id for (text,) in rows if (stamp := _stamp(text)) is not None}

    def save_thread(
        self, sink: str, thread: str, channel: str, ts: str, stamp: Stamp | None = None
    ) -> None:
        text = json.dumps(stamp.metadata()) if stamp is not None else None
        self._execute(
            "INSERT OR REPLACE INTO threads (sink, thread, channel, ts, stamp)"
            " VALUES (?, ?, ?, ?, ?)",
            (sink, thread, channel, ts, text),
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


def _stamp(text: str | None) -> Stamp | None:
    return Stamp.read({"metadata": json.loads(text)}) if text else None
