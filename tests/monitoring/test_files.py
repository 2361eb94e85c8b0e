"""The bundled Prometheus rules and Grafana files, checked as files: promtool, the generator,
the dashboard model, the provisioning YAML."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.alertmanager import ALERTNAMES
from alerts.alertmanager import SEVERITIES as PUSHED_SEVERITIES
from grafana.generate import build, expressions
from tests.test_docs import anchors

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "prometheus"
GRAFANA = ROOT / "grafana"
NO_PROMTOOL = "promtool is not installed (.ci/run installs Debian's prometheus package)"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason=NO_PROMTOOL)
SEVERITIES = ("page", "warning", "info")  # one vocabulary: the rules and the pushed alerts
RUNBOOKS = "https://breakerwatch.invalid/docs/monitoring.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


@needs_promtool
@pytest.mark.system
def test_rules_are_valid() -> None:
    done = promtool("check", "rules", "prometheus/alerts.yml", "prometheus/recording.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout
    assert "SUCCESS: 3 rules found" in done.stdout


@needs_promtool
@pytest.mark.system
def test_the_example_scrape_config_is_valid() -> None:
    done = promtool("check", "config", "prometheus/scrape.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
@pytest.mark.system
def test_every_alerting_rule_has_a_unit_test_and_they_pass() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text())
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # a test that sees it fire, not only stay quiet
    }
    assert alerts == tested
    done = promtool("test", "rules", "prometheus/tests/alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerting_rules_carry_severity_text_and_a_runbook_that_exists() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    sections = anchors(ROOT / "docs" / "monitoring.md")
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("Breakerwatch")
            assert rule["labels"]["severity"] in SEVERITIES
            assert rule["annotations"]["summary"]
            assert rule["annotations"]["description"]
            page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
            assert page == RUNBOOKS
            assert anchor == rule["alert"].lower()
            assert anchor in sections, f"docs/monitoring.md has no section #{anchor}"


def test_the_pushed_alerts_share_the_rules_names_and_severities() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert all(name.startswith("Breakerwatch") for name in ALERTNAMES.values())
    assert not names & set(ALERTNAMES.values())  # the same name would merge two alerts
    assert set(PUSHED_SEVERITIES.values()) <= set(SEVERITIES)


def test_the_committed_dashboards_are_what_the_generator_writes() -> None:
    for name, text in build().items():
        committed = (GRAFANA / "dashboards" / name).read_text()
        assert committed == text, f"run `.venv/bin/python grafana/generate.py` ({name} is stale)"


def dashboards() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text()) for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    ]


def test_dashboards_load_anywhere() -> None:
    uids = set()
    for board in dashboards():
        assert "__inputs" not in board  # provisioning cannot resolve them
        assert 8 <= len(board["uid"]) <= 40
        uids.add(board["uid"])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["description"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
        for expr in expressions(board):
            if "breakerwatch_" in expr and "label_values" not in expr:
                assert 'job=~"$job"' in expr, expr
    assert uids == {"breakerwatch-overview", "breakerwatch-integration"}


def test_provisioning_points_at_the_dashboards() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/breakerwatch.yaml").read_text())
    (source,) = sources["datasources"]
    assert (source["type"], source["uid"], source["access"]) == (
        "prometheus",
        "prometheus",
        "proxy",
    )
    assert source["jsonData"]["timeInterval"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/breakerwatch.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert sources["apiVersion"] == providers["apiVersion"] == 1


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed (.ci/run)")
@pytest.mark.system
def test_the_example_alertmanager_config_is_valid_and_groups_by_integration() -> None:
    done = subprocess.run(
        ["amtool", "check-config", "prometheus/alertmanager.yml"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    config = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())
    assert config["route"]["group_by"] == ["integration"]
    (receiver,) = config["receivers"]
    assert receiver["slack_configs"][0]["send_resolved"] is True


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed (.ci/run)")
@pytest.mark.system
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=page", "alertname=BreakerwatchIntegrationFailing"], "pagerduty,email,teams"),
        (["severity=warning", "alertname=BreakerwatchThrottled"], "email,teams"),
        (["severity=info", "alertname=BreakerwatchTest"], "teams"),
    ],
)
def test_the_pagerduty_email_and_teams_example_routes_by_severity(
    labels: list[str], receivers: str
) -> None:
    example = "prometheus/alertmanager-receivers.yml"
    checked = subprocess.run(
        ["amtool", "check-config", example],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routed = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={example}", *labels],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert routed.stdout.strip() == receivers
