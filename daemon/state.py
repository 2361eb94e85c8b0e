"""Durable state in SQLite (WAL): breaker snapshots, the transition history, (schema 2)
the alert outbox and silences, whose tables and queries live in alerts/outbox.py, and
(schema 3) who holds which breaker and why, and who set each silence.

A transition and the snapshot it produced are written in one transaction, so a crash can
never leave the history and the snapshot disagreeing. When the file cannot be written (the
directory is unusable at start, or the disk fills or turns read-only later), the state
moves into memory, with everything already in it: the daemon goes on probing, exporting
and alerting, says once in its log and in /healthz that it cannot persist, and writes the
file again after a restart on a healthy disk. The schema carries a version and
migrates forward; a file from a newer breakerwatch is refused rather than damaged; a
corrupt file is moved aside (never deleted) and the daemon starts clean with one warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from alerts.model import Event, Override
from alerts.outbox import MIGRATION as OUTBOX_MIGRATION
from alerts.outbox import STAMPS_MIGRATION, add_event
from daemon.degraded import Baseline
from daemon.history import TransitionRow
from probes import BreakerSnapshot, Kind, Outcome, Reason, State, Transition

__all__ = ["SCHEMA_VERSION", "StateError", "StateStore"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

FILENAME = "state.db"
SCHEMA_VERSION = 7
_LONGEST = 3650 * 86400.0  # an incident under way at `since` began at most this long before
_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE breakers (
            integration TEXT PRIMARY KEY,
            snapshot    TEXT NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE TABLE transitions (
            id                   INTEGER PRIMARY KEY AUTOINCREMENT,
            integration          TEXT NOT NULL,
            from_state           TEXT NOT NULL,
            to_state             TEXT NOT NULL,
            cause                TEXT NOT NULL,
            at                   REAL NOT NULL,
            open_until           REAL,
            trip_streak          INTEGER NOT NULL,
            consecutive_failures INTEGER NOT NULL,
            failure_rate         REAL NOT NULL,
            reason               TEXT,
            detail               TEXT
        );
        CREATE INDEX transitions_by_integration ON transitions (integration, id);
    """,
    2: OUTBOX_MIGRATION,
    3: """
        CREATE TABLE overrides (
            integration TEXT PRIMARY KEY,
            mode        TEXT NOT NULL,
            by          TEXT NOT NULL,
            reason      TEXT NOT NULL,
            at          REAL NOT NULL
        );
        ALTER TABLE silences ADD COLUMN created_by TEXT NOT NULL DEFAULT 'local';
    """,
    4: """
        CREATE TABLE baselines (
            integration TEXT PRIMARY KEY,
            seconds     REAL NOT NULL,
            samples     INTEGER NOT NULL,
            updated_at  REAL NOT NULL
        );
    """,
    5: """
        CREATE TABLE oauth_tokens (
            integration   TEXT PRIMARY KEY,
            origin        TEXT NOT NULL,
            refresh_token TEXT NOT NULL,
            updated_at    REAL NOT NULL
        );
    """,
    6: STAMPS_MIGRATION,
    7: """
        CREATE INDEX transitions_by_time ON transitions (at);
    """,
}


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


class StateStore:
    """One SQLite file, used from the event-loop thread only; in memory when it must be.

    `unpersisted` is None while the file is written, else the sentence saying why not.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self.unpersisted: str | None = None

    @classmethod
    def open(cls, directory: Path, *, wall: Callable[[], float] = time.time) -> StateStore:
        """Open (creating or migrating) the state in `directory`; in memory if it cannot be
        written. A file from a newer breakerwatch is refused (StateError), never touched."""
        path = directory / FILENAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = f"cannot create the state directory {directory}: {error.strerror}"
            return cls._in_memory(path, reason)
        try:
            return cls(_connect(path), path)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not _corrupt(error):
                return cls._in_memory(path, f"cannot open {path}: {error}")
            aside = path.with_name(f"{FILENAME}.corrupt-{int(wall())}")
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                path.with_name(FILENAME + suffix).unlink(missing_ok=True)
            logger.warning(
                "state file %s was unreadable (%s); moved it to %s and started clean",
                path, error, aside.name,
            )  # fmt: skip
            return cls(_connect(path), path)

    @classmethod
    def _in_memory(cls, path: Path, reason: str) -> StateStore:
        store = cls(_connect(Path(":memory:")), path)
        store._unpersisted(reason)
        return store

    def _unpersisted(self, reason: str) -> None:
        self.unpersisted = reason
        logger.error(
            "%s; keeping the state in memory: probing, metrics and alerts go on, but breakers, "
            "queued alerts and silences are lost if the daemon stops before %s is writable",
            reason, self.path.parent,
        )  # fmt: skip

    def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` in one transaction; if the disk refuses it, move to memory and redo it."""
        try:
            with self._db:
                return work(self._db)
        except sqlite3.OperationalError as error:
            if self.unpersisted is not None or not _disk_trouble(error):
                raise
            trouble = error
        memory = sqlite3.connect(":memory:", isolation_level="DEFERRED")
        self._db.backup(memory)  # everything written so far comes along
        self._db.close()
        self._db = memory
        self._unpersisted(f"cannot write {self.path}: {trouble}")
        with self._db:
            return work(self._db)

    @staticmethod
    def peek(directory: Path) -> dict[str, BreakerSnapshot]:
        """The stored snapshots, read-only (nothing is created, migrated or moved)."""
        path = directory / FILENAME
        if not path.exists():
            return {}
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return StateStore(db, path).snapshots()
            finally:
                db.close()
        except sqlite3.Error:
            return {}

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for the alert outbox (same file, same thread)."""
        return self._db

    def close(self) -> None:
        self._db.close()

    # -- writing -------------------------------------------------------------------------

    def record_transition(
        self, transition: Transition, snapshot: BreakerSnapshot, alert: Event | None = None
    ) -> None:
        """The transition, the breaker's resulting snapshot and its alert event, in one
        transaction: none of them without the others."""
        failure = transition.last_failure

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO transitions (integration, from_state, to_state, cause, at,"
                " open_until, trip_streak, consecutive_failures, failure_rate, reason, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    transition.breaker,
                    transition.from_state.value,
                    transition.to_state.value,
                    transition.cause.value,
                    transition.at,
                    transition.open_until,
                    transition.trip_streak,
                    transition.consecutive_failures,
                    transition.failure_rate,
                    failure.reason.value if failure and failure.reason else None,
                    failure.detail if failure else None,
                ),
            )
            _put(db, transition.breaker, snapshot)
            if alert is not None:
                add_event(db, alert)

        self.write(work)

    def record_event(self, alert: Event) -> None:
        """An alert event that is not a transition (throttling)."""
        self.write(lambda db: add_event(db, alert))

    def save_snapshot(self, integration: str, snapshot: BreakerSnapshot) -> None:
        self.write(lambda db: _put(db, integration, snapshot))

    def forget(self, integration: str) -> None:
        """Drop a retired integration's breaker and hold (its transition history is kept)."""

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM breakers WHERE integration = ?", (integration,))
            db.execute("DELETE FROM overrides WHERE integration = ?", (integration,))
            db.execute("DELETE FROM baselines WHERE integration = ?", (integration,))
            db.execute("DELETE FROM oauth_tokens WHERE integration = ?", (integration,))

        self.write(work)

    def history(
        self, names: Collection[str] | None, since: float, until: float
    ) -> list[TransitionRow]:
        """The transitions (of the integrations `names`, or of all) from each one's last
        return to `closed` at or before `since` (so an incident under way then is whole)
        until `until`, in the order they happened."""
        chosen = None if names is None else json.dumps(sorted(names))
        rows = self._db.execute(
            "WITH back AS (SELECT integration, MAX(at) AS start FROM transitions"
            "   WHERE to_state = 'closed' AND at <= :since GROUP BY integration)"
            " SELECT t.integration, from_state, to_state, cause, at, reason, detail"
            " FROM transitions AS t LEFT JOIN back ON back.integration = t.integration"
            " WHERE at <= :until AND at >= COALESCE(back.start, :since - :longest)"
            " AND (:names IS NULL OR t.integration IN (SELECT value FROM json_each(:names)))"
            " ORDER BY t.id",
            {"names": chosen, "since": since, "until": until, "longest": _LONGEST},
        ).fetchall()
        return [tuple(row) for row in rows]

    def prune_history(self, before: float, batch: int = 1000) -> int:
        """Drop up to `batch` transitions older than `before`; how many went."""
        cursor = self.write(lambda db: db.execute(
            "DELETE FROM transitions WHERE id IN"
            " (SELECT id FROM transitions WHERE at < ? ORDER BY at LIMIT ?)", (before, batch),
        ))  # fmt: skip
        return int(cursor.rowcount)

    def save_refresh_token(self, integration: str, origin: str, token: str) -> None:
        """The refresh token the vendor rotated to; `origin` fingerprints the configured one
        it descends from (a new one in the config starts afresh)."""
        self.write(lambda db: db.execute(
            "INSERT INTO oauth_tokens (integration, origin, refresh_token, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (integration) DO UPDATE SET"
            " origin = excluded.origin, refresh_token = excluded.refresh_token,"
            " updated_at = excluded.updated_at",
            (integration, origin, token, time.time()),
        ))  # fmt: skip

    def refresh_token(self, integration: str, origin: str) -> str | None:
        """The latest refresh token descended from the configured one `origin` names."""
        row = self._db.execute(
            "SELECT refresh_token FROM oauth_tokens WHERE integration = ? AND origin = ?",
            (integration, origin),
        ).fetchone()
        return str(row[0]) if row else None

    def save_baselines(self, learned: Mapping[str, Baseline]) -> None:
        """Each integration's learned latency baseline, in one transaction."""
        now = time.time()
        self.write(lambda db: db.executemany(
            "INSERT INTO baselines (integration, seconds, samples, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (integration) DO UPDATE SET seconds = excluded.seconds,"
            " samples = excluded.samples, updated_at = excluded.updated_at",
            [(name, b.seconds, b.samples, now) for name, b in learned.items()],
        ))  # fmt: skip

    def baselines(self) -> dict[str, Baseline]:
        """Every stored latency baseline (daemon/degraded.py)."""
        rows = self._db.execute("SELECT integration, seconds, samples FROM baselines")
        return {name: Baseline(seconds, samples) for name, seconds, samples in rows if seconds > 0}

    def save_override(self, integration: str, override: Override | None, at: float) -> None:
        """Who holds the breaker of `integration`, and why (None: nobody, any more)."""

        def work(db: sqlite3.Connection) -> None:
            if override is None:
                db.execute("DELETE FROM overrides WHERE integration = ?", (integration,))
                return
            db.execute(
                "INSERT OR REPLACE INTO overrides (integration, mode, by, reason, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (integration, override.mode, override.by, override.reason, at),
            )

        self.write(work)

    def overrides(self) -> dict[str, tuple[Override, float]]:
        """Every breaker an operator holds: (who, why, since when), by integration."""
        rows = self._db.execute("SELECT integration, mode, by, reason, at FROM overrides")
        return {name: (Override(mode, by, reason), at) for name, mode, by, reason, at in rows}

    # -- reading -------------------------------------------------------------------------

    def snapshots(self) -> dict[str, BreakerSnapshot]:
        """Every stored breaker snapshot; an unreadable row is skipped with a warning."""
        found: dict[str, BreakerSnapshot] = {}
        for integration, text in self._db.execute("SELECT integration, snapshot FROM breakers"):
            try:
                found[integration] = _decode(json.loads(text))
            except (ValueError, KeyError, TypeError) as error:
                logger.warning("ignoring the stored breaker of %s: %s", integration, error)
        return found


def _private(path: Path) -> None:
    """The state file, and SQLite's files beside it, readable by the daemon's user only: it
    holds rotated OAuth refresh tokens (SQLite gives its -wal and -shm the same mode)."""
    with contextlib.suppress(OSError):  # a directory we cannot write: SQLite says so next
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            os.chmod(name, 0o600)


def _connect(path: Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        _private(path)
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            db.close()
            raise StateError(
                f"{path} was written by a newer breakerwatch (schema {version}; this one "
                f"knows up to {SCHEMA_VERSION}); upgrade breakerwatch, or move the file away "
                "to start clean"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):  # each step all or nothing
            db.executescript(
                f"BEGIN; {_MIGRATIONS[step]}"
                f" INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '{step}');"
                " COMMIT;"
            )
        return db
    except BaseException:
        db.close()
        raise


def _put(db: sqlite3.Connection, integration: str, snapshot: BreakerSnapshot) -> None:
    db.execute(
        "INSERT INTO breakers (integration, snapshot, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (integration) DO UPDATE SET snapshot = excluded.snapshot,"
        " updated_at = excluded.updated_at",
        (integration, json.dumps(_encode(snapshot)), time.time()),
    )


def _disk_trouble(error: sqlite3.OperationalError) -> bool:
    """Full, read-only, or failing: what moving to memory can get around."""
    text = str(error)
    return any(
        sign in text
        for sign in ("disk is full", "readonly", "read-only", "disk I/O error", "unable to open")
    )


def _corrupt(error: sqlite3.Error) -> bool:
    return "malformed" in str(error) or "not a database" in str(error)


def _encode(snapshot: BreakerSnapshot) -> dict[str, Any]:
    data = asdict(snapshot)
    data["state"] = snapshot.state.value
    return data


def _decode(data: dict[str, Any]) -> BreakerSnapshot:
    failure = data.get("last_failure")
    if failure is not None:
        reason = failure.get("reason")
        failure = Outcome(
            kind=Kind(failure["kind"]),
            reason=Reason(reason) if reason else None,
            retryable=bool(failure.get("retryable")),
            status=failure.get("status"),
            retry_after=failure.get("retry_after"),
            error=failure.get("error"),
            detail=failure.get("detail", ""),
        )
    return BreakerSnapshot(
        state=State(data["state"]),
        trip_streak=int(data["trip_streak"]),
        consecutive_failures=int(data["consecutive_failures"]),
        since=float(data["since"]),
        opened_at=data.get("opened_at"),
        open_until=data.get("open_until"),
        open_for=data.get("open_for"),
        cooldown_until=data.get("cooldown_until"),
        last_failure=failure,
        config_fingerprint=str(data["config_fingerprint"]),
    )
