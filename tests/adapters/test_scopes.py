"""What a credential may do, asked of the vendor (`VendorAdapter.granted_scopes`), against
the simulator over real sockets: HubSpot's private-app token information and OAuth token
metadata, SendGrid's `GET /v3/scopes`; Kit and Mailchimp cannot tell. A write without its
scope gets the vendor's own 403."""

from __future__ import annotations

import json

import pytest

from probes import Reason, RequestFailed
from probes.adapters import HubSpotAdapter, KitAdapter, MailchimpAdapter, Scopes, SendGridAdapter
from simulator import Simulator
from tests.simulator.helpers import admin

pytestmark = pytest.mark.anyio
WRITE = ("crm.objects.contacts.write",)


def sent(sim: Simulator, vendor: str) -> list[dict[str, object]]:
    requests: list[dict[str, object]] = admin(sim, "GET", f"/{vendor}/requests").json()["requests"]
    return requests


async def test_hubspot_oauth_token_scopes_are_read_from_its_metadata(simulator: Simulator) -> None:
    token = simulator.credentials["hubspot"]
    async with HubSpotAdapter("hubspot", token, base_url=simulator.base_url("hubspot")) as hub:
        assert HubSpotAdapter.write_scopes == WRITE
        full = await hub.granted_scopes()
        admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth"]})
        narrow = await hub.granted_scopes()
    assert full.missing(WRITE) == ()
    assert "crm.objects.contacts.read" in (full.granted or ())
    assert narrow == Scopes(frozenset({"oauth"}))
    assert narrow.missing(("oauth", *WRITE)) == WRITE
    request = sent(simulator, "hubspot")[0]
    assert (request["method"], request["path"]) == ("GET", f"/oauth/v1/access-tokens/{token}")


async def test_hubspot_private_app_token_scopes_are_posted_for(simulator: Simulator) -> None:
    token = "pat-na1-11111111-2222-3333-4444-555555555555"
    simulator.vendors["hubspot"].credentials.add(token)
    async with HubSpotAdapter("hubspot", token, base_url=simulator.base_url("hubspot")) as hub:
        scopes = await hub.granted_scopes()
    assert scopes.missing(WRITE) == ()
    request = sent(simulator, "hubspot")[0]
    assert (request["method"], request["path"]) == (
        "POST", "/oauth/v2/private-apps/get/access-token-info",
    )  # fmt: skip
    assert json.loads(str(request["body"])) == {"tokenKey": token}


async def test_a_hubspot_write_without_its_scope_gets_missing_scopes(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth", "crm.objects.contacts.read"]})
    token = simulator.credentials["hubspot"]
    async with HubSpotAdapter("hubspot", token, base_url=simulator.base_url("hubspot")) as hub:
        with pytest.raises(RequestFailed) as raised:
            await hub.upsert_contact("ada@example.com")
        health = await hub.health_check()  # reads are unaffected
    outcome = raised.value.outcome
    assert (outcome.status, outcome.reason) == (403, Reason.AUTH)
    assert "hasn't been granted all required scopes" in outcome.detail
    assert health.outcome.ok


async def test_sendgrid_scopes_come_from_v3_scopes(simulator: Simulator) -> None:
    key = simulator.credentials["sendgrid"]
    async with SendGridAdapter("sendgrid", key, base_url=simulator.base_url("sendgrid")) as grid:
        full = await grid.granted_scopes()
        admin(simulator, "PUT", "/sendgrid/scopes", {"scopes": ["mail.send"]})
        narrow = await grid.granted_scopes()
        with pytest.raises(RequestFailed) as raised:
            await grid.upsert_contacts([{"email": "ada@example.com"}])
    assert full.missing(SendGridAdapter.write_scopes) == ()
    assert narrow.missing(SendGridAdapter.write_scopes) == SendGridAdapter.write_scopes
    assert raised.value.outcome.status == 403
    assert "access forbidden" in raised.value.outcome.detail


async def test_kit_and_mailchimp_cannot_tell(simulator: Simulator) -> None:
    kit = KitAdapter("kit", simulator.credentials["kit"], base_url=simulator.base_url("kit"))
    chimp = MailchimpAdapter("mailchimp", simulator.credentials["mailchimp"],
                             base_url=simulator.base_url("mailchimp"))  # fmt: skip
    async with kit, chimp:
        for adapter in (kit, chimp):
            assert adapter.write_scopes == ()
            scopes = await adapter.granted_scopes()
            assert scopes.granted is None
            assert scopes.missing(WRITE) is None
            assert "cannot tell what a credential may do" in (scopes.problem or "")
    assert sent(simulator, "kit") == []
    assert sent(simulator, "mailchimp") == []


async def test_a_failed_scope_check_says_why_and_never_shows_the_token(
    simulator: Simulator,
) -> None:
    token = "CANARY-oauth-token-7f3a"
    simulator.vendors["hubspot"].credentials.add(token)
    admin(simulator, "PUT", "/hubspot/mode",
          {"mode": "5xx", "status": 502, "message": "no route for {credential}"})  # fmt: skip
    async with HubSpotAdapter("hubspot", token, base_url=simulator.base_url("hubspot")) as hub:
        scopes = await hub.granted_scopes()
    assert scopes.granted is None
    assert "the scope check failed (http_5xx)" in (scopes.problem or "")
    assert "no route for" in (scopes.problem or "")
    assert token not in (scopes.problem or "")
    assert admin(simulator, "PUT", "/hubspot/mode", {"mode": "healthy"}).is_success
    unknown = HubSpotAdapter("hubspot", "not-a-known-token", base_url=simulator.base_url("hubspot"))
    async with unknown:
        refused = await unknown.granted_scopes()
    assert refused.granted is None
    assert "auth" in (refused.problem or "")
