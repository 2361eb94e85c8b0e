"""Canary writes (`VendorAdapter.canary`): each vendor's idempotent write with a dedicated
identity, then read back, against the simulator over real sockets. Written twice, there is
still one record; writes failing while reads succeed, a stalled import job and a read-back
that differs are failures."""

from __future__ import annotations

import pytest

from probes import Reason, RequestFailed
from probes.adapters import (
    CanaryWrite,
    HubSpotAdapter,
    KitAdapter,
    MailchimpAdapter,
    SendGridAdapter,
    VendorAdapter,
)
from simulator import Simulator
from simulator.wire import json_response
from tests.simulator.helpers import admin

pytestmark = pytest.mark.anyio
EMAIL = "breakerwatch-canary@example.com"
ADAPTERS: dict[str, type[VendorAdapter]] = {
    "hubspot": HubSpotAdapter, "sendgrid": SendGridAdapter, "mailchimp": MailchimpAdapter,
    "kit": KitAdapter,
}  # fmt: skip


async def no_sleep(seconds: float) -> None:
    return None


def adapter(sim: Simulator, vendor: str) -> VendorAdapter:
    return ADAPTERS[vendor](vendor, sim.credentials[vendor], base_url=sim.base_url(vendor),
                            sleep=no_sleep)  # fmt: skip


def records(sim: Simulator, vendor: str) -> int:
    fake = sim.vendors[vendor]
    stored = {"hubspot": "contacts", "sendgrid": "contacts", "mailchimp": "members",
              "kit": "subscribers"}[vendor]  # fmt: skip
    return len(getattr(fake, stored))


def write(marker: str) -> CanaryWrite:
    return CanaryWrite(EMAIL, marker, list_id="a1b2c3d4e5", form_id="1234", tag_id="5678")


@pytest.mark.parametrize("vendor", sorted(ADAPTERS))
async def test_a_canary_writes_reads_back_and_never_makes_a_second_record(
    simulator: Simulator, vendor: str
) -> None:
    async with adapter(simulator, vendor) as client:
        await client.canary(write("canary 1"))
        await client.canary(write("canary 2"))
    assert records(simulator, vendor) == 1


@pytest.mark.parametrize("vendor", sorted(ADAPTERS))
async def test_writes_failing_while_reads_succeed_fail_the_canary(
    simulator: Simulator, vendor: str
) -> None:
    admin(simulator, "PUT", f"/{vendor}/writes", {"mode": "5xx", "status": 502})
    async with adapter(simulator, vendor) as client:
        with pytest.raises(RequestFailed) as raised:
            await client.canary(write("canary 1"))
        health = await client.health_check()
    assert raised.value.outcome.reason is Reason.HTTP_5XX
    assert health.outcome.ok


async def test_a_stalled_import_job_fails_the_sendgrid_canary(simulator: Simulator) -> None:
    admin(simulator, "PUT", "/sendgrid/limits", {"job_polls_pending": 1000})
    async with adapter(simulator, "sendgrid") as client:
        with pytest.raises(RequestFailed) as raised:
            await client.canary(write("canary 1"))
    outcome = raised.value.outcome
    assert (outcome.reason, outcome.error) == (Reason.INVALID_RESPONSE, "ImportNotCompleted")
    assert "the canary's import job was still 'pending' after 30 polls" in outcome.detail


async def test_a_write_that_does_not_read_back_is_a_failure(simulator: Simulator) -> None:
    """A vendor that accepted the write but reads back an older value (a lost write)."""
    stale = json_response(200, {"id": "5000", "properties": {"lastname": "canary 0"}})
    simulator.vendors["hubspot"].read_contact = lambda request, match: stale  # type: ignore[attr-defined]
    async with adapter(simulator, "hubspot") as client:
        with pytest.raises(RequestFailed) as raised:
            await client.canary(write("canary 1"))
    outcome = raised.value.outcome
    assert outcome.reason is Reason.INVALID_RESPONSE
    assert "the canary's lastname read back as 'canary 0', not what was written" in outcome.detail


async def test_a_mailchimp_canary_needs_its_audience(simulator: Simulator) -> None:
    async with adapter(simulator, "mailchimp") as client:
        with pytest.raises(ValueError, match="needs its audience"):
            await client.canary(CanaryWrite(EMAIL, "canary 1"))
