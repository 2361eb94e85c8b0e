"""The daemon as a real process against the simulator: the whole probing life cycle."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.state import SCHEMA_VERSION
from simulator import Simulator
from tests.daemon.harness import (
    BREAKERWATCH,
    DaemonProcess,
    breakerwatch,
    config_text,
    environment,
)
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process


@pytest.fixture
def setup(simulator: Simulator, tmp_path: Path) -> tuple[Simulator, Path, dict[str, str]]:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    return simulator, config, environment(simulator)


@pytest.fixture
def daemon(setup: tuple[Simulator, Path, dict[str, str]]) -> Iterator[DaemonProcess]:
    _, config, env = setup
    process = DaemonProcess(config, env).wait_ready()
    yield process
    assert process.stop() == 0


def requests_to(sim: Simulator, vendor: str) -> int:
    return len(admin(sim, "GET", f"/{vendor}/requests").json()["requests"])


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{wanted}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found[1]) if found else None


def test_start_ready_probe_and_export(daemon: DaemonProcess, simulator: Simulator) -> None:
    assert daemon.get("/healthz").status_code == 200
    daemon.until(
        lambda: all(i["last_probe"] for i in daemon.status().values()), what="a probe each"
    )
    text = daemon.get("/metrics").text
    for name in ("kit", "hubspot", "mailchimp", "sendgrid"):
        assert metric(text, "breakerwatch_breaker_state", integration=name, state="closed") == 1
        assert metric(text, "breakerwatch_breaker_state", integration=name, state="open") == 0
        assert (metric(text, "breakerwatch_probes_total", integration=name) or 0) >= 1
        assert metric(text, "breakerwatch_probe_success", integration=name) == 1
    assert metric(text, "breakerwatch_rate_limit_remaining", integration="hubspot") is not None
    assert "process_resident_memory_bytes" in text
    assert "breakerwatch_build_info{python_version=" in text
    status = daemon.status()["kit"]
    assert (status["kind"], status["state"], status["last_probe"]["outcome"]) == (
        "convertkit", "closed", "success",
    )  # fmt: skip


def test_an_outage_opens_stops_probing_and_recovers(
    daemon: DaemonProcess, simulator: Simulator
) -> None:
    admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
    daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
    seen = requests_to(simulator, "kit")
    time.sleep(1.0)  # two intervals; the trial is at least 1.6 s after the opening
    assert requests_to(simulator, "kit") == seen  # nothing is sent while open
    text = daemon.get("/metrics").text
    assert (metric(text, "breakerwatch_probes_rejected_total", integration="kit") or 0) >= 1
    assert metric(text, "breakerwatch_breaker_open_until_timestamp_seconds", integration="kit")
    admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
    daemon.until(lambda: daemon.state("kit") == "closed", timeout=20, what="kit to close")
    text = daemon.get("/metrics").text
    transitions = {
        pair: metric(text, "breakerwatch_breaker_transitions_total", integration="kit",
                     from_state=pair[0], to_state=pair[1])
        for pair in (("closed", "open"), ("open", "half_open"), ("half_open", "closed"))
    }  # fmt: skip
    assert all(count and count >= 1 for count in transitions.values()), transitions
    assert (
        metric(text, "breakerwatch_probe_failures_total", integration="kit", reason="http_5xx") or 0
    ) >= 2
    log = daemon.output
    assert (
        "kit: breaker closed -> open (consecutive_failures; 2 consecutive failures; last: HTTP 500"
        in log
    )
    assert "kit: breaker half_open -> closed (trial_succeeded)" in log
    assert daemon.state("hubspot") == "closed"  # the others carried on


def test_kill_9_keeps_an_open_breaker_open(
    simulator: Simulator, tmp_path: Path, setup: tuple[Simulator, Path, dict[str, str]]
) -> None:
    _, config, env = setup
    config.write_text(config_text(simulator, tmp_path / "state", reset="60s"))
    first = DaemonProcess(config, env).wait_ready()
    admin(simulator, "PUT", "/hubspot/mode", {"mode": "5xx"})
    first.until(lambda: first.state("hubspot") == "open", what="hubspot to open")
    open_until = first.status()["hubspot"]["open_until"]
    first.kill()  # SIGKILL: no shutdown, no final save
    admin(simulator, "PUT", "/hubspot/mode", {"mode": "healthy"})
    admin(simulator, "DELETE", "/hubspot/requests")
    second = DaemonProcess(config, env).wait_ready()
    try:
        restored = second.status()["hubspot"]
        assert restored["state"] == "open"
        assert restored["open_until"] == pytest.approx(open_until, abs=1.5)
        second.until(lambda: second.status()["kit"]["last_probe"], what="a probe of kit")
        time.sleep(1.0)
        assert requests_to(simulator, "hubspot") == 0  # still open: not probed
        assert "hubspot: breaker" not in second.output  # restoring is not a transition
    finally:
        assert second.stop() == 0


def test_reload_a_good_config_then_a_bad_one(
    daemon: DaemonProcess, setup: tuple[Simulator, Path, dict[str, str]], tmp_path: Path
) -> None:
    simulator, config, _ = setup
    daemon.until(lambda: daemon.status()["kit"]["last_probe"], what="a first probe")
    extra = (
        '\n[[integrations]]\nname = "billing"\nkind = "http"\n'
        f'url = "{simulator.url}/endpoint/healthz"\n'
    )
    config.write_text(config_text(simulator, tmp_path / "state", extra=extra).replace(
        'name = "sendgrid"', 'name = "sendgrid"\ninterval = "2s"'
    ))  # fmt: skip
    daemon.signal(signal.SIGHUP)
    daemon.until(lambda: "billing" in daemon.status(), what="billing to be added")
    daemon.until(lambda: "1 added, 1 changed, 0 removed, 3 unchanged" in daemon.output)
    assert metric(daemon.get("/metrics").text, "breakerwatch_config_last_reload_successful") == 1
    config.write_text("[defaults]\ninterval = 'soon'\n")
    daemon.signal(signal.SIGHUP)
    failed = "reload (SIGHUP) failed, keeping the running configuration"
    daemon.until(lambda: failed in daemon.output)
    assert "defaults.interval: must be a duration" in daemon.output
    assert metric(daemon.get("/metrics").text, "breakerwatch_config_last_reload_successful") == 0
    assert set(daemon.status()) == {"kit", "hubspot", "mailchimp", "sendgrid", "billing"}


def test_sigterm_stops_cleanly_and_saves_the_breakers(
    setup: tuple[Simulator, Path, dict[str, str]], tmp_path: Path
) -> None:
    _, config, env = setup
    process = DaemonProcess(config, env).wait_ready()
    process.until(lambda: process.status()["kit"]["last_probe"], what="a probe")
    assert process.stop() == 0
    assert "stopping: letting in-flight probes finish" in process.output
    assert process.output.rstrip().endswith("stopped")
    saved = (
        sqlite3.connect(tmp_path / "state" / "state.db")
        .execute("SELECT integration FROM breakers ORDER BY integration")
        .fetchall()
    )
    assert saved == [("hubspot",), ("kit",), ("mailchimp",), ("sendgrid",)]
    assert "Traceback" not in process.output


def test_operator_actions_persist_across_restarts(
    setup: tuple[Simulator, Path, dict[str, str]],
) -> None:
    _, config, env = setup
    first = DaemonProcess(config, env).wait_ready()
    unexplained = breakerwatch("breaker", "sendgrid", "force-open", "--url", first.url)
    assert (unexplained.returncode, unexplained.stderr) == (
        2, "breakerwatch breaker: force-open needs --reason (it is told in Slack)\n",
    )  # fmt: skip
    run = breakerwatch("breaker", "sendgrid", "force-open", "--url", first.url,
                       "--reason", "their API is migrating")  # fmt: skip
    assert (run.returncode, run.stdout) == (
        0, "sendgrid: breaker forced_open by local (saved: it stays so across restarts)\n",
    )  # fmt: skip
    assert first.stop() == 0
    assert "sendgrid: breaker forced_open by local: their API is migrating" in first.output
    second = DaemonProcess(config, env).wait_ready()
    try:
        assert second.state("sendgrid") == "forced_open"
        held = second.status()["sendgrid"]["override"]
        assert (held["mode"], held["by"], held["reason"]) == (
            "forced_open", "local", "their API is migrating",
        )  # fmt: skip
        table = breakerwatch("status", "--url", second.url)
        assert "held: sendgrid forced open by local " in table.stdout
        assert "ago: their API is migrating" in table.stdout
        reset = breakerwatch("breaker", "sendgrid", "reset", "--url", second.url)
        assert reset.returncode == 0
        assert second.state("sendgrid") == "closed"
        assert second.status()["sendgrid"]["override"] is None
        assert "sendgrid: breaker reset by local (it was forced_open by local)" in second.output
        missing = breakerwatch("breaker", "nope", "reset", "--url", second.url)
        assert (missing.returncode, missing.stderr) == (1, "no integration named 'nope'\n")
    finally:
        assert second.stop() == 0


def test_a_taken_port_is_one_sentence_and_exit_1(
    setup: tuple[Simulator, Path, dict[str, str]],
) -> None:
    _, config, env = setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))
        done = subprocess.run(
            [BREAKERWATCH, "run", "--config", str(config)],
            capture_output=True, text=True, timeout=30, env=env, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot start: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_bad_config_starts_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[integrations]]\nname = "x"\nkind = "hubspot"\ntoken = "env:NOPE"\n')
    done = subprocess.run(
        [BREAKERWATCH, "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr
        == f"{config}: integrations[0].token: the environment variable NOPE is not set\n"
    )
    assert not (tmp_path / ".breakerwatch").exists()  # nothing was started or created


def test_a_state_file_from_a_newer_version_is_refused(
    setup: tuple[Simulator, Path, dict[str, str]], tmp_path: Path
) -> None:
    _, config, env = setup
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "state.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    db.commit()
    db.close()
    done = subprocess.run(
        [BREAKERWATCH, "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        f"was written by a newer breakerwatch (schema 99; this one knows up to {SCHEMA_VERSION})"
        in done.stdout
    )


NO_PROMTOOL = "promtool is not installed (.ci/run installs Debian's prometheus package)"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=NO_PROMTOOL)
def test_promtool_finds_nothing_to_fix_in_the_metrics(
    daemon: DaemonProcess, simulator: Simulator
) -> None:
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "5xx"})
    daemon.until(lambda: daemon.state("mailchimp") == "open", what="mailchimp to open")
    text = daemon.get("/metrics").text
    assert "breakerwatch_probe_failures_total" in text
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
