"""The Kit fake against the vendor facts (docs/integrations.md, Kit)."""

from __future__ import annotations

import httpx

from simulator import Simulator
from tests.simulator.helpers import admin, bearer, call

KEY = {"X-Kit-Api-Key": "sim-kit-api-key"}


def subscribe(sim: Simulator, email: str, **body: object) -> httpx.Response:
    return call(
        sim, "POST", "/kit/v4/subscribers", headers=KEY, json={"email_address": email, **body}
    )


def test_account_has_the_documented_required_fields(simulator: Simulator) -> None:
    response = call(simulator, "GET", "/kit/v4/account", headers=KEY)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "account"}
    assert "email" in body["user"]
    required = {"id", "name", "plan_type", "primary_email_address", "created_at", "timezone"}
    assert required <= set(body["account"])


def test_a_refused_credential_gets_the_documented_401(simulator: Simulator) -> None:
    for headers in ({"X-Kit-Api-Key": "wrong"}, {}, bearer("sim-kit-api-key")):
        response = call(simulator, "GET", "/kit/v4/account", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"errors": ["The access token is invalid"]}
        assert response.headers["content-type"].startswith("application/json")


def test_subscriber_create_is_an_upsert(simulator: Simulator) -> None:
    created = subscribe(simulator, "Ada@Example.com", first_name="Ada", fields={"company": "AE"})
    assert created.status_code == 201
    subscriber = created.json()["subscriber"]
    assert subscriber["email_address"] == "Ada@Example.com"
    assert subscriber["state"] == "active"
    assert subscriber["fields"]["company"] == "AE"
    again = subscribe(simulator, "ada@example.com", first_name="Augusta", state="cancelled")
    assert again.status_code == 200
    assert again.json()["subscriber"]["id"] == subscriber["id"]
    assert again.json()["subscriber"]["first_name"] == "Augusta"
    assert again.json()["subscriber"]["state"] == "active"  # the upsert never changes state


def test_subscriber_validation_and_async_fields(simulator: Simulator) -> None:
    invalid = subscribe(simulator, "not-an-email")
    assert (invalid.status_code, invalid.json()) == (422, {"errors": ["Email address is invalid"]})
    many = subscribe(simulator, "b@example.com", fields={f"f{i}": i for i in range(11)})
    assert many.status_code == 202  # more than 10 custom fields are applied asynchronously


def test_adding_to_a_form_needs_an_existing_subscriber_and_repeats_with_200(
    simulator: Simulator,
) -> None:
    form = "/kit/v4/forms/1234/subscribers"
    body = {"email_address": "c@example.com", "referrer": "https://example.com/signup"}
    assert call(simulator, "POST", form, headers=KEY, json=body).status_code == 404
    subscribe(simulator, "c@example.com")
    first = call(simulator, "POST", form, headers=KEY, json=body)
    assert first.status_code == 201
    assert first.json()["subscriber"]["added_at"]
    assert first.json()["subscriber"]["referrer"] == "https://example.com/signup"
    assert call(simulator, "POST", form, headers=KEY, json=body).status_code == 200
    unknown = call(simulator, "POST", "/kit/v4/forms/9/subscribers", headers=KEY, json=body)
    assert (unknown.status_code, unknown.json()) == (404, {"errors": ["Not Found"]})
    subscriber_id = first.json()["subscriber"]["id"]
    by_id = call(simulator, "POST", f"{form}/{subscriber_id}", headers=KEY, json={})
    assert by_id.status_code == 200


def test_tagging_by_email(simulator: Simulator) -> None:
    subscribe(simulator, "d@example.com")
    tag = "/kit/v4/tags/5678/subscribers"
    first = call(simulator, "POST", tag, headers=KEY, json={"email_address": "d@example.com"})
    assert first.status_code == 201
    assert first.json()["subscriber"]["tagged_at"]
    again = call(simulator, "POST", tag, headers=KEY, json={"email_address": "d@example.com"})
    assert again.status_code == 200


def test_rate_limit_429_has_no_retry_after_and_no_headers(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/limits", {"requests": 2, "window": 60})
    statuses = [call(simulator, "GET", "/kit/v4/account", headers=KEY) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    throttled = statuses[-1]
    assert throttled.json() == {"errors": ["Rate limit exceeded"]}
    assert "retry-after" not in throttled.headers
    assert not [h for h in throttled.headers if h.lower().startswith("x-ratelimit")]


def test_server_error_bodies(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
    response = call(simulator, "GET", "/kit/v4/account", headers=KEY)
    assert (response.status_code, response.json()) == (500, {"errors": ["Internal server error"]})
