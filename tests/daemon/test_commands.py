"""The CLI commands other than `run`, and the metrics page on its own."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from freezegun import freeze_time

from alerts.sinks import FailureReason, SinkStats
from daemon.cli import main
from daemon.config import load
from daemon.metrics import (
    DaemonStats,
    HttpStats,
    ProbeStats,
    Row,
    accepts_gzip,
    process_registry,
    render,
)
from daemon.starter import VENDORS
from probes import Breaker, BreakerConfig, Kind, Outcome, Reason, Result, Stop
from simulator import Simulator
from tests.daemon.harness import BREAKERWATCH, config_text, environment
from tests.fakes.http_server import Reply, ScriptedServer
from tests.simulator.helpers import admin


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BREAKERWATCH, *args], capture_output=True, text=True, timeout=30, env=env, check=False
    )


@pytest.mark.system
def test_check_says_ok_or_lists_every_problem(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    good = run("check", "--config", str(config), env=environment(simulator))
    assert (good.returncode, good.stdout) == (
        0, f"{config}: OK: 4 integrations (kit, hubspot, mailchimp, sendgrid)\n",
    )  # fmt: skip
    bad = run("check", "--config", str(config), env={"PATH": "/usr/bin"})
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        f"{config}: integrations[{i}].{field}: the environment variable {var} is not set"
        for i, (field, var) in enumerate([("api_key", "KIT_KEY"), ("token", "HUBSPOT_KEY"),
                                          ("api_key", "MAILCHIMP_KEY"), ("api_key", "SENDGRID_KEY")])
    ]  # fmt: skip


@pytest.mark.system
def test_init_writes_a_valid_commented_starter_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    first = run("init", str(path))
    assert first.returncode == 0
    assert first.stdout.startswith(f"wrote {path}: every integration in it is commented out.")
    text = path.read_text()
    assert text.startswith("# breakerwatch configuration.")
    assert "[defaults.breaker]" in text
    assert load(path, environ={}).integrations == ()  # unedited, it probes nothing
    path.write_text("# mine\n")
    again = run("init", str(path))
    assert (again.returncode, again.stderr) == (
        1,
        f"{path} already exists; pass --force to overwrite it\n",
    )
    assert path.read_text() == "# mine\n"
    assert run("init", str(path), "--force").returncode == 0
    assert path.read_text() == text


@pytest.mark.system
def test_init_with_vendors_writes_just_those_and_check_passes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    done = run("init", str(path), "--vendors", "hubspot,ConvertKit,http")
    assert done.stdout == (
        f"wrote {path}. Set the secrets it references (HUBSPOT_TOKEN, KIT_API_KEY), then run "
        f"`breakerwatch check --config {path}`.\n"
    )
    env = {"HUBSPOT_TOKEN": "pat-na1-test", "KIT_API_KEY": "kit-key"}
    assert [i.name for i in load(path, environ=env).integrations] == ["hubspot", "kit", "billing"]
    checked = run("check", "--config", str(path), env=env)
    assert (checked.returncode, checked.stdout) == (
        0, f"{path}: OK: 3 integrations (hubspot, kit, billing)\n",
    )  # fmt: skip
    every = tmp_path / "every.toml"
    assert run("init", str(every), "--vendors", ",".join(VENDORS)).returncode == 0
    secrets = {"MAILCHIMP_API_KEY": "k-us1", "SENDGRID_API_KEY": "s", **env}
    assert len(load(every, environ=secrets).integrations) == len(VENDORS)
    wrong = run("init", str(tmp_path / "x.toml"), "--vendors", "hubspot,zoho")
    assert (wrong.returncode, wrong.stderr) == (
        1, "--vendors: unknown vendor 'zoho': choose from mailchimp, hubspot, kit, sendgrid, http\n",
    )  # fmt: skip
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.system
def test_probe_explain(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    env = environment(simulator)
    ok = run("probe", "hubspot", "--explain", "--config", str(config), env=env)
    assert ok.returncode == 0
    lines = ok.stdout.splitlines()
    assert (
        lines[0]
        == f"probe hubspot (hubspot): GET {simulator.base_url('hubspot')}/account-info/v3/details"
    )
    assert "  authorization: [REDACTED]" in lines
    assert any(line.startswith("  attempt 1: HTTP 200 in ") and "connect" in line for line in lines)
    assert lines[-2:] == [
        "outcome: success",
        "breaker: closed -> closed (a fresh breaker: none is saved; this run is not saved)",
    ]
    admin(simulator, "PUT", "/hubspot/mode", {"mode": "5xx", "status": 502})
    failed = run("probe", "hubspot", "--config", str(config), env=env)
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        "outcome: failure (http_5xx): HTTP 502 Bad Gateway: internal error",
        "breaker: closed -> closed (a fresh breaker: none is saved; this run is not saved); "
        "1 of 2 consecutive failures before it opens",
        "verdict: Unknown: no vendor status page to ask (status_page)",
    ]
    page = f'base_url = "{simulator.base_url("hubspot")}"\n'
    config.write_text(config.read_text().replace(
        page, page + f'status_page = "{simulator.status_page("hubspot")}"\n'))  # fmt: skip
    admin(simulator, "POST", "/hubspot/status-incident", {"name": "CRM down", "impact": "critical"})
    confirmed = run("probe", "hubspot", "--config", str(config), env=env)
    host = simulator.url.removeprefix("http://")
    assert confirmed.stdout.splitlines()[-1].startswith(
        f'verdict: The vendor confirms: {host} reports "CRM down" (critical, investigating), since '
    ), confirmed.stdout
    unknown = run("probe", "salesforce", "--config", str(config), env=env)
    assert unknown.returncode == 1
    assert "no integration named 'salesforce'" in unknown.stdout


STATUS = {
    "version": "0.1.0",
    "summary": "2 integrations: 1 closed, 1 open",
    "integrations": [
        {"name": "hubspot", "kind": "hubspot", "state": "open", "since": 1_795_858_140.0,
         "opened_at": 1_795_858_140.0, "open_until": 1_795_858_230.0, "consecutive_failures": 5,
         "failure_rate": 1.0, "trip_streak": 2, "interval": 30.0, "rate_limit_remaining": None,
         "last_probe": {"at": 1_795_858_195.0, "outcome": "failure", "reason": "http_5xx",
                        "status": 503, "latency": 0.1234, "attempts": 3, "error": "HTTP 503",
                        "detail": "HTTP 503 Service Unavailable"},
         "verdict": {"kind": "only_us_so_far", "detail": "x", "link": None, "since": None,
                     "line": "Only us so far: status.hubspot.com says All Systems Operational"}},
        {"name": "kit", "kind": "convertkit", "state": "closed", "since": 1_795_850_000.0,
         "opened_at": None, "open_until": None, "consecutive_failures": 0, "failure_rate": 0.0,
         "trip_streak": 0, "interval": 30.0, "rate_limit_remaining": None,
         "last_probe": {"at": 1_795_858_190.0, "outcome": "success", "reason": None,
                        "status": 200, "latency": 0.045, "attempts": 1, "error": None, "detail": ""}},
    ],
}  # fmt: skip


@freeze_time("2026-11-28 09:30:00")  # 1_795_858_200
def test_status_prints_a_table(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.default = Reply(body=json.dumps(STATUS).encode())
    assert main(["status", "--url", server.url], environ={}) == 0
    assert capsys.readouterr().out == (
        "INTEGRATION  KIND        STATE   SINCE   FAILURES  LAST PROBE       LATENCY  NEXT TRIAL  LAST ERROR\n"
        "hubspot      hubspot     open    1m ago  5         failure 5s ago   123ms    in 30s      HTTP 503 Service Unavailable\n"
        "kit          convertkit  closed  2h ago  0         success 10s ago  45ms     -           -\n"
        "\n2 integrations: 1 closed, 1 open\n"
        "verdict: hubspot: Only us so far: status.hubspot.com says All Systems Operational\n"
    )


def test_status_without_a_daemon_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", "http://127.0.0.1:9"], environ={}) == 1
    assert capsys.readouterr().err == (
        "no breakerwatch daemon answers at http://127.0.0.1:9 (is it running? --url sets the address)\n"
    )


def sample_page() -> str:
    """A metrics page with every optional series present."""
    breaker = Breaker("billing", BreakerConfig(failure_threshold=1))
    stats = ProbeStats()
    failure = Outcome(Kind.FAILURE, Reason.TIMEOUT, error="ReadTimeout", detail="timed out")
    stats.observe(Result("billing", Outcome(Kind.SUCCESS), None, 2, 0.3, Stop.DONE), 1000.0)
    stats.observe(Result("billing", failure, None, 1, 12.0, Stop.ATTEMPTS), 1010.0)
    breaker.record(breaker.acquire(), failure)
    stats.rate_limit_remaining = 42
    stats.tls_expiry = 1_900_000_000.0
    held = Breaker("sendgrid", wall=lambda: 1500.0)
    held.disable()
    rows = [Row("billing", breaker, stats), Row("kit", Breaker("kit"), ProbeStats()),
            Row("sendgrid", held, ProbeStats())]  # fmt: skip
    slack = SinkStats(sent=3, depth=2, exactly_once=True)
    slack.failed(FailureReason.RATE_LIMITED)
    slack.looked("found")
    sinks = {"slack": slack, "console": SinkStats(sent=3, exactly_once=False),
             "alertmanager-1": SinkStats()}  # fmt: skip
    daemon = DaemonStats(1, 1000.0, local_trouble=1)
    daemon.failed_locally("EMFILE")
    http = HttpStats(512, open=3, evicted=1)
    http.refuse("unauthorized")
    vendor = {"billing": ("major", 2), "kit": ("unknown", 0)}
    return b"".join(render(rows, daemon, process_registry(), 2000.0, sinks, http, vendor)).decode()


def test_the_metrics_page_counts_what_happened() -> None:
    page = sample_page()
    for line in (
        'breakerwatch_breaker_state{integration="billing",state="open"} 1',
        'breakerwatch_breaker_state{integration="kit",state="closed"} 1',
        'breakerwatch_probes_total{integration="billing"} 2',
        'breakerwatch_probe_failures_total{integration="billing",reason="timeout"} 1',
        'breakerwatch_retries_total{integration="billing"} 1',
        'breakerwatch_probe_duration_seconds_bucket{integration="billing",le="0.5"} 1',
        'breakerwatch_probe_duration_seconds_bucket{integration="billing",le="30.0"} 2',
        'breakerwatch_probe_duration_seconds_count{integration="billing"} 2',
        'breakerwatch_probe_duration_seconds_sum{integration="billing"} 12.3',
        'breakerwatch_probe_success{integration="billing"} 0',
        'breakerwatch_probe_http_status_code{integration="billing"} 0',
        'breakerwatch_probe_last_success_timestamp_seconds{integration="billing"} 1000.0',
        'breakerwatch_rate_limit_remaining{integration="billing"} 42',
        'breakerwatch_probes_total{integration="kit"} 0',
        "breakerwatch_config_last_reload_successful 1",
        'breakerwatch_notifications_total{channel="slack"} 3',
        'breakerwatch_notification_failures_total{channel="slack",reason="rate_limited"} 1',
        'breakerwatch_notification_failures_total{channel="slack",reason="auth"} 0',
        'breakerwatch_notification_queue_depth{channel="slack"} 2',
        'breakerwatch_notification_queue_depth{channel="console"} 0',
        'breakerwatch_notification_exactly_once{channel="slack"} 1',
        'breakerwatch_notification_exactly_once{channel="console"} 0',
        'breakerwatch_notification_lookups_total{channel="slack",outcome="found"} 1',
        'breakerwatch_notification_lookups_total{channel="slack",outcome="unsure"} 0',
        'breakerwatch_breaker_override_since_timestamp_seconds{integration="sendgrid",'
        'mode="disabled"} 1500.0',
        "breakerwatch_local_trouble 1",
        'breakerwatch_local_failures_total{reason="EMFILE"} 1',
        "breakerwatch_http_connections 3",
        "breakerwatch_http_connections_limit 512",
        "breakerwatch_http_connections_evicted_total 1",
        'breakerwatch_http_requests_refused_total{reason="unauthorized"} 1',
        'breakerwatch_http_requests_refused_total{reason="misdirected"} 0',
        'breakerwatch_vendor_status{integration="billing",indicator="major"} 1',
        'breakerwatch_vendor_status{integration="billing",indicator="none"} 0',
        'breakerwatch_vendor_status{integration="kit",indicator="unknown"} 1',
        'breakerwatch_vendor_incidents{integration="billing"} 2',
    ):
        assert line + "\n" in page
    assert (
        'breakerwatch_breaker_open_until_timestamp_seconds{integration="billing"} 2030.0'
        not in page
    )
    assert 'breakerwatch_breaker_open_until_timestamp_seconds{integration="billing"}' in page
    # Every reason from the start, at 0 until it happens: increase() sees the first failure.
    assert 'breakerwatch_probe_failures_total{integration="kit",reason="auth"} 0\n' in page
    assert 'breakerwatch_local_failures_total{reason="PROXY"} 0\n' in page
    assert 'breakerwatch_probe_http_status_code{integration="kit"}' not in page  # no probe yet
    # Alertmanager dedupes by itself: it has no say on exactly once.
    assert 'exactly_once{channel="alertmanager-1"}' not in page


NO_PROMTOOL = "promtool is not installed (.ci/run installs Debian's prometheus package)"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=NO_PROMTOOL)
@pytest.mark.system
def test_promtool_accepts_every_series() -> None:
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=sample_page(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),  # what Prometheus sends
        ("gzip, deflate, br", True),
        ("br;q=1.0, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*;q=0.5, gzip;q=0", False),
        ("identity", False),
        ("deflate", False),
        ("gzip;q=nonsense", False),
        ("", False),
        (None, False),
    ],
)
def test_gzip_is_served_only_where_accept_encoding_accepts_it(
    header: str | None, gzip: bool
) -> None:
    assert accepts_gzip(header) is gzip
