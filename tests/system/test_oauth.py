"""OAuth tokens that refresh, end to end: the daemon as a process, the simulator's Kit and
HubSpot token endpoints over real sockets, the fake Slack. Kit rotates its refresh tokens:
the rotated one is kept in the state file (mode 0600) and used after a restart, when the
configured one is refused, and by `check --online` while the daemon runs (which then takes
the one kept, not failing a probe); a revoked app is an auth incident that says the
refresh token was refused; no token or client secret appears in any output."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from simulator import Simulator
from simulator.oauth import APP
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
OAUTH = (
    'oauth = {{ client_id = "{client}", client_secret = "env:CLIENT_SECRET", '
    'refresh_token = "env:{vendor}_REFRESH" }}\n'
)


def configure(sim: Simulator, slack: FakeSlack, tmp_path: Path) -> Path:
    text = config_text(sim, tmp_path / "state", extra=alerts_config(slack.api_url))
    for vendor, field, variable in (("kit", "api_key", "KIT_KEY"),
                                    ("hubspot", "token", "HUBSPOT_KEY")):  # fmt: skip
        oauth = OAUTH.format(client=APP["client_id"], vendor=vendor.upper())
        text = text.replace(f'{field} = "env:{variable}"\n', oauth, 1)
    return config_file(tmp_path, text)


def test_rotated_tokens_survive_a_restart_and_a_revoked_app_is_said_in_words(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    config = configure(simulator, slack, tmp_path)
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token",
                      CLIENT_SECRET=APP["client_secret"],
                      KIT_REFRESH="sim-kit-refresh-token",
                      HUBSPOT_REFRESH="sim-hubspot-refresh-token")  # fmt: skip
    daemon = DaemonProcess(config, env).wait_ready()
    daemon.until(lambda: daemon.status()["kit"]["last_probe"], what="kit's first probe")
    daemon.until(lambda: daemon.status()["hubspot"]["last_probe"], what="hubspot's first probe")
    assert daemon.status()["kit"]["last_probe"]["outcome"] == "success"
    assert daemon.status()["hubspot"]["last_probe"]["outcome"] == "success"
    assert daemon.stop() == 0
    state = tmp_path / "state" / "state.db"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    db = sqlite3.connect(state)
    kept = dict(db.execute("SELECT integration, refresh_token FROM oauth_tokens").fetchall())
    db.close()
    assert kept == {"kit": "sim-kit-refresh-1"}  # Kit rotated it; HubSpot's does not rotate

    daemon = DaemonProcess(config, env).wait_ready()  # the configured one is refused now
    issued = admin(simulator, "GET", "").json()["vendors"]["kit"]
    daemon.until(lambda: admin(simulator, "GET", "").json()["vendors"]["kit"]["requests"]
                 > issued["requests"] + 2, what="kit probed after the restart")  # fmt: skip
    assert daemon.status()["kit"]["last_probe"]["outcome"] == "success"
    assert daemon.state("kit") == "closed"

    # check --online while the daemon runs: it uses the kept refresh token, and Kit rotates
    # it again (kept in the state); the daemon's own is refused at its next refresh, so it
    # takes the kept one and goes on without a failed probe.
    online = breakerwatch("check", "--online", "--config", str(config), env=env)
    assert online.returncode == 0, online.stdout + online.stderr
    assert any(line.startswith("kit: OK: probe ok in ") for line in online.stdout.splitlines())
    assert any(line.startswith("hubspot: OK: probe ok in ") for line in online.stdout.splitlines())
    admin(simulator, "PUT", "/kit/oauth", {"expire": True})  # the daemon must refresh now
    failures = daemon.status()["kit"]["consecutive_failures"]
    daemon.until(lambda: admin(simulator, "GET", "").json()["vendors"]["kit"]["requests"]
                 > issued["requests"] + 12, what="kit probed after the expiry")  # fmt: skip
    assert daemon.state("kit") == "closed"
    assert daemon.status()["kit"]["last_probe"]["outcome"] == "success"
    assert daemon.status()["kit"]["consecutive_failures"] == failures
    assert not slack.top_level()

    admin(simulator, "PUT", "/kit/oauth", {"revoke": True})  # the app was uninstalled
    daemon.until(lambda: daemon.state("kit") == "open", timeout=30, what="kit to open")
    (message,) = daemon.until(slack.top_level, what="the alert")
    assert message.text is not None
    assert message.text.startswith("kit: our credentials were refused"), message.text
    assert "the refresh token was refused (HTTP 400: The provided authorization grant" in (
        message.text
    )
    outputs = [daemon.get("/metrics").text, daemon.get("/api/v1/status").text, *slack.texts()]
    assert daemon.stop() == 0
    outputs.append(daemon.output)
    secrets = (APP["client_secret"], "sim-kit-refresh-1", "sim-kit-refresh-2", "sim-kit-access-1",
               "sim-hubspot-access-1", "sim-hubspot-refresh-token")  # fmt: skip
    outputs += [online.stdout, online.stderr]
    for secret in secrets:
        assert not [text for text in outputs if secret in text], secret
