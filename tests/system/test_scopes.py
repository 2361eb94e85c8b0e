"""A credential that lacks the scopes its writes need, end to end: the daemon as a process,
the simulator's HubSpot and SendGrid over real sockets, the fake Slack. One message when
the scope goes missing (its own words, not a breaker opening), nothing more across a
restart, an edit and a thread reply when it is granted again; the same in /metrics,
/api/v1/status and `breakerwatch status`; `check --online` says it before deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import (
    DaemonProcess,
    alerts_config,
    breakerwatch,
    config_file,
    config_text,
    environment,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system
WRITE = "crm.objects.contacts.write"
LACKS = f"hubspot: the credential lacks {WRITE}; writes will be refused"


def configure(sim: Simulator, slack: FakeSlack, tmp_path: Path) -> Path:
    text = config_text(sim, tmp_path / "state", extra=alerts_config(slack.api_url))
    text = text.replace("[daemon]\n", '[daemon]\nscope_check_interval = "1s"\n', 1)
    return config_file(tmp_path, text)


def test_a_missing_scope_is_told_once_across_a_restart_and_its_return_is_an_edit(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth", "crm.objects.contacts.read"]})
    config = configure(simulator, slack, tmp_path)
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token")
    daemon = DaemonProcess(config, env).wait_ready()
    (message,) = daemon.until(slack.top_level, what="the scopes alert")
    assert message.text is not None
    assert message.text.startswith(LACKS + "\n"), message.text
    status = daemon.status()
    assert status["hubspot"]["state"] == "closed"  # not a breaker opening
    assert status["hubspot"]["scopes"]["missing"] == [WRITE]
    assert status["sendgrid"]["scopes"]["missing"] == []  # SendGrid's key has them all
    assert status["kit"]["scopes"] is None  # Kit cannot tell
    metrics = daemon.get("/metrics").text
    assert 'breakerwatch_credential_scopes_missing{integration="hubspot"} 1' in metrics
    assert 'breakerwatch_credential_scopes_missing{integration="sendgrid"} 0' in metrics
    shown = breakerwatch("status", "--url", daemon.url, env=env)
    assert f"scopes: {LACKS}" in shown.stdout.splitlines(), shown.stdout
    assert daemon.stop() == 0

    daemon = DaemonProcess(config, env).wait_ready()  # still missing: nothing new to tell
    daemon.until(lambda: daemon.status()["hubspot"]["scopes"]["checked_at"], what="a check")
    admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth", WRITE]})
    daemon.until(lambda: message.edits, what="the edit")
    assert len(slack.top_level()) == 1
    (edited,) = slack.top_level()
    assert edited.text is not None
    assert edited.text.startswith("hubspot: the credential has every scope it needs again")
    (reply,) = daemon.until(lambda: slack.replies(message.ts), what="the thread reply")
    assert reply.text is not None
    assert reply.text.startswith("Every scope granted after")
    assert daemon.stop() == 0


def test_check_online_says_what_a_credential_lacks_before_deployment(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    env = environment(simulator)
    ok = breakerwatch("check", "--online", "--config", str(config), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert any(line.startswith("hubspot: OK: probe ok in ") and line.endswith(f"has {WRITE}")
               for line in lines), lines  # fmt: skip
    cannot = "convertkit cannot tell what a credential may do"
    assert any(line.startswith("kit: OK: probe ok in ") and line.endswith(cannot)
               for line in lines)  # fmt: skip
    admin(simulator, "PUT", "/sendgrid/scopes", {"scopes": ["mail.send"]})
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "5xx", "status": 502})
    bad = breakerwatch("check", "--online", "--config", str(config), env=env)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert any(line.startswith("sendgrid: FAILED: probe ok in ") and line.endswith(
        "but the credential lacks marketing_campaigns.create, marketing_campaigns.read, "
        "marketing_campaigns.update; writes will be refused") for line in lines), lines  # fmt: skip
    assert any(line.startswith("mailchimp: FAILED: the probe failed (http_5xx): HTTP 502")
               for line in lines), lines  # fmt: skip
    for secret in simulator.credentials.values():
        assert secret not in bad.stdout + bad.stderr
