"""The admin API and every fault mode, over real sockets."""

from __future__ import annotations

import json

import httpx
import pytest

from simulator import Simulator
from simulator.faults import LatencyPlan, LatencyProfile
from tests.simulator.helpers import admin, bearer, call
from tests.support import FakeClock

KIT = {"X-Kit-Api-Key": "sim-kit-api-key"}
ACCOUNT = "/kit/v4/account"


def account(sim: Simulator, **kwargs: object) -> httpx.Response:
    return call(sim, "GET", ACCOUNT, headers=KIT, **kwargs)  # type: ignore[arg-type]


def test_a_script_fails_n_times_then_the_mode_resumes(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/script", {"steps": [
        {"mode": "5xx", "times": 2}, {"mode": "429"}, {"mode": "401"},
    ]})  # fmt: skip
    assert [account(simulator).status_code for _ in range(5)] == [500, 500, 429, 401, 200]


def test_503_carries_retry_after_and_429_can(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/script", {"steps": [
        {"mode": "503"}, {"mode": "503", "retry_after": 7}, {"mode": "429", "retry_after": 3},
    ]})  # fmt: skip
    headers = [account(simulator).headers.get("retry-after") for _ in range(3)]
    assert headers == ["30", "7", "3"]


def test_slow_answers_after_the_delay(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/mode", {"mode": "slow", "delay_ms": 1500})
    with pytest.raises(httpx.ReadTimeout):
        account(simulator, timeout=0.3)


def test_drip_sends_the_whole_body_slowly(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/kit/mode", {"mode": "drip", "delay_ms": 1})
    response = account(simulator)
    assert response.json()["account"]["id"] == 27
    admin(simulator, "PUT", "/kit/mode", {"mode": "drip", "delay_ms": 500})
    with (
        httpx.Client(base_url=simulator.url) as client,
        client.stream("GET", ACCOUNT, headers=KIT, timeout=5) as streamed,
    ):
        assert streamed.status_code == 200
        assert len(next(streamed.iter_raw())) == 1  # one byte, then a pause


@pytest.mark.parametrize("mode", ["reset", "reset_mid_body"])
def test_resets(simulator: Simulator, mode: str) -> None:
    admin(simulator, "PUT", "/kit/mode", {"mode": mode})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        account(simulator)


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("truncated", lambda r: r.content.startswith(b'{"user"') and len(r.content) < 300),
        ("html", lambda r: r.content.startswith(b"<!DOCTYPE html>")),
        ("empty", lambda r: r.content == b""),
    ],
)
def test_malformed_bodies_are_200_labelled_json(simulator: Simulator, body: str, check) -> None:  # type: ignore[no-untyped-def]
    admin(simulator, "PUT", "/kit/mode", {"mode": "malformed", "body": body})
    response = account(simulator)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert check(response)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_requests_are_recorded_with_headers_and_body(simulator: Simulator) -> None:
    call(
        simulator, "POST", "/kit/v4/subscribers?x=1", headers=KIT, json={"email_address": "a@b.co"}
    )
    (seen,) = admin(simulator, "GET", "/kit/requests").json()["requests"]
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/v4/subscribers", {"x": "1"})
    assert seen["headers"]["x-kit-api-key"] == "sim-kit-api-key"
    assert seen["body"] == '{"email_address":"a@b.co"}'
    admin(simulator, "DELETE", "/kit/requests")
    assert admin(simulator, "GET", "/kit/requests").json()["requests"] == []


def test_reset_restores_health_and_forgets_records(simulator: Simulator) -> None:
    call(simulator, "POST", "/kit/v4/subscribers", headers=KIT, json={"email_address": "a@b.co"})
    admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
    state = admin(simulator, "POST", "/reset").json()
    assert state["vendors"]["kit"]["mode"]["mode"] == "healthy"
    assert state["vendors"]["kit"]["requests"] == 0
    again = call(
        simulator, "POST", "/kit/v4/subscribers", headers=KIT, json={"email_address": "a@b.co"}
    )
    assert again.status_code == 201  # the subscriber was forgotten


def test_describe_lists_vendors_modes_and_credentials(simulator: Simulator) -> None:
    state = admin(simulator, "GET", "").json()
    assert set(state["vendors"]) == {"kit", "hubspot", "mailchimp", "sendgrid", "endpoint"}
    assert state["credentials"]["kit"] == "sim-kit-api-key"
    admin(simulator, "PUT", "/hubspot/script", {"steps": [{"mode": "5xx", "times": 3}]})
    script = admin(simulator, "GET", "").json()["vendors"]["hubspot"]["script"]
    assert [(s["mode"], s["times"]) for s in script] == [("5xx", 3)]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/kit/mode", {"mode": "explode"}, 400, "unknown mode or body; expected one of healthy"),
        ("/kit/mode", {"mode": "5xx", "status": 404}, 400, "status must be a 5xx code (got 404)"),
        ("/kit/mode", {"mode": "slow", "delay": 5}, 400, "unknown field 'delay'"),
        ("/kit/mode", {"mode": "slow", "delay_ms": "5"}, 400, "delay_ms must be a whole number"),
        ("/kit/script", {"steps": []}, 400, "a script needs 'steps'"),
        (
            "/kit/script",
            {"steps": [{"mode": "5xx", "times": 0}]},
            400,
            "times must be >= 1 (got 0)",
        ),
        ("/kit/limits", {"requests": 0}, 400, "requests must be a whole number >= 1 (got 0)"),
        ("/kit/limits", {"burst": 3}, 400, "unknown limit 'burst'"),
        ("/nope/mode", {"mode": "5xx"}, 404, "no admin route"),
        ("/kit/scopes", {"scopes": []}, 400, "kit credentials have no scopes"),
        ("/hubspot/scopes", {"scopes": "oauth"}, 400, "scopes must be a list of scope names"),
        ("/kit/oauth", {"lifetime": 0}, 400, "lifetime must be a number of seconds > 0"),
        (
            "/kit/oauth",
            {"ttl": 5},
            400,
            "oauth takes lifetime (seconds), rotate, revoke and expire",
        ),
        ("/sendgrid/oauth", {"lifetime": 5}, 404, "no admin route"),
    ],
)
def test_admin_errors_say_what_to_fix(
    simulator: Simulator, path: str, body: object, status: int, error: str
) -> None:
    response = admin(simulator, "PUT", path, body)
    assert response.status_code == status
    assert response.json()["error"].startswith(error)


def test_an_unknown_vendor_prefix_is_404(simulator: Simulator) -> None:
    response = call(simulator, "GET", "/salesforce/v1/x")
    assert response.status_code == 404
    assert "kit, hubspot, mailchimp, sendgrid" in response.json()["error"]


def test_keep_alive_serves_many_requests_on_one_connection(simulator: Simulator) -> None:
    with httpx.Client(base_url=simulator.url) as client:
        statuses = [client.get(ACCOUNT, headers=KIT).status_code for _ in range(20)]
    assert statuses == [200] * 20


@pytest.mark.parametrize(
    ("vendor", "path", "check"),
    [
        ("kit", "/v4/account", lambda b: b == {"errors": ["The access token is invalid"]}),
        (
            "hubspot",
            "/account-info/v3/details",
            lambda b: b["category"] == "INVALID_AUTHENTICATION",
        ),
        ("mailchimp", "/3.0/ping", lambda b: b["title"] == "API Key Invalid"),
        ("sendgrid", "/v3/scopes", lambda b: b["errors"][0]["message"].startswith("The provided")),
    ],
)
def test_401_mode_answers_with_each_vendors_own_body(  # type: ignore[no-untyped-def]
    simulator: Simulator, vendor: str, path: str, check
) -> None:
    admin(simulator, "PUT", f"/{vendor}/mode", {"mode": "401"})
    response = call(simulator, "GET", f"/{vendor}{path}")
    assert response.status_code == 401
    assert check(response.json())


def test_a_simulator_bug_is_a_500_that_says_so(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: object, match: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(simulator.vendors["kit"], "account", broken)
    response = account(simulator)
    assert (response.status_code, response.text) == (500, "simulator error")


def test_scopes_narrow_what_a_credential_may_do_until_reset(simulator: Simulator) -> None:
    token = simulator.credentials["hubspot"]
    assert admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth"]}).json()["scopes"] == [
        "oauth"
    ]
    meta = call(simulator, "GET", f"/hubspot/oauth/v1/access-tokens/{token}",
                headers=bearer(token))  # fmt: skip
    assert meta.json()["scopes"] == ["oauth"]
    upsert = call(simulator, "POST", "/hubspot/crm/v3/objects/contacts/batch/upsert",
                  headers=bearer(token), json={"inputs": []})  # fmt: skip
    assert upsert.status_code == 403
    assert upsert.json()["category"] == "MISSING_SCOPES"
    assert upsert.json()["errors"][0]["context"]["requiredScopes"] == ["crm.objects.contacts.write"]
    admin(simulator, "POST", "/reset")
    assert (
        "crm.objects.contacts.write"
        in call(
            simulator, "GET", f"/hubspot/oauth/v1/access-tokens/{token}", headers=bearer(token)
        ).json()["scopes"]
    )


def test_latency_profiles_take_what_they_say() -> None:
    """The bookkeeping of LatencyPlan, its clock driven by the test (the admin route sets it)."""
    clock = FakeClock(0.0)
    plan = LatencyPlan(clock)
    assert plan.next() == 0.0  # healthy and instant until told otherwise
    plan.set(LatencyProfile.from_json({"profile": "normal", "ms": 40, "jitter_ms": 10}))
    assert all(0.030 <= plan.next() <= 0.050 for _ in range(50))
    plan.set(LatencyProfile.from_json({"profile": "degrading", "ms": 40, "per_second": 5}))
    clock.advance(60)
    assert plan.next() == pytest.approx(0.340)  # 40 ms, and 5 more for each of 60 seconds
    plan.set(LatencyProfile.from_json({"profile": "spike", "ms": 40, "spike_ms": 900, "times": 2}))
    assert [plan.next() for _ in range(3)] == [0.9, 0.9, 0.04]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"profile": "wobbly"}, "unknown profile 'wobbly'"),
        ({"profile": "normal", "ms": 10, "jitter_ms": 20}, "jitter_ms must be <= ms"),
        ({"profile": "spike", "times": -1}, "ms, jitter_ms, spike_ms and times must be >= 0"),
        ({"profile": "normal", "speed": 3}, "unknown field 'speed'"),
    ],
)
def test_a_bad_latency_profile_says_what_to_fix(
    simulator: Simulator, body: object, error: str
) -> None:
    response = admin(simulator, "PUT", "/kit/latency", body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_the_latency_route_sets_the_vendors_profile_until_reset(simulator: Simulator) -> None:
    said = admin(simulator, "PUT", "/kit/latency", {"profile": "spike", "ms": 1, "spike_ms": 5,
                                                     "times": 4})  # fmt: skip
    assert said.json()["latency"]["spikes_left"] == 4
    admin(simulator, "POST", "/reset")
    assert admin(simulator, "GET", "").json()["vendors"]["kit"]["latency"]["profile"] == "normal"
