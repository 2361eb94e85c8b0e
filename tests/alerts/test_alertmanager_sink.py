"""The Alertmanager sink against a real Alertmanager (Debian's), one of its peers down."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme

from alerts.alertmanager import Ledger
from alerts.model import Facts, Failure, IncidentKind
from alerts.sinks import FailureReason, SinkError
from alerts.sinks.alertmanager import AlertmanagerSink, channel_name, push
from tests.alertmanagers import Alertmanagers, needs_alertmanager
from tests.fakes.http_server import ScriptedServer
from tests.fakes.slack import FakeSlack
from tests.support import free_port

pytestmark = [needs_alertmanager, pytest.mark.system]

DOWN = Failure("http_5xx", 503, "HTTP 503", "HTTP 503 Service Unavailable")
BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))


@pytest.fixture
def alertmanager(tmp_path: Path, slack: FakeSlack) -> Any:
    with Alertmanagers(tmp_path / "am", slack.webhook_url(), count=1) as cluster:
        yield cluster


async def _until(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {check}")


def test_alerts_reach_one_alertmanager_while_another_is_down(
    alertmanager: Alertmanagers, caplog: pytest.LogCaptureFixture
) -> None:
    up = alertmanager.urls[0]
    down = f"http://127.0.0.1:{free_port()}"
    incidents: dict[str, Facts] = {}

    async def scenario() -> None:
        sink = AlertmanagerSink(
            (down, up), Ledger(3.0), lambda: incidents, resend_interval=3.0, wall=time.time
        )
        task = asyncio.ensure_future(sink.run())
        incidents["kit"] = Facts("kit", IncidentKind.OUTAGE, time.time(), DOWN, 3)
        sink.wake()
        (alert,) = await _until(lambda: alertmanager.alerts(up))
        assert alert["labels"] == {
            "alertname": "BreakerwatchIntegrationFailing",
            "integration": "kit",
            "reason": "http_5xx",
            "severity": "page",
            "verdict": "unknown",
        }
        assert alert["annotations"]["summary"] == "kit is failing: breaker open"
        assert alert["status"]["state"] == "active"
        sent = sink.stats[channel_name(up)].sent
        await _until(lambda: sink.stats[channel_name(up)].sent > sent)  # re-sent unchanged
        del incidents["kit"]
        sink.wake()
        # resolved at once: its endsAt (12 s ahead) would take far longer
        await _until(lambda: alertmanager.alerts(up) == [], timeout=3)
        failed = sink.stats[channel_name(down)]
        assert failed.failures[FailureReason.NETWORK] >= 2  # retried, with backoff
        assert failed.depth == 1  # it has not heard of the resolved alert
        assert sink.stats[channel_name(up)].depth == 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.INFO, logger="breakerwatch.alerts"):
        asyncio.run(scenario())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # when it started failing, not at every retry
    assert warnings[0].startswith(f"{channel_name(down)}: cannot deliver (")


def test_what_alertmanager_refuses_is_a_payload_failure(alertmanager: Alertmanagers) -> None:
    async def post() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            await push(http, alertmanager.urls[0], [{"labels": {"alertname": "X"}}])
            with pytest.raises(SinkError) as refused:
                await push(http, alertmanager.urls[0], [{"labels": {}, "startsAt": "soon"}])
            assert refused.value.reason is FailureReason.PAYLOAD
            assert str(refused.value).startswith("HTTP 400")

    asyncio.run(post())


def test_test_alert_goes_to_every_alertmanager(alertmanager: Alertmanagers, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[alerts.alertmanager]\nurls = ["{alertmanager.urls[0]}", "{down}"]\n'
        'labels = { team = "growth" }\n'
    )
    done = subprocess.run(
        [BREAKERWATCH, "test-alert", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1  # one of them failed
    lines = done.stdout.splitlines()
    assert (
        lines[0]
        == f"{channel_name(alertmanager.urls[0])}: sent BreakerwatchTest (resolves in 5 minutes)"
    )
    assert lines[1].startswith(f"{channel_name(down)}: FAILED: ")
    (alert,) = alertmanager.alerts(alertmanager.urls[0])
    assert alert["labels"] == {
        "alertname": "BreakerwatchTest",
        "severity": "info",
        "team": "growth",
    }


PASSWORD = "am-pass-CANARY-0123"


@pytest.fixture
def guarded(tmp_path: Path, slack: FakeSlack) -> Any:
    """A real Alertmanager behind its own --web.config.file: TLS with a client certificate
    required, and basic auth; and the PEM files a client needs to get past it."""
    ca = trustme.CA()
    pem = {name: tmp_path / f"{name}.pem" for name in ("ca", "server", "server-key", "client",
                                                       "client-key")}  # fmt: skip
    ca.cert_pem.write_to_path(str(pem["ca"]))
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("breakerwatch@example.com")
    server.cert_chain_pems[0].write_to_path(str(pem["server"]))
    server.private_key_pem.write_to_path(str(pem["server-key"]))
    client.cert_chain_pems[0].write_to_path(str(pem["client"]))
    client.private_key_pem.write_to_path(str(pem["client-key"]))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    web = {
        "tls_server_config": {"cert_file": str(pem["server"]), "key_file": str(pem["server-key"]),
                              "client_auth_type": "RequireAndVerifyClientCert",
                              "client_ca_file": str(pem["ca"])},
        "basic_auth_users": {"breakerwatch": hashed},
    }  # fmt: skip
    trust = ssl.create_default_context(cafile=pem["ca"])
    trust.load_cert_chain(pem["client"], pem["client-key"])
    access = {"verify": trust, "auth": ("breakerwatch", PASSWORD)}
    with Alertmanagers(tmp_path / "am", slack.webhook_url(), 1, web, access) as cluster:
        yield cluster, pem


def test_an_alertmanager_behind_tls_and_basic_auth_hears_our_alerts(
    guarded: tuple[Alertmanagers, dict[str, Path]], tmp_path: Path
) -> None:
    cluster, pem = guarded
    (url,) = cluster.urls
    config = tmp_path / "config.toml"

    def test_alert(password: str, tls: str) -> subprocess.CompletedProcess[str]:
        config.write_text(
            f'[alerts.alertmanager]\nurls = ["{url}"]\n'
            '[alerts.alertmanager.basic_auth]\nusername = "breakerwatch"\n'
            f'password = "env:AM_PASSWORD"\n[alerts.alertmanager.tls]\n{tls}'
        )
        return subprocess.run(
            [BREAKERWATCH, "test-alert", "--config", str(config)], capture_output=True,
            text=True, timeout=30, check=False, env={"AM_PASSWORD": password},
        )  # fmt: skip

    full = f'ca_file = "{pem["ca"]}"\ncert_file = "{pem["client"]}"\nkey_file = "client-key.pem"\n'
    sent = test_alert(PASSWORD, full)
    assert (sent.returncode, sent.stdout) == (
        0, f"{channel_name(url)}: sent BreakerwatchTest (resolves in 5 minutes)\n",
    )  # fmt: skip
    (alert,) = cluster.alerts(url)
    assert alert["labels"]["alertname"] == "BreakerwatchTest"
    wrong = test_alert("wrong-password", full)
    assert "FAILED: HTTP 401" in wrong.stdout, wrong.stdout
    no_certificate = test_alert(PASSWORD, f'ca_file = "{pem["ca"]}"\n')
    assert no_certificate.returncode == 1
    assert "FAILED" in no_certificate.stdout
    untrusted = test_alert(
        PASSWORD, f'cert_file = "{pem["client"]}"\nkey_file = "client-key.pem"\n'
    )
    assert "FAILED" in untrusted.stdout
    assert "certificate" in untrusted.stdout, untrusted.stdout
    missing = test_alert(PASSWORD, 'cert_file = "nowhere.pem"\nkey_file = "client-key.pem"\n')
    assert missing.returncode == 1
    assert missing.stderr == (
        f"{config}: alerts.alertmanager.tls: {tmp_path / 'nowhere.pem'} does not exist\n"
    )
    for done in (sent, wrong, no_certificate, untrusted, missing):
        assert PASSWORD not in done.stdout + done.stderr


def test_a_bearer_token_goes_in_the_authorization_header(
    server: ScriptedServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[alerts.alertmanager]\nurls = ["{server.url}"]\nbearer_token = "env:AM_TOKEN"\n'
    )
    done = subprocess.run(
        [BREAKERWATCH, "test-alert", "--config", str(config)], capture_output=True, text=True,
        timeout=30, check=False, env={"AM_TOKEN": "token-CANARY"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (seen,) = server.requests
    assert (seen.path, seen.headers["Authorization"]) == ("/api/v2/alerts", "Bearer token-CANARY")
    assert "token-CANARY" not in done.stdout + done.stderr
    both = (
        config.read_text()
        + '[alerts.alertmanager.basic_auth]\nusername = "u"\npassword = "env:AM_TOKEN"\n'
    )
    config.write_text(both)
    refused = subprocess.run(
        [BREAKERWATCH, "check", "--config", str(config)], capture_output=True, text=True,
        timeout=30, check=False, env={"AM_TOKEN": "token-CANARY"},
    )  # fmt: skip
    assert refused.stderr == (
        f"{config}: alerts.alertmanager.bearer_token: set basic_auth or bearer_token, not both\n"
    )
