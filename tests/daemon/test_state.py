"""The SQLite state store, on a real file."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from alerts.model import Notice, NoticeKind
from alerts.outbox import Outbox
from daemon.degraded import Baseline
from daemon.state import _MIGRATIONS, SCHEMA_VERSION, StateError, StateStore
from probes import Breaker, BreakerConfig, Kind, Outcome, Reason, State, Transition
from tests.support import FakeClock

FAIL = Outcome(Kind.FAILURE, Reason.HTTP_5XX, status=503, error="HTTP 503", detail="HTTP 503")


SNAPSHOT = Breaker("x", clock=FakeClock(), wall=FakeClock(1_700_000_000.0)).snapshot()


def tripped() -> tuple[Breaker, list[Transition]]:
    events: list[Transition] = []
    breaker = Breaker(
        "hubspot",
        BreakerConfig(failure_threshold=2, open_jitter=0),
        clock=FakeClock(),
        wall=FakeClock(1_700_000_000.0),
        listeners=[events.append],
    )
    for _ in range(2):
        breaker.record(breaker.acquire(), FAIL)
    return breaker, events


def test_a_transition_and_its_snapshot_round_trip(tmp_path: Path) -> None:
    breaker, (transition,) = tripped()
    store = StateStore.open(tmp_path)
    store.record_transition(transition, breaker.snapshot())
    store.close()
    reopened = StateStore.open(tmp_path)
    snapshot = reopened.snapshots()["hubspot"]
    assert snapshot == breaker.snapshot()
    assert snapshot.state is State.OPEN
    assert snapshot.last_failure == FAIL
    (row,) = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT from_state, to_state, cause, reason, detail, open_until FROM transitions"
        " WHERE integration = 'hubspot'"
    )
    assert row == (
        "closed",
        "open",
        "consecutive_failures",
        "http_5xx",
        "HTTP 503",
        1_700_000_030.0,
    )
    mode = sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_corrupt_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        store = StateStore.open(tmp_path, wall=lambda: 1234.0)
    assert store.snapshots() == {}
    assert (tmp_path / "state.db.corrupt-1234").read_bytes().startswith(b"this is not")
    (record,) = caplog.records
    assert "moved it to state.db.corrupt-1234 and started clean" in record.getMessage()


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    StateStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError) as error:
        StateStore.open(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'state.db'} was written by a newer breakerwatch (schema 99; this one "
        f"knows up to {SCHEMA_VERSION}); upgrade breakerwatch, or move the file away to start clean"
    )
    assert sqlite3.connect(tmp_path / "state.db").execute("SELECT value FROM meta").fetchone() == (
        "99",
    )


def test_an_unreadable_snapshot_row_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    breaker, _ = tripped()
    store = StateStore.open(tmp_path)
    store.save_snapshot("hubspot", breaker.snapshot())
    with sqlite3.connect(tmp_path / "state.db") as other:
        other.execute("""INSERT INTO breakers VALUES ('kit', '{"state": "molten"}', 0)""")
    assert set(store.snapshots()) == {"hubspot"}
    assert "ignoring the stored breaker of kit" in caplog.text


def test_a_full_disk_moves_the_state_into_memory_with_everything_in_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore.open(tmp_path)
    store.save_snapshot("kit", SNAPSHOT)
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
    big = replace(SNAPSHOT, config_fingerprint="x" * 100_000)
    store.save_snapshot("hubspot", big)  # does not fit in the file: goes to memory
    assert store.unpersisted is not None
    assert "database or disk is full" in store.unpersisted
    assert set(store.snapshots()) == {"kit", "hubspot"}  # what was on disk came along
    store.save_snapshot("sendgrid", SNAPSHOT)
    assert set(store.snapshots()) == {"kit", "hubspot", "sendgrid"}
    assert caplog.text.count("keeping the state in memory") == 1  # said once
    store.close()
    assert set(StateStore.peek(tmp_path)) == {"kit"}  # the file holds what it held


def test_an_unusable_state_directory_means_memory_not_a_refusal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = StateStore.open(blocker / "state")
    assert store.unpersisted is not None
    assert store.unpersisted.startswith(f"cannot create the state directory {blocker / 'state'}")
    store.save_snapshot("kit", SNAPSHOT)
    assert set(store.snapshots()) == {"kit"}
    assert "keeping the state in memory" in caplog.text


def test_latency_baselines_round_trip_and_go_with_a_retired_integration(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    store.save_baselines({"kit": Baseline(0.12, 80), "hubspot": Baseline(0.4, 3)})
    store.save_baselines({"kit": Baseline(0.13, 81)})
    store.close()
    again = StateStore.open(tmp_path)
    assert again.baselines() == {"kit": Baseline(0.13, 81), "hubspot": Baseline(0.4, 3)}
    again.forget("hubspot")
    assert again.baselines() == {"kit": Baseline(0.13, 81)}
    again.close()


def test_a_version_3_state_is_upgraded_in_place_keeping_what_it_held(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in (1, 2, 3):
        db.executescript(_MIGRATIONS[step])
    db.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    db.execute("INSERT INTO overrides VALUES ('kit', 'disabled', 'alice', 'rotating', 1.0)")
    db.commit()
    db.close()
    store = StateStore.open(tmp_path)
    assert store.baselines() == {}
    store.save_baselines({"kit": Baseline(0.1, 60)})
    store.close()
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert db.execute("SELECT integration, by FROM overrides").fetchall() == [("kit", "alice")]
    db.close()


def test_a_version_5_outbox_gets_stamps_and_keeps_an_unsure_delivery_unsure(
    tmp_path: Path,
) -> None:
    """An upgrade in the middle of an interrupted send: the pending delivery whose attempt
    was never answered stays unsure (looked up before it is sent again), with a stamp of its
    own; the answered and the failed ones are not unsure."""
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in range(1, 6):
        db.executescript(_MIGRATIONS[step])
    db.execute("INSERT INTO meta VALUES ('schema_version', '5')")
    notice = json.dumps(Notice(NoticeKind.OPENED, "kit#1", 5.0).to_json())
    for attempts, error, done in ((1, None, None), (1, "HTTP 503", None), (1, None, 9.0)):
        db.execute(
            "INSERT INTO deliveries (sink, thread, notice, created_at, attempts, next_at,"
            " last_error, done_at) VALUES ('slack', 'kit#1', ?, 5.0, ?, 0, ?, ?)",
            (notice, attempts, error, done),
        )
    db.execute("INSERT INTO threads VALUES ('slack', 'kit#1', 'C1', '1.000001')")
    db.commit()
    db.close()
    store = StateStore.open(tmp_path)
    rows = store.connection.execute(
        "SELECT stamp, unsure, unsure_since FROM deliveries ORDER BY id"
    ).fetchall()
    assert [(unsure, since) for _, unsure, since in rows] == [(1, 5.0), (0, None), (0, None)]
    assert len({stamp for stamp, _, _ in rows}) == 3
    assert all(len(stamp) == 32 for stamp, _, _ in rows)
    outbox = Outbox(store)
    where, stamp = outbox.thread("slack", "kit#1") or (None, None)
    assert where == ("C1", "1.000001")
    assert stamp is None  # posted before stamps
    store.close()
