"""The Mailchimp fake against the vendor facts (docs/integrations.md, Mailchimp)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx

from simulator import Simulator
from tests.simulator.helpers import admin, basic, call

KEY = "sim0123456789abcdef0123456789abcd-us21"
AUTH = basic(KEY)
PROBLEM = "application/problem+json; charset=utf-8"
VECTOR_EMAIL, VECTOR_HASH = "Urist.McVankab@freddiesjokes.com", "62eeb292278cc15f5817cb78f7790b08"
MEMBERS = "/mailchimp/3.0/lists/a1b2c3d4e5/members"


def test_the_facts_sheet_hash_vector() -> None:
    assert hashlib.md5(VECTOR_EMAIL.lower().encode()).hexdigest() == VECTOR_HASH


def test_ping_with_any_username(simulator: Simulator) -> None:
    for user in ("anystring", "x"):
        response = call(simulator, "GET", "/mailchimp/3.0/ping", headers=basic(KEY, user))
        assert (response.status_code, response.json()) == (
            200, {"health_status": "Everything's Chimpy!"},
        )  # fmt: skip


def assert_problem(response: httpx.Response, status: int, title: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/"
    assert (body["title"], body["status"]) == (title, status)
    assert body["detail"]
    assert body["instance"] == response.headers["X-Request-Id"]


def test_auth_failures_are_problem_documents(simulator: Simulator) -> None:
    missing = call(simulator, "GET", "/mailchimp/3.0/ping")
    assert_problem(missing, 401, "API Key Missing")
    assert missing.json()["detail"] == "Your request did not include an API key."
    assert_problem(call(simulator, "GET", "/mailchimp/3.0/ping", headers=basic("nope-us21")),
                   401, "API Key Invalid")  # fmt: skip
    wrong_dc = call(simulator, "GET", "/mailchimp/3.0/ping", headers=basic("abc-us5"))
    assert_problem(wrong_dc, 403, "Wrong Datacenter")


def test_member_upsert_by_hash(simulator: Simulator) -> None:
    body = {"email_address": VECTOR_EMAIL, "status_if_new": "subscribed",
            "merge_fields": {"FNAME": "Urist"}}  # fmt: skip
    created = call(simulator, "PUT", f"{MEMBERS}/{VECTOR_HASH}", headers=AUTH, json=body)
    assert created.status_code == 200
    member = created.json()
    assert (member["id"], member["status"], member["list_id"]) == (
        VECTOR_HASH, "subscribed", "a1b2c3d4e5",
    )  # fmt: skip
    update = {"email_address": VECTOR_EMAIL, "status_if_new": "pending"}
    again = call(simulator, "PUT", f"{MEMBERS}/{VECTOR_HASH}", headers=AUTH, json=update)
    assert again.json()["status"] == "subscribed"  # status_if_new only applies to new members
    assert again.json()["merge_fields"] == {"FNAME": "Urist"}
    fetched = call(simulator, "GET", f"{MEMBERS}/{VECTOR_HASH}", headers=AUTH)
    assert fetched.json()["email_address"] == VECTOR_EMAIL


def test_member_validation(simulator: Simulator) -> None:
    no_status = {"email_address": "new@example.com"}
    new_hash = hashlib.md5(b"new@example.com").hexdigest()
    assert_problem(call(simulator, "PUT", f"{MEMBERS}/{new_hash}", headers=AUTH, json=no_status),
                   400, "Invalid Resource")  # fmt: skip
    mismatch = {"email_address": "other@example.com", "status_if_new": "subscribed"}
    assert_problem(call(simulator, "PUT", f"{MEMBERS}/{new_hash}", headers=AUTH, json=mismatch),
                   400, "Invalid Resource")  # fmt: skip
    assert_problem(call(simulator, "GET", f"{MEMBERS}/{new_hash}", headers=AUTH),
                   404, "Resource Not Found")  # fmt: skip


def test_post_of_an_existing_member_is_member_exists(simulator: Simulator) -> None:
    body = {"email_address": "e@example.com", "status": "subscribed"}
    assert call(simulator, "POST", MEMBERS, headers=AUTH, json=body).status_code == 200
    assert_problem(call(simulator, "POST", MEMBERS, headers=AUTH, json=body), 400, "Member Exists")


def test_concurrency_throttle_has_no_retry_after(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/mailchimp/limits", {"concurrent": 2})
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "slow", "delay_ms": 400})
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(
            lambda _: call(simulator, "GET", "/mailchimp/3.0/ping", headers=AUTH), range(3)
        ))  # fmt: skip
    throttled = [r for r in responses if r.status_code == 429]
    assert len(throttled) == 1
    assert_problem(throttled[0], 429, "Too Many Requests")
    assert "retry-after" not in throttled[0].headers


def test_a_503_is_the_waf_page_not_json(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "503"})
    response = call(simulator, "GET", "/mailchimp/3.0/ping", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["content-type"] == "text/html"
    assert b"Request Blocked" in response.content
    assert response.headers["retry-after"] == "30"
