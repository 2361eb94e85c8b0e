"""OAuth access tokens that refresh themselves (probes/oauth.py), through a ResilientClient
against the simulator's token endpoints over real sockets: fetched before the first call,
refreshed before expiry and once on a 401, a rotated refresh token handed on, a refused
one said in words, a failing endpoint a 5xx, and no token ever in what is reported."""

from __future__ import annotations

import asyncio

import pytest

from probes import Kind, Reason
from probes.adapters import HubSpotAdapter, KitAdapter
from probes.oauth import MARGIN, OAuthApp, RefreshingToken
from simulator import Simulator
from simulator.oauth import APP
from tests.simulator.helpers import admin
from tests.support import FakeClock

pytestmark = pytest.mark.anyio


def tokens(sim: Simulator, vendor: str, path: str, **kw: object) -> RefreshingToken:
    app = OAuthApp(f"{sim.base_url(vendor)}{path}", APP["client_id"], APP["client_secret"])
    return RefreshingToken(app, f"sim-{vendor}-refresh-token", **kw)  # type: ignore[arg-type]


def token_calls(sim: Simulator, vendor: str) -> int:
    sent = admin(sim, "GET", f"/{vendor}/requests").json()["requests"]
    return sum(1 for r in sent if r["path"].endswith("/token"))


async def test_a_token_is_fetched_first_and_refreshed_before_it_expires(sim: Simulator) -> None:
    clock = FakeClock()
    oauth = tokens(sim, "hubspot", "/oauth/2026-03/token", clock=clock)
    async with HubSpotAdapter("hubspot", oauth=oauth, base_url=sim.base_url("hubspot")) as hub:
        first = await hub.health_check()
        again = await hub.health_check()
        assert (first.outcome.ok, again.outcome.ok) == (True, True)
        assert token_calls(sim, "hubspot") == 1  # one refresh serves both
        assert oauth.access == "sim-hubspot-access-1"
        clock.advance(1800 - MARGIN)  # within a minute of expiring: refreshed first
        assert (await hub.health_check()).outcome.ok
    assert token_calls(sim, "hubspot") == 2
    assert oauth.refresh_token == "sim-hubspot-refresh-token"  # HubSpot's does not rotate
    sent = admin(sim, "GET", "/hubspot/requests").json()["requests"]
    assert sent[1]["headers"]["authorization"] == "Bearer sim-hubspot-access-1"
    form = sent[0]["body"]
    assert "grant_type=refresh_token" in form
    assert "client_id=sim-client" in form


async def test_calls_at_once_share_one_refresh(sim: Simulator) -> None:
    oauth = tokens(sim, "hubspot", "/oauth/v1/token")
    async with HubSpotAdapter("hubspot", oauth=oauth, base_url=sim.base_url("hubspot")) as hub:
        results = await asyncio.gather(*(hub.health_check() for _ in range(5)))
    assert all(r.outcome.ok for r in results)
    assert token_calls(sim, "hubspot") == 1


async def test_a_401_refreshes_once_and_sends_the_call_again(sim: Simulator) -> None:
    admin(sim, "PUT", "/kit/oauth", {"lifetime": 0.2})
    rotated: list[str] = []
    oauth = tokens(sim, "kit", "/v4/oauth/token", rotated=rotated.append)
    async with KitAdapter("kit", oauth=oauth, base_url=sim.base_url("kit")) as kit:
        assert (await kit.health_check()).outcome.ok
        await asyncio.sleep(0.3)  # expired at the vendor, not yet by our clock's reckoning
        oauth.expires_at = float("inf")
        result = await kit.health_check()
    assert result.outcome.ok
    assert result.attempts == 1  # the 401 and the retry are one attempt: not a failure
    assert token_calls(sim, "kit") == 2
    assert rotated == ["sim-kit-refresh-1", "sim-kit-refresh-2"]  # Kit's rotates: each kept
    assert oauth.refresh_token == "sim-kit-refresh-2"


async def test_a_refused_refresh_token_is_auth_in_words(sim: Simulator) -> None:
    admin(sim, "PUT", "/hubspot/oauth", {"revoke": True})
    oauth = tokens(sim, "hubspot", "/oauth/2026-03/token")
    async with HubSpotAdapter("hubspot", oauth=oauth, base_url=sim.base_url("hubspot")) as hub:
        result = await hub.health_check()
    outcome = result.outcome
    assert (outcome.kind, outcome.reason, outcome.retryable) == (Kind.FAILURE, Reason.AUTH, False)
    assert outcome.detail == (
        "the refresh token was refused (HTTP 400: missing or unknown refresh token); "
        "authorize the app again"
    )
    assert result.attempts == 1  # never retried


async def test_a_failing_token_endpoint_is_a_5xx_and_no_token_is_ever_shown(
    sim: Simulator,
) -> None:
    oauth = tokens(sim, "kit", "/v4/oauth/token")
    async with KitAdapter("kit", oauth=oauth, base_url=sim.base_url("kit")) as kit:
        assert (await kit.health_check()).outcome.ok
        access = oauth.access
        assert access is not None
        admin(sim, "PUT", "/kit/mode", {"mode": "5xx", "message": "bad token {credential}"})
        echoed = await kit.health_check()  # the vendor echoes the access token it was sent
        oauth.access = None
        failed = await kit.health_check()
    assert echoed.outcome.reason is Reason.HTTP_5XX
    assert access not in echoed.outcome.detail
    assert "bad token [REDACTED]" in echoed.outcome.detail
    assert (failed.outcome.reason, failed.outcome.error) == (Reason.HTTP_5XX, "TokenEndpointFailed")
    assert "the token endpoint answered HTTP 500 with no access token" in failed.outcome.detail
    assert oauth.refresh_token not in echoed.outcome.detail + failed.outcome.detail


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    return simulator


async def test_a_refused_refresh_token_gives_way_to_the_one_another_process_kept(
    sim: Simulator,
) -> None:
    kept: list[str] = []
    other = tokens(sim, "kit", "/v4/oauth/token", rotated=kept.append)
    async with KitAdapter("kit", oauth=other, base_url=sim.base_url("kit")) as kit:
        assert (await kit.health_check()).outcome.ok  # it rotated ours away, and kept it
    ours = tokens(sim, "kit", "/v4/oauth/token", stored=lambda: kept[-1])
    async with KitAdapter("kit", oauth=ours, base_url=sim.base_url("kit")) as kit:
        result = await kit.health_check()
    assert result.outcome.ok
    assert ours.refresh_token == "sim-kit-refresh-2"  # the kept one, rotated once more
