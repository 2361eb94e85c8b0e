"""The incident history, derived from transitions (pure), and kept in the state file."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.history import Incident, TransitionRow, as_csv, incidents, moment
from daemon.state import _MIGRATIONS, StateStore
from probes import Breaker, BreakerConfig, Kind, Outcome, Reason, State, Transition
from probes.breaker import Cause
from simulator import Simulator
from tests.daemon.harness import DaemonProcess, breakerwatch, config_text, environment
from tests.simulator.helpers import admin
from tests.support import FakeClock

T0 = 1_790_000_000.0


def row(name: str, before: str, after: str, cause: str, at: float,
        reason: str | None = None, detail: str | None = None) -> TransitionRow:  # fmt: skip
    return (name, before, after, cause, T0 + at, reason, detail)


OUTAGE = [  # kit: opened, one failed trial, recovered; hubspot meanwhile held by an operator
    row("kit", "closed", "open", "consecutive_failures", 0, "http_5xx", "HTTP 503"),
    row("hubspot", "closed", "forced_open", "manual", 5),
    row("kit", "open", "half_open", "open_elapsed", 30),
    row("kit", "half_open", "open", "trial_failed", 31, "timeout", "timed out"),
    row("kit", "open", "half_open", "open_elapsed", 90),
    row("kit", "half_open", "closed", "trial_succeeded", 91),
    row("hubspot", "forced_open", "disabled", "manual", 100),
    row("hubspot", "disabled", "closed", "manual", 200),
    row("kit", "closed", "open", "failure_rate", 500, "timeout", "timed out"),
]


def test_an_incident_runs_from_leaving_closed_to_coming_back() -> None:
    found = incidents(OUTAGE)
    assert found == [
        Incident("kit", T0, T0 + 91, "consecutive_failures", "http_5xx", "HTTP 503", "open",
                 1, "recovered"),
        Incident("hubspot", T0 + 5, T0 + 200, "manual", None, None, "disabled", 0, "reset"),
        Incident("kit", T0 + 500, None, "failure_rate", "timeout", "timed out", "open", 0, None),
    ]  # fmt: skip
    assert found[0].duration(T0 + 1000) == 91
    assert found[2].duration(T0 + 1000) == 500  # still going on
    assert found[2].to_json(T0 + 1000)["ended_at"] is None


def test_only_the_incidents_overlapping_the_window() -> None:
    during = incidents(OUTAGE, since=T0 + 95, until=T0 + 400)
    assert [(i.integration, i.started_at) for i in during] == [("hubspot", T0 + 5)]
    assert incidents(OUTAGE, since=T0 + 91, until=T0 + 91)[0].integration == "kit"  # its end
    assert [i.started_at for i in incidents(OUTAGE, since=T0 + 600)] == [T0 + 500]  # going on


def test_a_return_to_closed_whose_start_was_pruned_is_skipped() -> None:
    assert incidents(OUTAGE[4:6]) == []


def test_csv_keeps_a_vendors_words_as_inert_text() -> None:
    hostile = [row("kit", "closed", "open", "consecutive_failures", 0, "http_5xx",
                   '=HYPERLINK("https://evil.example","x")\x1b[31m, "quoted"\nnext'),
               row("kit", "open", "half_open", "open_elapsed", 30),
               row("kit", "half_open", "closed", "trial_succeeded", 31)]  # fmt: skip
    text = as_csv(incidents(hostile), T0 + 100)
    assert "\x1b" not in text
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["integration", "started_at", "ended_at", "duration_seconds", "state",
                        "cause", "reason", "detail", "trials", "ended"]  # fmt: skip
    (first,) = lines[1:]
    assert first[:4] == ["kit", "2026-09-21T14:13:20Z", "2026-09-21T14:13:51Z", "31.0"]
    assert first[7].startswith("'=HYPERLINK(")  # a spreadsheet shows it, never runs it
    assert '"quoted"' in first[7]
    assert text.endswith("recovered\r\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", T0 - 7 * 86400),
        ("90m", T0 - 5400),
        ("1790000000", T0),
        ("2026-09-21", 1_790_035_200.0 - 86400),
        ("2026-09-21T14:13:20Z", T0),
        ("2026-09-21T16:13:20+02:00", T0),
        ("2026-09-21T14:13:20", T0),  # UTC unless it says otherwise
    ],
)
def test_a_moment_is_a_duration_ago_a_date_or_unix_seconds(text: str, expected: float) -> None:
    assert moment(text, T0) == expected


def test_a_moment_that_is_none_says_what_is() -> None:
    with pytest.raises(ValueError, match=r"'yesterday' is not a time: give a duration before"):
        moment("yesterday", T0)


def store_with(tmp_path: Path, rows: list[TransitionRow]) -> StateStore:
    store = StateStore.open(tmp_path)
    with store.connection:
        store.connection.executemany(
            "INSERT INTO transitions (integration, from_state, to_state, cause, at,"
            " trip_streak, consecutive_failures, failure_rate, reason, detail)"
            " VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
            rows,
        )
    return store


def test_the_state_gives_an_incident_under_way_at_since_whole(tmp_path: Path) -> None:
    store = store_with(tmp_path, OUTAGE)
    rows = store.history(None, T0 + 95, T0 + 1000)
    # hubspot from its start; kit from its last return to closed (skipped), then its new one
    assert [r[4] - T0 for r in rows] == [5, 91, 100, 200, 500]
    assert incidents(rows, since=T0 + 95, until=T0 + 1000)[0].started_at == T0 + 5
    kit = store.history(["kit"], T0 + 40, T0 + 1000)
    assert [r[4] - T0 for r in kit] == [0, 30, 31, 90, 91, 500]  # under way at since: whole
    store.close()


def test_the_history_is_pruned_a_batch_at_a_time(tmp_path: Path) -> None:
    store = store_with(tmp_path, OUTAGE)
    assert store.prune_history(T0 + 95, batch=2) == 2
    assert store.prune_history(T0 + 95, batch=2) == 2
    assert store.prune_history(T0 + 95, batch=2) == 2  # everything before T0 + 95
    assert store.prune_history(T0 + 95, batch=2) == 0
    left = store.history(None, 0, T0 + 1000)
    assert [r[4] - T0 for r in left] == [100, 200, 500]
    store.close()


def test_a_real_breakers_transitions_are_its_history(tmp_path: Path) -> None:
    """What the breaker publishes, stored as the daemon stores it, read back as one incident."""
    clock, wall = FakeClock(), FakeClock(T0)
    seen: list[Transition] = []
    breaker = Breaker("kit", BreakerConfig(failure_threshold=1, open_jitter=0),
                      clock=clock, wall=wall, listeners=[seen.append])  # fmt: skip
    failure = Outcome(Kind.FAILURE, Reason.HTTP_5XX, status=503, error="HTTP 503", detail="503")
    breaker.record(breaker.acquire(), failure)
    store = StateStore.open(tmp_path)
    for transition in seen:
        store.record_transition(transition, breaker.snapshot())
    rows = store.history(["kit"], T0 - 60, T0 + 60)
    (incident,) = incidents(rows)
    assert (incident.state, incident.cause, incident.reason) == ("open", "consecutive_failures",
                                                                  "http_5xx")  # fmt: skip
    assert seen[0].to_state is State.OPEN
    assert seen[0].cause is Cause.CONSECUTIVE_FAILURES
    store.close()


def test_a_version_6_state_keeps_its_history_through_the_upgrade(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in range(1, 7):
        db.executescript(_MIGRATIONS[step])
    db.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    db.executemany(
        "INSERT INTO transitions (integration, from_state, to_state, cause, at, trip_streak,"
        " consecutive_failures, failure_rate, reason, detail)"
        " VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
        OUTAGE,
    )
    db.commit()
    db.close()
    store = StateStore.open(tmp_path)
    assert len(incidents(store.history(None, 0, T0 + 1000))) == 3
    indexes = {r[1] for r in store.connection.execute("PRAGMA index_list('transitions')")}
    assert "transitions_by_time" in indexes
    store.close()


@pytest.mark.system
def test_an_outage_is_in_the_history_the_api_and_the_cli(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    env = environment(simulator)
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        going = daemon.get("/api/v1/incidents?integration=kit").json()
        (incident,) = going["incidents"]
        assert (incident["ended"], incident["ended_at"], incident["state"]) == (None, None, "open")
        assert incident["reason"] == "http_5xx"
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("kit") == "closed", 20, "kit to close")
        (done,) = daemon.get("/api/v1/incidents").json()["incidents"]
        assert done["ended"] == "recovered"
        assert done["duration_seconds"] == pytest.approx(
            done["ended_at"] - done["started_at"], abs=0.001
        )
        table = breakerwatch("history", "--url", daemon.url)
        assert table.returncode == 0
        assert "INTEGRATION  STARTED (UTC)" in table.stdout
        assert "kit" in table.stdout
        assert "recovered" in table.stdout
        spreadsheet = breakerwatch("history", "kit", "--csv", "--url", daemon.url)
        lines = list(csv.reader(io.StringIO(spreadsheet.stdout)))
        assert lines[1][0] == "kit"
        assert lines[1][-1] == "recovered"
        assert breakerwatch("history", "hubspot", "--url", daemon.url).stdout == (
            "no incidents in that time\n"
        )
        wrong = breakerwatch("history", "--since", "last tuesday", "--url", daemon.url)
        assert wrong.returncode == 1
        assert wrong.stderr.startswith("since/until: 'last tuesday' is not a time: give a")
        assert "Traceback" not in wrong.stderr
    finally:
        assert daemon.stop() == 0
    daemon = DaemonProcess(config, env).wait_ready()  # the history survives a restart
    try:
        (kept,) = daemon.get("/api/v1/incidents").json()["incidents"]
        assert kept == done
    finally:
        assert daemon.stop() == 0


@pytest.mark.system
def test_the_daemon_prunes_what_is_older_than_the_retention(
    simulator: Simulator, tmp_path: Path
) -> None:
    ago = time.time() - 500 * 86400  # older than the default 400 days
    store = store_with(
        tmp_path / "state",
        [
            row("kit", "closed", "open", "manual", ago - T0),
            row("kit", "open", "closed", "manual", ago - T0 + 5),
        ],
    )
    store.close()  # fmt: skip
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:

        def left() -> int:
            db = sqlite3.connect(tmp_path / "state" / "state.db")
            try:
                return int(db.execute("SELECT COUNT(*) FROM transitions").fetchone()[0])
            finally:
                db.close()

        daemon.until(lambda: left() == 0, what="the old transitions to go")
    finally:
        assert daemon.stop() == 0


@pytest.mark.system
def test_the_months_report_counts_the_outage_against_the_sla(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state").replace(
        'name = "kit"\n', 'name = "kit"\nsla = 99.9\n', 1
    )
    config.write_text(text)
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    month = datetime.now(UTC).strftime("%Y-%m")  # the month under way: to now
    try:
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("kit") == "closed", 20, "kit to close")
        report = daemon.get(f"/api/v1/report?month={month}").json()
        kit = next(r for r in report["reports"] if r["integration"] == "kit")
        assert kit["incidents"] == 1
        assert kit["sla_percent"] == 99.9
        assert kit["downtime_minutes"] > 0
        hubspot = next(r for r in report["reports"] if r["integration"] == "hubspot")
        assert (hubspot["availability_percent"], hubspot["below_sla"]) == (100.0, None)
        table = breakerwatch("report", "kit", "--month", month, "--url", daemon.url)
        assert table.returncode == 0, table.stderr
        assert f"{month} (UTC):" in table.stdout
        assert "kit          " in table.stdout
        assert "99.9%" in table.stdout
        wrong = breakerwatch("report", "--month", "13/2026", "--url", daemon.url)
        assert (wrong.returncode, wrong.stderr) == (
            1, "month: '13/2026' is not a month: give one as 2026-11\n",
        )  # fmt: skip
        assert daemon.get("/api/v1/report?integration=nope").status_code == 404
    finally:
        assert daemon.stop() == 0
