"""The HubSpot fake against the vendor facts (docs/integrations.md, HubSpot)."""

from __future__ import annotations

import uuid

from simulator import Simulator
from tests.simulator.helpers import admin, bearer, call

AUTH = bearer("sim-hubspot-token")
UPSERT = "/hubspot/crm/v3/objects/contacts/batch/upsert"


def upsert(sim: Simulator, email: str, trace: str = "t-1", **properties: str):  # type: ignore[no-untyped-def]
    item = {
        "idProperty": "email",
        "id": email,
        "properties": properties,
        "objectWriteTraceId": trace,
    }
    return call(sim, "POST", UPSERT, headers=AUTH, json={"inputs": [item]})


def test_account_details_and_rate_limit_headers(simulator: Simulator) -> None:
    first = call(simulator, "GET", "/hubspot/account-info/v3/details", headers=AUTH)
    second = call(simulator, "GET", "/hubspot/account-info/v3/details", headers=AUTH)
    assert first.status_code == 200
    body = first.json()
    assert body["accountType"] in {"STANDARD", "DEVELOPER_TEST", "SANDBOX", "APP_DEVELOPER"}
    assert isinstance(body["portalId"], int)
    assert body["timeZone"]
    headers = first.headers
    assert headers["X-HubSpot-RateLimit-Max"] == "100"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(second.headers["X-HubSpot-RateLimit-Remaining"]) == (
        int(headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < int(
        headers["X-HubSpot-RateLimit-Daily"]
    )


def test_a_refused_token_gets_the_invalid_authentication_body(simulator: Simulator) -> None:
    for headers in (bearer("wrong"), {}):
        response = call(simulator, "GET", "/hubspot/account-info/v3/details", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found.")
        uuid.UUID(body["correlationId"])


def test_batch_upsert_by_email_is_idempotent(simulator: Simulator) -> None:
    first = upsert(simulator, "Ada@Example.com", firstname="Ada")
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "COMPLETE"
    (result,) = body["results"]
    assert result["new"] is True
    assert result["objectWriteTraceId"] == "t-1"
    assert result["properties"]["email"] == "ada@example.com"
    again = upsert(simulator, "ada@example.com", trace="t-2", lastname="Lovelace").json()
    assert again["results"][0]["new"] is False
    assert again["results"][0]["id"] == result["id"]
    assert again["results"][0]["properties"]["firstname"] == "Ada"


def test_create_conflicts_on_a_known_email_and_patch_by_email(simulator: Simulator) -> None:
    contacts = "/hubspot/crm/v3/objects/contacts"
    created = call(
        simulator, "POST", contacts, headers=AUTH, json={"properties": {"email": "b@x.io"}}
    )
    assert created.status_code == 201
    conflict = call(
        simulator, "POST", contacts, headers=AUTH, json={"properties": {"email": "b@x.io"}}
    )
    assert conflict.status_code == 409
    assert (
        conflict.json()["message"] == f"Contact already exists. Existing ID: {created.json()['id']}"
    )
    patched = call(
        simulator, "PATCH", f"{contacts}/b@x.io", headers=AUTH,
        params={"idProperty": "email"}, json={"properties": {"firstname": "Bea"}},
    )  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["properties"]["firstname"] == "Bea"


def test_429_bodies_name_the_policy(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/hubspot/limits", {"requests": 1, "window": 10})
    path = "/hubspot/account-info/v3/details"
    assert call(simulator, "GET", path, headers=AUTH).status_code == 200
    secondly = call(simulator, "GET", path, headers=AUTH)
    assert secondly.status_code == 429
    assert secondly.json()["errorType"] == "RATE_LIMIT"
    assert secondly.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert secondly.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    admin(simulator, "PUT", "/hubspot/limits", {"requests": 100, "daily": 2})
    daily = call(simulator, "GET", path, headers=AUTH)
    assert daily.json()["policyName"] == "DAILY"
    assert daily.json()["message"] == "You have reached your daily limit."


def test_edge_errors_are_html(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/hubspot/mode", {"mode": "5xx", "status": 522})
    response = call(simulator, "GET", "/hubspot/account-info/v3/details", headers=AUTH)
    assert response.status_code == 522
    assert response.headers["content-type"].startswith("text/html")
    admin(simulator, "PUT", "/hubspot/mode", {"mode": "5xx", "status": 502})
    gateway = call(simulator, "GET", "/hubspot/account-info/v3/details", headers=AUTH)
    assert (gateway.status_code, gateway.json()["status"]) == (502, "error")
