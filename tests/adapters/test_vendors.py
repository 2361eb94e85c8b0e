"""Each vendor's core write, sent exactly as the vendor documents it (against the simulator)."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from probes import Kind, Outcome, Reason, RequestFailed
from probes.adapters import (
    AdapterError,
    HubSpotAdapter,
    KitAdapter,
    MailchimpAdapter,
    SendGridAdapter,
)
from probes.adapters.mailchimp import datacenter, subscriber_hash
from simulator import Simulator
from tests.fakes.http_server import Reply, ScriptedServer
from tests.simulator.helpers import admin

pytestmark = pytest.mark.anyio


def sent(sim: Simulator, vendor: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = admin(sim, "GET", f"/{vendor}/requests").json()["requests"]
    return requests


async def no_sleep(seconds: float) -> None:
    return None


# -- Kit ----------------------------------------------------------------------------------


async def test_kit_subscribes_in_two_steps_and_repeats_safely(simulator: Simulator) -> None:
    async with KitAdapter(
        "kit", simulator.credentials["kit"], base_url=simulator.base_url("kit")
    ) as kit:
        first = await kit.subscribe(
            "ada@example.com", first_name="Ada", fields={"company": "AE"},
            form_id=1234, tag_id=5678, referrer="https://example.com/join",
        )  # fmt: skip
        again = await kit.subscribe("ada@example.com", form_id=1234)
    assert first["email_address"] == "ada@example.com"
    assert first["tagged_at"]
    assert again["id"] == first["id"]
    steps = [(r["method"], r["path"], json.loads(r["body"])) for r in sent(simulator, "kit")]
    assert steps[:3] == [
        ("POST", "/v4/subscribers",
         {"email_address": "ada@example.com", "first_name": "Ada", "fields": {"company": "AE"}}),
        ("POST", "/v4/forms/1234/subscribers",
         {"email_address": "ada@example.com", "referrer": "https://example.com/join"}),
        ("POST", "/v4/tags/5678/subscribers", {"email_address": "ada@example.com"}),
    ]  # fmt: skip
    headers = sent(simulator, "kit")[0]["headers"]
    assert headers["x-kit-api-key"] == simulator.credentials["kit"]
    assert headers["content-type"] == "application/json; charset=utf-8"


async def test_kit_subscribe_to_an_unknown_form_raises_with_the_vendors_message(
    simulator: Simulator,
) -> None:
    async with KitAdapter(
        "kit", simulator.credentials["kit"], base_url=simulator.base_url("kit")
    ) as kit:
        with pytest.raises(RequestFailed) as error:
            await kit.subscribe("b@example.com", form_id=999)
    assert error.value.outcome.reason is Reason.CLIENT_ERROR
    assert str(error.value) == "kit: unexpected status (HTTP 404 Not Found): Not Found"


# -- HubSpot ------------------------------------------------------------------------------


async def test_hubspot_upsert_by_email_is_idempotent(simulator: Simulator) -> None:
    token = simulator.credentials["hubspot"]
    async with HubSpotAdapter("hubspot", token, base_url=simulator.base_url("hubspot")) as hubspot:
        created = await hubspot.upsert_contact("Ada@Example.com", {"firstname": "Ada"})
        updated = await hubspot.upsert_contact("ada@example.com", {"lastname": "Lovelace"})
    assert (created["new"], updated["new"]) == (True, False)
    assert created["id"] == updated["id"]
    request = sent(simulator, "hubspot")[0]
    assert (request["method"], request["path"]) == ("POST", "/crm/v3/objects/contacts/batch/upsert")
    assert json.loads(request["body"]) == {
        "inputs": [
            {"idProperty": "email", "id": "Ada@Example.com", "properties": {"firstname": "Ada"}}
        ]
    }
    assert request["headers"]["authorization"] == f"Bearer {token}"


async def test_hubspot_daily_limit_cools_down_until_the_accounts_midnight(
    simulator: Simulator,
) -> None:
    token = simulator.credentials["hubspot"]
    async with HubSpotAdapter(
        "hubspot", token, base_url=simulator.base_url("hubspot"), sleep=no_sleep, deadline=5
    ) as hubspot:
        assert (await hubspot.health_check()).outcome.ok  # learns the account's time zone
        admin(simulator, "PUT", "/hubspot/limits", {"daily": 1})
        result = await hubspot.health_check()
    assert hubspot.time_zone == "US/Eastern"
    assert result.outcome.kind is Kind.THROTTLED
    eastern = datetime.now(ZoneInfo("US/Eastern"))
    midnight = (eastern + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert result.outcome.retry_after == pytest.approx(midnight.timestamp() - time.time(), abs=5)


def test_hubspot_midnight_is_right_across_a_dst_change() -> None:
    hubspot = HubSpotAdapter("hubspot", "token")
    hubspot.time_zone = "US/Eastern"
    # 00:30 EST on the day clocks go forward: the next midnight is 22.5 hours away, not 23.5.
    throttled = httpx.Response(
        429,
        headers={"Date": "Sun, 08 Mar 2026 05:30:00 GMT"},
        json={"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY"},
    )
    outcome = hubspot.refine(Outcome(Kind.THROTTLED, status=429), throttled)
    assert outcome.retry_after == 22.5 * 3600


# -- Mailchimp ----------------------------------------------------------------------------

VECTOR_EMAIL, VECTOR_HASH = "Urist.McVankab@freddiesjokes.com", "62eeb292278cc15f5817cb78f7790b08"


async def test_mailchimp_member_upsert_uses_the_md5_of_the_lowercased_email(
    simulator: Simulator,
) -> None:
    key = simulator.credentials["mailchimp"]
    assert subscriber_hash(VECTOR_EMAIL) == VECTOR_HASH
    async with MailchimpAdapter("mailchimp", key, base_url=simulator.base_url("mailchimp")) as mc:
        assert mc.datacenter == "us21"
        member = await mc.upsert_member("a1b2c3d4e5", VECTOR_EMAIL, merge_fields={"FNAME": "Urist"})
    assert (member["id"], member["status"]) == (VECTOR_HASH, "subscribed")
    request = sent(simulator, "mailchimp")[0]
    assert (request["method"], request["path"]) == (
        "PUT", f"/3.0/lists/a1b2c3d4e5/members/{VECTOR_HASH}",
    )  # fmt: skip
    assert json.loads(request["body"]) == {
        "email_address": VECTOR_EMAIL,
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Urist"},
    }
    scheme, _, encoded = request["headers"]["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode().split(":", 1)[1] == key


async def test_mailchimp_errors_carry_the_problem_title(simulator: Simulator) -> None:
    key = simulator.credentials["mailchimp"]
    async with MailchimpAdapter("mailchimp", key, base_url=simulator.base_url("mailchimp")) as mc:
        with pytest.raises(RequestFailed) as error:
            await mc.upsert_member("no-such-list", "a@example.com")
    assert "Resource Not Found: The requested resource could not be found." in str(error.value)


async def test_mailchimp_bare_403_is_throttling(server: ScriptedServer) -> None:
    server.default = Reply(403, body=b"", headers={})
    async with MailchimpAdapter(
        "mc", "abc-us21", base_url=server.url, sleep=no_sleep, deadline=3
    ) as mc:
        result = await mc.health_check()
    assert result.outcome.kind is Kind.THROTTLED
    assert "bare HTTP 403" in result.outcome.detail


@pytest.mark.parametrize("key", ["abcdef0123456789", "abc-", "-us21", "abc-21"])
def test_a_mailchimp_key_without_a_datacenter_is_refused(key: str) -> None:
    assert datacenter(key) is None
    with pytest.raises(AdapterError) as error:
        MailchimpAdapter("newsletter", key, base_url="http://127.0.0.1:8600/mailchimp")
    assert str(error.value) == (
        "newsletter: api_key: the key has no data-centre suffix; "
        "a Mailchimp key ends in -<dc>, such as -us21"
    )


# -- SendGrid -----------------------------------------------------------------------------


async def test_sendgrid_contacts_upsert_returns_a_job_that_completes(simulator: Simulator) -> None:
    key = simulator.credentials["sendgrid"]
    async with SendGridAdapter(
        "sendgrid", key, base_url=simulator.base_url("sendgrid"), sleep=no_sleep
    ) as sendgrid:
        job = await sendgrid.upsert_contacts([{"email": "Ada@Example.com"}], list_ids=["l-1"])
        status = await sendgrid.wait_for_import(job, every=0.01)
        remaining = sendgrid.metrics().rate_limit_remaining
    assert status["status"] == "completed"
    assert status["results"]["created_count"] == 1
    request = sent(simulator, "sendgrid")[0]
    assert (request["method"], request["path"]) == ("PUT", "/v3/marketing/contacts")
    assert json.loads(request["body"]) == {
        "contacts": [{"email": "Ada@Example.com"}],
        "list_ids": ["l-1"],
    }
    assert request["headers"]["accept"] == "application/json"
    assert remaining is not None
    assert remaining < 600


async def test_sendgrid_invalid_contacts_raise_with_the_vendors_message(
    simulator: Simulator,
) -> None:
    key = simulator.credentials["sendgrid"]
    async with SendGridAdapter(
        "sendgrid", key, base_url=simulator.base_url("sendgrid")
    ) as sendgrid:
        with pytest.raises(RequestFailed) as error:
            await sendgrid.upsert_contacts([{"first_name": "NoEmail"}])
    assert error.value.outcome.status == 400
    assert "contact must have at least one identifier" in str(error.value)
