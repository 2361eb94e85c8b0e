"""Behind an egress proxy, as at a company: every outbound call (the daemon's probes,
`probe --explain`, Slack and Alertmanager through `test-alert`) goes through the proxy the
environment names, with its credentials, unless NO_PROXY or the integration says otherwise;
an HTTPS vendor is reached through a CONNECT tunnel and trusted through `[daemon] ca_file`.
The proxy is Debian's tinyproxy on loopback; its own log says what went through it."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, breakerwatch, environment
from tests.fakes.http_server import ScriptedServer
from tests.fakes.slack import FakeSlack
from tests.tinyproxy import Tinyproxy, needs_tinyproxy

pytestmark = needs_tinyproxy

CANARY = "proxy-pass-CANARY-7f3a"  # the proxy password: never in any output


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[tuple[ScriptedServer, Path]]:
    """An HTTPS endpoint whose certificate only a CA of our own vouches for; the CA's PEM."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    pem = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    with ScriptedServer(tls=context) as server:
        yield server, pem


def _config(sim: Simulator, folder: Path, billing: str, ca: Path | None, more: str = "") -> Path:
    trust = f'ca_file = "{ca}"\n' if ca else ""
    local = sim.base_url("hubspot").replace("127.0.0.1", "localhost")
    path = folder / "config.toml"
    path.write_text(
        f'[daemon]\nlisten = "127.0.0.1:0"\nstate_dir = "{folder / "state"}"\n{trust}\n'
        '[defaults]\ninterval = "500ms"\ntimeout = "400ms"\n[defaults.retry]\nmax_attempts = 1\n'
        f'[[integrations]]\nname = "kit"\nkind = "convertkit"\napi_key = "env:KIT_KEY"\n'
        f'base_url = "{sim.base_url("kit")}"\n'
        f'[[integrations]]\nname = "hubspot"\nkind = "hubspot"\ntoken = "env:HUBSPOT_KEY"\n'
        f'base_url = "{local}"\n'  # NO_PROXY lists localhost
        f'[[integrations]]\nname = "sendgrid"\nkind = "sendgrid"\napi_key = "env:SENDGRID_KEY"\n'
        f'base_url = "{sim.base_url("sendgrid")}"\nproxy = false\n'
        f'[[integrations]]\nname = "billing"\nkind = "http"\nurl = "{billing}/health"\n' + more
    )
    return path


def test_every_outbound_call_goes_through_the_proxy_the_environment_names(
    tmp_path: Path,
    simulator: Simulator,
    slack: FakeSlack,
    billing: tuple[ScriptedServer, Path],
) -> None:
    server, ca = billing
    with ScriptedServer() as alertmanager, Tinyproxy(tmp_path, "probe", CANARY) as proxy:
        alerts = (
            f'[alerts]\n[alerts.slack]\ntoken = "env:SLACK_TOKEN"\nchannel = "#integrations"\n'
            f'base_url = "{slack.api_url}"\n[alerts.alertmanager]\nurls = ["{alertmanager.url}"]\n'
        )
        config = _config(simulator, tmp_path, server.url, ca, alerts)
        env = environment(
            simulator, HTTP_PROXY=proxy.url, https_proxy=proxy.url, NO_PROXY="localhost",
            SLACK_TOKEN="xoxb-test-token",
        )  # fmt: skip
        outputs = []

        def probe(name: str) -> str:
            done = breakerwatch("probe", name, "--explain", "--config", str(config), env=env)
            outputs.append(done.stdout + done.stderr)
            assert done.returncode == 0, outputs[-1]
            return done.stdout

        shown = proxy.url.replace(CANARY, "***")
        assert f"route: via proxy {shown} (HTTP_PROXY)" in probe("kit")
        assert "route: directly (NO_PROXY lists localhost)" in probe("hubspot")
        assert "route: directly (the integration's proxy = false)" in probe("sendgrid")
        explained = probe("billing")  # trusted only through ca_file, through the tunnel
        assert f"route: via proxy {shown} (https_proxy)" in explained
        assert f"and {ca} ([daemon] ca_file)" in explained

        port = simulator.url.rsplit(":", 1)[1]
        assert f"GET http://127.0.0.1:{port}/kit/v4/account" in proxy.requests()
        assert f"CONNECT {server.url.removeprefix('https://')}" in proxy.requests()

        sent = breakerwatch("test-alert", "--config", str(config), env=env)
        outputs.append(sent.stdout + sent.stderr)
        assert sent.returncode == 0, outputs[-1]
        assert slack.texts(), "Slack heard nothing"
        (pushed,) = [r for r in alertmanager.requests if r.path == "/api/v2/alerts"]
        assert json.loads(pushed.body)[0]["labels"]["alertname"] == "BreakerwatchTest"
        slack_port, am_port = slack.url.rsplit(":", 1)[1], alertmanager.url.rsplit(":", 1)[1]
        assert f"POST http://127.0.0.1:{slack_port}/api/chat.postMessage" in proxy.requests()
        assert f"POST http://127.0.0.1:{am_port}/api/v2/alerts" in proxy.requests()

        daemon = DaemonProcess(config, env).wait_ready()
        seen = len(proxy.requests())
        daemon.until(lambda: len(proxy.requests()) >= seen + 4, what="the daemon's probes")
        states = {name: daemon.state(name) for name in ("kit", "hubspot", "sendgrid", "billing")}
        daemon.stop()
        outputs.append(daemon.output)
        assert states == dict.fromkeys(states, "closed"), daemon.output
        routed = proxy.requests()
        assert not [line for line in routed if "/hubspot/" in line or "/sendgrid/" in line]
    for output in [*outputs, proxy.logged()]:
        assert CANARY not in output.replace(proxy.url, "")  # tinyproxy's own config line aside


def test_a_proxy_that_refuses_us_is_our_trouble_not_the_vendors(
    tmp_path: Path, simulator: Simulator, billing: tuple[ScriptedServer, Path]
) -> None:
    server, ca = billing
    with Tinyproxy(tmp_path, "probe", CANARY) as proxy:
        config = _config(simulator, tmp_path, server.url, ca)
        wrong = proxy.url.replace(CANARY, "wrong-password")
        env = environment(simulator, HTTPS_PROXY=wrong)
        done = breakerwatch("probe", "billing", "--explain", "--config", str(config), env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "outcome: local: the proxy answered the tunnel request with 401" in done.stdout
        assert "not counted" in done.stdout or "fresh breaker" in done.stdout
        assert server.hits == 0

        unreachable = environment(simulator, HTTPS_PROXY="http://127.0.0.1:9")  # discard port
        done = breakerwatch("probe", "billing", "--config", str(config), env=unreachable)
        assert "outcome: local: cannot connect to the proxy 127.0.0.1:9" in done.stdout

        untrusted = _config(simulator, tmp_path, server.url, None)  # the same, without ca_file
        env = environment(simulator, HTTPS_PROXY=proxy.url)
        done = breakerwatch("probe", "billing", "--config", str(untrusted), env=env)
        assert done.returncode == 1
        assert "certificate verify failed" in done.stdout, done.stdout
