"""A vendor's Statuspage summary, read (probes/statuspage.py): the body as Statuspage
documents it at each page's /api (https://confluence.status.atlassian.com/api), narrowed to
the components an integration uses, and made safe where it is vendor text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from probes.statuspage import StatusPageError, VendorIncident, parse_summary


def summary(
    indicator: str = "none",
    components: dict[str, str] | None = None,
    incidents: list[dict[str, Any]] | None = None,
) -> bytes:
    """A summary.json body in Statuspage's shape."""
    parts = components or {"CRM API": "operational", "Marketing Email": "operational"}
    return json.dumps({
        "page": {"id": "abc", "name": "HubSpot", "url": "https://status.hubspot.com",
                 "updated_at": "2026-12-02T10:00:00.000Z"},
        "status": {"indicator": indicator, "description": "All Systems Operational"},
        "components": [{"id": f"c{i}", "name": name, "status": status, "position": i}
                       for i, (name, status) in enumerate(parts.items())],
        "incidents": incidents or [],
        "scheduled_maintenances": [],
    }).encode()  # fmt: skip


def incident(name: str = "Elevated API errors", components: tuple[str, ...] = ("CRM API",),
             link: str = "https://stspg.io/abc123") -> dict[str, Any]:  # fmt: skip
    return {
        "id": "inc1", "name": name, "status": "investigating", "impact": "major",
        "created_at": "2026-12-02T09:58:00.000-05:00", "shortlink": link,
        "components": [{"id": "c0", "name": c, "status": "partial_outage"} for c in components],
        "incident_updates": [{"body": "We are investigating.", "status": "investigating"}],
    }  # fmt: skip


def test_all_operational_confirms_nothing() -> None:
    status = parse_summary(summary())
    assert (status.indicator, status.description, status.degraded, status.incidents) == (
        "none", "All Systems Operational", (), (),
    )  # fmt: skip
    assert not status.confirms


def test_an_incident_and_a_degraded_component_confirm_it() -> None:
    body = summary("major", {"CRM API": "partial_outage", "Marketing Email": "operational"},
                   [incident()])  # fmt: skip
    status = parse_summary(body)
    assert status.confirms
    assert status.indicator == "major"
    assert status.degraded == (("CRM API", "partial_outage"),)
    started = datetime(2026, 12, 2, 14, 58, tzinfo=UTC).timestamp()
    assert status.incidents == (
        VendorIncident("Elevated API errors", "major", "investigating", started,
                       "https://stspg.io/abc123", ("CRM API",)),
    )  # fmt: skip


def test_narrowed_to_the_components_an_integration_uses() -> None:
    body = summary("major", {"CRM API": "operational", "Marketing Email": "major_outage"},
                   [incident("Email sends delayed", ("Marketing Email",))])  # fmt: skip
    mine = parse_summary(body, ["crm api"])  # names compare without case
    assert (mine.indicator, mine.incidents, mine.confirms) == ("none", (), False)
    theirs = parse_summary(body, ["Marketing Email"])
    assert theirs.indicator == "critical"
    assert [i.name for i in theirs.incidents] == ["Email sends delayed"]
    with pytest.raises(StatusPageError, match="no component named 'billing'"):
        parse_summary(body, ["Billing"])


def test_maintenance_is_not_an_outage() -> None:
    body = summary("maintenance", {"CRM API": "under_maintenance"})
    status = parse_summary(body)
    assert status.indicator == "maintenance"
    assert not status.confirms
    assert parse_summary(body, ["CRM API"]).indicator == "maintenance"


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>", b"[]", b'{"status": {}}', b'{"status": null}',
     b'{"status": {"indicator": "none"}, "components": [{"name": "x"}]}',
     b'{"status": {"indicator": "none"}, "incidents": [{"impact": "major"}]}'],
)  # fmt: skip
def test_what_is_not_a_summary_is_one_sentence(body: bytes) -> None:
    with pytest.raises(StatusPageError, match=r"^not a Statuspage summary \(\w+\)$"):
        parse_summary(body)


def test_an_unknown_indicator_is_refused() -> None:
    with pytest.raises(StatusPageError, match="an unknown status indicator 'apocalyptic'"):
        parse_summary(summary("apocalyptic"))


def test_vendor_text_is_made_safe() -> None:
    hostile = incident(
        "\x1b[2J<!channel> down\nFAKE LOG LINE " + "x" * 500, link="javascript:alert(1)"
    )
    status = parse_summary(summary("major", incidents=[hostile]))
    (found,) = status.incidents
    assert "\x1b" not in found.name
    assert "\n" not in found.name
    assert len(found.name) <= 200
    assert found.shortlink is None  # only http(s) links are kept


def test_an_incident_naming_a_component_raises_its_indicator() -> None:
    body = summary("minor", incidents=[incident("Slow CRM", ("CRM API",)) | {"impact": "minor"}])
    assert parse_summary(body, ["CRM API"]).indicator == "minor"  # its components look fine
    assert parse_summary(body, ["Marketing Email"]).indicator == "none"
