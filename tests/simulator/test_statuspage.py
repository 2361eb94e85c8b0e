"""The simulated vendor status pages against Statuspage's documented summary.json (each
Statuspage page documents it at its own /api, e.g. https://confluence.status.atlassian.com/api),
read back with breakerwatch's own parser, over real sockets."""

from __future__ import annotations

import pytest

from probes.statuspage import StatusPageError, parse_summary
from simulator import Simulator
from tests.simulator.helpers import admin, call

SUMMARY = "/status/hubspot/api/v2/summary.json"


def test_a_quiet_page_then_an_incident_then_its_resolution(simulator: Simulator) -> None:
    quiet = call(simulator, "GET", SUMMARY)
    assert quiet.status_code == 200
    assert quiet.headers["content-type"].startswith("application/json")
    document = quiet.json()
    assert set(document) >= {"page", "status", "components", "incidents"}
    assert document["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert not parse_summary(quiet.content).confirms

    errors = {"name": "Elevated API errors", "impact": "major", "components": ["CRM API"]}
    posted = admin(simulator, "POST", "/hubspot/status-incident", errors)
    assert posted.status_code == 200
    admin(simulator, "PUT", "/hubspot/status-component",
          {"name": "CRM API", "status": "partial_outage"})  # fmt: skip
    status = parse_summary(call(simulator, "GET", SUMMARY).content)
    assert (status.indicator, status.confirms) == ("major", True)
    (incident,) = status.incidents
    assert (incident.name, incident.impact, incident.components) == (
        "Elevated API errors", "major", ("CRM API",),
    )  # fmt: skip
    assert incident.shortlink is not None
    assert incident.created_at is not None
    assert not parse_summary(call(simulator, "GET", SUMMARY).content, ["Marketing Email"]).confirms

    (key,) = [i["id"] for i in call(simulator, "GET", SUMMARY).json()["incidents"]]
    admin(simulator, "POST", "/hubspot/status-resolve", {"id": key})
    admin(
        simulator, "PUT", "/hubspot/status-component", {"name": "CRM API", "status": "operational"}
    )
    assert parse_summary(call(simulator, "GET", SUMMARY).content).indicator == "none"


def test_an_unchanged_page_is_a_304_without_a_body(simulator: Simulator) -> None:
    first = call(simulator, "GET", SUMMARY)
    again = call(simulator, "GET", SUMMARY, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    admin(simulator, "POST", "/hubspot/status-incident", {"name": "x", "impact": "minor"})
    changed = call(simulator, "GET", SUMMARY, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]


def test_a_page_can_be_dead_malformed_or_huge(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/hubspot/status-mode", {"mode": "503"})
    dead = call(simulator, "GET", SUMMARY)
    assert (dead.status_code, dead.headers["content-type"]) == (503, "text/html")
    admin(simulator, "PUT", "/hubspot/status-mode", {"mode": "garbage"})
    with pytest.raises(StatusPageError):
        parse_summary(call(simulator, "GET", SUMMARY).content)
    admin(simulator, "PUT", "/hubspot/status-mode", {"mode": "huge"})
    assert len(call(simulator, "GET", SUMMARY).content) > 3 << 20
    admin(simulator, "POST", "/reset")
    assert call(simulator, "GET", SUMMARY).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/hubspot/status-component", {"name": "Nope", "status": "operational"}, "name is one of"),
        ("/hubspot/status-incident", {"name": "x", "impact": "apocalyptic"}, "an incident needs"),
        ("/hubspot/status-resolve", {"id": "nothing"}, "no unresolved incident"),
        ("/hubspot/status-mode", {"mode": "chaos"}, "mode is one of"),
    ],
)
def test_admin_mistakes_are_one_sentence(
    simulator: Simulator, path: str, body: dict[str, str], said: str
) -> None:
    refused = admin(
        simulator, "PUT" if "mode" in path or "component" in path else "POST", path, body
    )
    assert refused.status_code == 400
    assert said in refused.json()["error"]
    assert call(simulator, "GET", "/status/nowhere/api/v2/summary.json").status_code == 404
