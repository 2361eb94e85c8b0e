"""The SendGrid fake against the vendor facts (docs/integrations.md, SendGrid)."""

from __future__ import annotations

import math
import time
import uuid

from simulator import Simulator
from tests.simulator.helpers import admin, bearer, call

AUTH = {**bearer("sim-sendgrid-api-key"), "Accept": "application/json"}
CONTACTS = "/sendgrid/v3/marketing/contacts"


def test_profile_and_scopes_carry_rate_limit_headers(simulator: Simulator) -> None:
    before = time.time()
    profile = call(simulator, "GET", "/sendgrid/v3/user/profile", headers=AUTH)
    scopes = call(simulator, "GET", "/sendgrid/v3/scopes", headers=AUTH)
    assert profile.status_code == scopes.status_code == 200
    assert {"first_name", "last_name", "company"} <= set(profile.json())
    assert "mail.send" in scopes.json()["scopes"]
    assert profile.headers["X-RateLimit-Limit"] == "600"
    assert (
        int(scopes.headers["X-RateLimit-Remaining"])
        == int(profile.headers["X-RateLimit-Remaining"]) - 1
    )
    reset = int(profile.headers["X-RateLimit-Reset"])  # Unix epoch seconds
    assert before < reset <= math.ceil(time.time()) + 60  # a whole second, rounded up


def test_a_refused_key_gets_the_documented_401(simulator: Simulator) -> None:
    response = call(simulator, "GET", "/sendgrid/v3/user/profile", headers=bearer("wrong"))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": [{
        "message": "The provided authorization grant is invalid, expired, or revoked",
        "field": None, "help": None,
    }]}  # fmt: skip


def test_a_missing_accept_header_is_406(simulator: Simulator) -> None:
    with __import__("httpx").Client(base_url=simulator.url) as client:
        request = client.build_request(
            "GET", "/sendgrid/v3/scopes", headers=bearer("sim-sendgrid-api-key")
        )
        del request.headers["accept"]
        assert client.send(request).status_code == 406


def test_exhaustion_is_429_with_zero_remaining_and_no_retry_after(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/sendgrid/limits", {"requests": 1, "window": 60})
    call(simulator, "GET", "/sendgrid/v3/scopes", headers=AUTH)
    response = call(simulator, "GET", "/sendgrid/v3/scopes", headers=AUTH)
    assert response.status_code == 429
    assert response.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > time.time()
    assert "retry-after" not in response.headers


def test_contacts_upsert_is_202_with_a_job_that_completes(simulator: Simulator) -> None:
    body = {"list_ids": ["l-1"], "contacts": [{"email": "Ada@Example.com", "first_name": "Ada"}]}
    accepted = call(simulator, "PUT", CONTACTS, headers=AUTH, json=body)
    assert accepted.status_code == 202
    job = accepted.json()["job_id"]
    uuid.UUID(job)
    first = call(simulator, "GET", f"{CONTACTS}/imports/{job}", headers=AUTH).json()
    assert (first["status"], first["job_type"]) == ("pending", "upsert")
    done = call(simulator, "GET", f"{CONTACTS}/imports/{job}", headers=AUTH).json()
    assert done["status"] == "completed"
    assert done["results"]["created_count"] == 1
    assert simulator.vendors["sendgrid"].contacts["ada@example.com"]["first_name"] == "Ada"  # type: ignore[attr-defined]
    again = call(simulator, "PUT", CONTACTS, headers=AUTH, json=body).json()["job_id"]
    call(simulator, "GET", f"{CONTACTS}/imports/{again}", headers=AUTH)
    counts = call(simulator, "GET", f"{CONTACTS}/imports/{again}", headers=AUTH).json()["results"]
    assert (counts["created_count"], counts["updated_count"]) == (0, 1)


def test_contacts_need_an_identifier(simulator: Simulator) -> None:
    response = call(
        simulator, "PUT", CONTACTS, headers=AUTH, json={"contacts": [{"first_name": "X"}]}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "contacts[0]"
    unknown = call(simulator, "GET", f"{CONTACTS}/imports/nope", headers=AUTH)
    assert unknown.status_code == 404
