"""Every PromQL expression in the dashboards and the rules, run by a real Prometheus
(Debian's package) that scrapes a real daemon through an outage and a recovery."""

from __future__ import annotations

import contextlib
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme
import yaml

from grafana.generate import expressions
from simulator import Simulator
from tests.daemon.harness import DaemonProcess, alerts_config, config_text, environment
from tests.fakes.http_server import ScriptedServer
from tests.fakes.slack import FakeSlack
from tests.monitoring.test_files import PROMETHEUS, dashboards
from tests.simulator.helpers import admin
from tests.support import free_port

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus is not installed (.ci/run installs Debian's prometheus package)",
    ),
]
# What Grafana would put in place of the dashboards' variables; the scrape interval is 1 s.
VARIABLES = {"$__rate_interval": "5s", "$job": "breakerwatch", "$integration": ".*"}


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[ScriptedServer, Path]]:
    """An https endpoint whose CA the daemon trusts (SSL_CERT_FILE), for the TLS panel."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=30))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with ScriptedServer(tls=context) as server:
        yield server, bundle


@contextlib.contextmanager
def running_prometheus(
    directory: Path, scrape_configs: list[dict[str, Any]], port: int
) -> Iterator[str]:
    """Debian's Prometheus with these scrape jobs (every second) and the bundled rules."""
    for name in ("alerts.yml", "recording.yml"):
        shutil.copy(PROMETHEUS / name, directory / name)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml", "recording.yml"],
        "scrape_configs": scrape_configs,
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (directory / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            ["prometheus", f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):  # its API answers only once the TSDB is open
            assert time.monotonic() < deadline, (directory / "prometheus.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Prometheus scraping job "breakerwatch" every second, with the bundled rules loaded."""
    port, target = free_port(), free_port()
    job = {"job_name": "breakerwatch", "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
    with running_prometheus(tmp_path, [job], port) as url:
        yield url, target


def query(url: str, expr: str, start: float, end: float) -> list[Any]:
    answer = httpx.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": "1s"},
        timeout=20,
    ).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    return list(answer["data"]["result"])


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def test_every_dashboard_and_rule_query_returns_data(
    simulator: Simulator,
    slack: FakeSlack,
    tls_endpoint: tuple[ScriptedServer, Path],
    prometheus: tuple[str, int],
    tmp_path: Path,
) -> None:
    url, port = prometheus
    server, bundle = tls_endpoint
    extra = (
        f'\n[[integrations]]\nname = "billing"\nkind = "http"\nurl = "{server.url}/health"\n'
        'baseline = "50ms"\n'  # a baseline at once (a learned one takes 50 probes)
        + alerts_config(slack.api_url)
    )
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state", extra=extra)
    hubspot = f'base_url = "{simulator.base_url("hubspot")}"\n'  # and a canary, for its panels
    text = text.replace(hubspot, hubspot + 'canary = { email = "breakerwatch-canary@example.com",'
                        ' interval = "1s" }\n')  # fmt: skip
    kit = f'base_url = "{simulator.base_url("kit")}"\n'  # and a status page, for its panel
    text = text.replace(kit, kit + f'status_page = "{simulator.status_page("kit")}"\n')
    config.write_text(text.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"'))
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token", SSL_CERT_FILE=str(bundle))
    start = time.time()
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        daemon.until(lambda: query(url, 'up{job="breakerwatch"} == 1', start, time.time()),
                     30, "Prometheus to scrape the daemon")  # fmt: skip
        slack.fail_next("down", "down")  # one failed delivery, for the failure series
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        daemon.until(lambda: slack.top_level(), 30, "the Slack alert")
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("kit") == "closed", 30, "kit to close")
        hold = {"action": "disable", "reason": "for the rule's series"}
        assert httpx.post(f"{daemon.url}/api/v1/integrations/sendgrid/breaker", json=hold,
                          timeout=5).status_code == 200  # fmt: skip
        time.sleep(3)
        httpx.post(f"{daemon.url}/api/v1/integrations/sendgrid/breaker",
                   json={"action": "reset"}, timeout=5).raise_for_status()  # fmt: skip
        time.sleep(6)  # a few more scrapes and rule evaluations after the recovery
        end = time.time()
        empty = []
        for board in dashboards():
            for expr in expressions(board):
                if expr.startswith("label_values("):
                    continue
                if not query(url, substitute(expr), start, end):
                    empty.append(f"{board['uid']}: {expr}")
            for variable in board["templating"]["list"]:
                found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable.get("definition", ""))
                if found:
                    values = httpx.get(
                        f"{url}/api/v1/label/{found[2]}/values",
                        params={"match[]": substitute(found[1])}, timeout=20,
                    ).json()["data"]  # fmt: skip
                    assert values, variable["definition"]
        for name in ("recording.yml", "alerts.yml"):
            rules = yaml.safe_load((PROMETHEUS / name).read_text())
            for group in rules["groups"]:
                for rule in group["rules"]:
                    query(url, rule["expr"], start, end)  # it parses and evaluates
                    if "record" in rule and not query(url, rule["record"], start, end):
                        empty.append(rule["record"])
                    for metric in set(re.findall(r"\b(breakerwatch_\w+|up)\b", rule["expr"])):
                        if not query(url, metric, start, end):
                            empty.append(f"{rule.get('alert')}: {metric}")
        assert empty == []
    finally:
        assert daemon.stop() == 0


def test_prometheus_scrapes_through_tls_and_basic_auth(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A scrape_config with basic_auth and tls_config, as for any exporter, just works; a
    wrong password is a 401, counted, and Prometheus's up is 0 for that job. Prometheus
    asks for gzip (a witness server records its request), so the scrapes it reads are the
    daemon's gzipped pages."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    issued.cert_chain_pems[0].write_to_path(str(files["cert"]))
    issued.private_key_pem.write_to_path(str(files["key"]))
    password = "scrape-pass-0123"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    target = free_port()
    config = tmp_path / "config.toml"
    secured = (
        f'listen = "127.0.0.1:{target}"\n[daemon.tls]\ncert_file = "{files["cert"]}"\n'
        f'key_file = "{files["key"]}"\n[daemon.basic_auth_users]\nprometheus = "{hashed}"\n'
    )
    text = config_text(simulator, tmp_path / "state").replace('listen = "127.0.0.1:0"\n', "")
    config.write_text(text.replace("\n[defaults]", "\n" + secured + "[defaults]", 1))
    daemon = DaemonProcess(config, environment(simulator))
    trust = ssl.create_default_context(cafile=files["ca"])
    daemon.client = {"verify": trust, "auth": ("prometheus", password)}
    daemon.wait_ready()
    tls = {"ca_file": str(files["ca"])}
    jobs = [
        {"job_name": job, "scheme": "https", "tls_config": tls,
         "basic_auth": {"username": "prometheus", "password": secret},
         "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
        for job, secret in (("breakerwatch", password), ("wrong", "not-the-password"))
    ]  # fmt: skip
    witness = ScriptedServer()
    jobs.append({"job_name": "witness", "static_configs": [{"targets": [witness.url[7:]]}]})
    start = time.time()
    try:
        with witness, running_prometheus(tmp_path, jobs, free_port()) as url:
            daemon.until(lambda: query(url, 'up{job="breakerwatch"} == 1', start, time.time()),
                         30, "the scrape through TLS and basic auth")  # fmt: skip
            daemon.until(lambda: query(url, 'up{job="wrong"} == 0', start, time.time()),
                         30, "the refused scrape")  # fmt: skip
            scraped = query(url, 'breakerwatch_breaker_state{job="breakerwatch"}', start,
                            time.time())  # fmt: skip
            assert {series["metric"]["integration"] for series in scraped} >= {"kit", "hubspot"}
            refused = daemon.get("/metrics").text
            found = re.search(
                r'^breakerwatch_http_requests_refused_total\{reason="unauthorized"\} (\S+)$',
                refused, re.M,
            )  # fmt: skip
            assert found is not None
            assert float(found[1]) >= 1
            daemon.until(lambda: witness.requests, 30, "Prometheus to scrape the witness")
            assert "gzip" in witness.requests[0].headers["Accept-Encoding"]
    finally:
        assert daemon.stop() == 0
