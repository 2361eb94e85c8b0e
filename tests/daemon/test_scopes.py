"""Scope checks on their own schedule (daemon/scopes.py), against the simulator over real
sockets, the clock driven by the test: checked at start, again after the interval, at once
for an integration a reload rebuilt; a change told once, a failed check changing nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon.config import parse
from daemon.integrations import Integration
from daemon.scopes import EVERY, RETRY, ScopeChecks
from probes import Breaker, BreakerConfig, Kind, Outcome, State
from simulator import Simulator
from tests.simulator.helpers import admin
from tests.support import FakeClock

WRITE = ("crm.objects.contacts.write",)


def integration(sim: Simulator, extra: str = "", kind: str = "hubspot") -> Integration:
    key = "token" if kind == "hubspot" else "api_key"
    vendor = "kit" if kind == "convertkit" else kind
    text = (
        f'[[integrations]]\nname = "{kind}"\nkind = "{kind}"\n{key} = "env:KEY"\n'
        f'base_url = "{sim.base_url(vendor)}"\n{extra}'
    )
    environ = {"KEY": sim.credentials[vendor]}
    config = parse(text, Path("/etc/breakerwatch/config.toml"), environ=environ).integrations[0]
    return Integration(config, Breaker(kind, BreakerConfig()), {}, wall=lambda: 0.0)


def test_checks_tell_what_changed_and_when_due(simulator: Simulator) -> None:
    clock, wall = FakeClock(), FakeClock(5_000.0)
    fleet = [integration(simulator), integration(simulator, kind="convertkit")]
    built = list(fleet)
    told: list[tuple[str, tuple[str, ...]]] = []

    async def scenario() -> None:
        checks = ScopeChecks(lambda: fleet, clock=clock, wall=wall,
                             changed=lambda *change: told.append(change))  # fmt: skip
        await checks.check_due()
        assert told == [("hubspot", ())]  # the first check is told, even all well
        assert checks.describe("hubspot") == {
            "needed": list(WRITE), "missing": [], "checked_at": 5_000.0, "problem": None,
        }  # fmt: skip
        assert checks.describe("convertkit") is None  # Kit cannot tell: nothing checked
        admin(simulator, "PUT", "/hubspot/scopes", {"scopes": ["oauth"]})
        await checks.check_due()  # not due yet
        assert len(told) == 1
        clock.advance(EVERY)
        await checks.check_due()
        assert told[-1] == ("hubspot", WRITE)
        assert checks.summary() == {"hubspot": 1}
        clock.advance(EVERY)
        await checks.check_due()  # the same: nothing new to tell
        assert len(told) == 2
        assert admin(simulator, "PUT", "/hubspot/mode", {"mode": "503"}).is_success
        admin(simulator, "PUT", "/hubspot/scopes", {"scopes": list(WRITE)})
        clock.advance(EVERY)
        await checks.check_due()  # failed: what it said stands, tried again after RETRY
        check = checks.checks["hubspot"]
        assert (check.missing, len(told)) == (WRITE, 2)
        assert "the scope check failed (http_5xx)" in (check.problem or "")
        assert check.next_at == clock() + RETRY
        admin(simulator, "PUT", "/hubspot/mode", {"mode": "healthy"})
        clock.advance(RETRY)
        await checks.check_due()
        assert told[-1] == ("hubspot", ())
        assert checks.describe("hubspot")["problem"] is None
        fleet[0] = integration(simulator, 'scopes = ["crm.objects.deals.write"]\n')  # a reload
        built.append(fleet[0])
        await checks.check_due()  # at once, for the rebuilt integration
        assert told[-1] == ("hubspot", ("crm.objects.deals.write",))
        hubspot = fleet[0]
        trip = hubspot.breaker.acquire()
        for _ in range(hubspot.config.breaker.failure_threshold):
            hubspot.breaker.record(trip, Outcome(Kind.FAILURE, error="x", detail="down"))
            trip = hubspot.breaker.acquire() if hubspot.breaker.state is State.CLOSED else trip
        assert hubspot.breaker.state is State.OPEN
        asked = len(admin(simulator, "GET", "/hubspot/requests").json()["requests"])
        clock.advance(EVERY)
        await checks.check_due()  # never while the breaker is open: a trial's permit is not ours
        assert len(admin(simulator, "GET", "/hubspot/requests").json()["requests"]) == asked
        assert checks.checks["hubspot"].problem == "not asked while the breaker is not closed"
        assert checks.checks["hubspot"].missing == ("crm.objects.deals.write",)  # it stands
        fleet.pop(0)
        await checks.check_due()
        assert checks.summary() == {}
        assert checks.describe("hubspot") is None
        for one in built:
            await one.aclose()

    asyncio.run(scenario())


def test_scopes_off_checks_nothing(simulator: Simulator) -> None:
    off = integration(simulator, "scopes = []\n", kind="sendgrid")

    async def scenario() -> None:
        checks = ScopeChecks(lambda: [off], clock=FakeClock(), wall=FakeClock())
        await checks.check_due()
        assert checks.checks == {}
        await off.aclose()

    asyncio.run(scenario())
    assert admin(simulator, "GET", "/sendgrid/requests").json()["requests"] == []


def test_our_own_bug_in_a_check_is_logged_and_tried_again(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    hub = integration(simulator)

    async def broken() -> None:
        raise RuntimeError("a bug of ours")

    hub.adapter.granted_scopes = broken  # type: ignore[method-assign]

    async def scenario() -> None:
        checks = ScopeChecks(lambda: [hub], clock=clock, wall=FakeClock())
        await checks.check_due()  # does not raise: the loop lives on
        check = checks.checks["hubspot"]
        assert check.problem == "the check failed inside breakerwatch (see its log)"
        assert check.next_at == clock() + RETRY
        await hub.aclose()

    asyncio.run(scenario())
    assert "the scope check failed inside breakerwatch" in caplog.text
