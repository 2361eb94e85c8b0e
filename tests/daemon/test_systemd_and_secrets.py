"""systemd's notify protocol over a real socket, and a secret canary searched everywhere."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from simulator import Simulator
from simulator.oauth import APP
from tests.alertmanagers import BINARY as ALERTMANAGER
from tests.alertmanagers import Alertmanagers
from tests.daemon.harness import (
    BREAKERWATCH,
    DaemonProcess,
    alerts_config,
    config_text,
    environment,
    notify_life_cycle,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process


def test_the_daemon_speaks_the_notify_protocol_in_order(
    simulator: Simulator, tmp_path: Path, notify_socket: socket.socket
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    env = environment(
        simulator, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000"
    )
    daemon = DaemonProcess(config, env)
    try:
        notify_life_cycle(notify_socket, daemon, simulator)
    finally:
        assert daemon.stop() == 0


def test_without_notify_socket_nothing_is_sent(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    assert daemon.stop() == 0  # no socket, no error


CANARY = "canary-9c8b7a6f5e4d"


def test_a_canary_key_appears_in_no_output(simulator: Simulator, tmp_path: Path) -> None:
    """Plant the canary as vendor keys and the Slack token, fail in every way, alert to Slack
    and the console, then search every output."""
    key = f"{CANARY}-us21"
    simulator.vendors["mailchimp"].credentials.add(key)
    simulator.vendors["kit"].credentials.add(CANARY)
    hub_token = f"hub-{CANARY}"  # an OAuth token: its scope check puts it in the URL path
    simulator.vendors["hubspot"].credentials.add(hub_token)
    admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth"]})  # a scopes alert too
    refresh = f"refresh-{CANARY}"  # and an OAuth app's refresh token, sent at each refresh
    hub_oauth = simulator.vendors["hubspot"].oauth
    assert hub_oauth is not None
    hub_oauth.refresh.add(refresh)
    slack_token = f"xoxb-{CANARY}"
    slack = FakeSlack(tokens=(slack_token,)).__enter__()
    alerts = alerts_config(slack.api_url, "console = true\n")
    alertmanager = None  # and to an Alertmanager whose Slack receiver posts to the fake
    if ALERTMANAGER is not None:
        alertmanager = Alertmanagers(tmp_path / "am", slack.webhook_url(), count=1).__enter__()
        alerts += f'[alerts.alertmanager]\nurls = ["{alertmanager.urls[0]}"]\n'
        alerts += 'resend_interval = "1s"\n'
    app = (
        f'\n[[integrations]]\nname = "hub-app"\nkind = "hubspot"\n'
        f'base_url = "{simulator.base_url("hubspot")}"\n'
        f'oauth = {{ client_id = "{APP["client_id"]}", '
        'client_secret = "env:APP_SECRET", refresh_token = "env:APP_REFRESH" }\n'
    )
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state", extra=app + alerts))
    admin_token = f"admin-{CANARY}"  # the daemon's own secret, too
    env = environment(simulator, MAILCHIMP_KEY=key, KIT_KEY=CANARY, SLACK_TOKEN=slack_token,
                      ADMIN_TOKEN=admin_token, HUBSPOT_KEY=hub_token, APP_REFRESH=refresh,
                      APP_SECRET=APP["client_secret"])  # fmt: skip
    config.write_text(
        config.read_text()
        .replace("[daemon]\n", '[daemon]\nlog_level = "debug"\nadmin_token = "env:ADMIN_TOKEN"\n')
        .replace(  # the verdict's outputs too: kit reads its page, which has an incident
            kit := f'base_url = "{simulator.base_url("kit")}"\n',
            kit + f'status_page = "{simulator.status_page("kit")}"\n',
        )
    )
    admin(simulator, "POST", "/kit/status-incident", {"name": "API errors", "impact": "major"})
    admin(simulator, "PUT", "/kit/script", {"steps": [
        {"mode": "401"}, {"mode": "5xx"}, {"mode": "reset"}, {"mode": "malformed"},
        {"mode": "429"}, {"mode": "401", "times": 10},
    ]})  # fmt: skip
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "401"})
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        daemon.until(lambda: daemon.state("mailchimp") == "open", what="mailchimp to open")
        daemon.until(lambda: len(slack.top_level()) >= 3, what="the Slack alerts")
        daemon.until(lambda: daemon.status()["hub-app"]["last_probe"], what="the OAuth probe")
        assert daemon.status()["hub-app"]["last_probe"]["outcome"] == "success"
        assert any("hubspot: the credential lacks" in (m.text or "") for m in slack.top_level())
        outputs = [daemon.get("/metrics").text, daemon.get("/api/v1/status").text,
                   daemon.get("/api/v1/incidents").text,
                   daemon.get("/api/v1/report").text, daemon.get("/").text]  # fmt: skip
        outputs += [daemon.get(f"/integrations/{name}").text for name in daemon.status()]
        if alertmanager is not None:
            daemon.until(lambda: any(m.attachments for m in slack.top_level()), 30, "AM's")
            outputs.append(httpx.get(f"{alertmanager.urls[0]}/api/v2/alerts", timeout=5).text)
        table = subprocess.run(
            [BREAKERWATCH, "status", "--url", daemon.url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        outputs += [table.stdout, table.stderr]
        assert "verdict: kit: The vendor confirms: " in table.stdout
        operator = {**env, "BREAKERWATCH_TOKEN": admin_token, "BREAKERWATCH_URL": daemon.url}
        for command in (
            ["breaker", "sendgrid", "disable", "--reason", "rotating keys"],
            ["silence", "add", "hubspot", "--for", "1h", "--reason", "vendor maintenance"],
            ["silence", "list"],
            ["check", "--config", str(config)],
            ["test-alert", "--config", str(config)],  # with what it says of exactly once
            ["history"],
            ["history", "--csv"],
            ["report"],
        ):
            done = subprocess.run(
                [BREAKERWATCH, *command], capture_output=True, text=True, timeout=30,
                env=operator, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        wrong = httpx.post(
            daemon.url + "/api/v1/silences", json={},
            headers={"Authorization": f"Bearer {admin_token}x"},
        )  # fmt: skip
        assert wrong.status_code == 401
        outputs += [wrong.text, daemon.get("/api/v1/silences").text]
        daemon.until(lambda: any("breaker disabled by admin" in t for t in slack.texts()),
                     what="the hold told in Slack")  # fmt: skip
        explain = subprocess.run(
            [BREAKERWATCH, "probe", "kit", "--explain", "--config", str(config)],
            capture_output=True, text=True, timeout=30, env=env, check=False,
        )  # fmt: skip
        outputs += [explain.stdout, explain.stderr]
        online = subprocess.run(
            [BREAKERWATCH, "check", "--online", "--config", str(config)],
            capture_output=True, text=True, timeout=30, env=env, check=False,
        )  # fmt: skip
        assert "hubspot: FAILED: probe ok in " in online.stdout, online.stdout
        outputs += [online.stdout, online.stderr]
    finally:
        assert daemon.stop() == 0
        slack.__exit__()
        if alertmanager is not None:
            alertmanager.close()
    outputs.append(daemon.output)
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    for table in ("transitions", "breakers", "deliveries", "alert_policy", "threads",
                  "overrides", "silences"):  # fmt: skip
        outputs += [str(row) for row in db.execute(f"SELECT * FROM {table}")]
    outputs += slack.texts()  # every message body sent to Slack, edits included
    outputs += [request.body.decode() for request in slack.requests]  # webhooks too
    assert "ALERT mailchimp: our credentials were refused" in daemon.output
    assert any("credentials were refused" in text for text in slack.texts())
    assert "credential was refused" in daemon.output  # the failures did happen and were logged
    assert "x-kit-api-key: [REDACTED]" in explain.stdout
    assert "verdict: The vendor confirms: " in explain.stdout
    for text in outputs:
        assert CANARY not in text
    sent = admin(simulator, "GET", "/kit/requests").json()["requests"]
    assert any(r["headers"].get("x-kit-api-key") == CANARY for r in sent)  # it was used
    assert hub_oauth.issued >= 1  # the canary refresh token was used
    asked = admin(simulator, "GET", "/hubspot/requests").json()["requests"]
    assert any(r["path"] == f"/oauth/v1/access-tokens/{hub_token}" for r in asked)
