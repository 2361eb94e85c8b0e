"""Canary writes on their own schedule (daemon/canaries.py), against the simulator over
real sockets, the clock driven by the test: run when due, two failed runs telling that
writes fail while the reads succeed (and not while the reads fail too), a good run telling
the end, and an answer that lacks what the vendor documents being a failed run, not a
crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.canaries import CanaryWrites
from daemon.config import parse
from daemon.integrations import Integration
from probes import Breaker, Kind, Outcome, Reason
from simulator import Simulator
from simulator.wire import json_response
from tests.simulator.helpers import admin
from tests.support import FakeClock

CANARY = 'canary = { email = "breakerwatch-canary@example.com", interval = "1m" }\n'


def hubspot(sim: Simulator) -> Integration:
    text = (
        '[[integrations]]\nname = "hubspot"\nkind = "hubspot"\ntoken = "env:KEY"\n'
        f'base_url = "{sim.base_url("hubspot")}"\n{CANARY}'
    )
    config = parse(text, Path("/etc/breakerwatch/config.toml"),
                   environ={"KEY": sim.credentials["hubspot"]}).integrations[0]  # fmt: skip
    return Integration(config, Breaker("hubspot", config.breaker), {}, wall=lambda: 0.0)


def test_failing_writes_are_told_while_reads_succeed_and_their_end(simulator: Simulator) -> None:
    clock = FakeClock()
    told: list[tuple[str, Outcome | None]] = []
    integration = hubspot(simulator)

    async def scenario() -> None:
        canaries = CanaryWrites(lambda: [integration], {}, clock=clock, wall=FakeClock(),
                                changed=lambda *change: told.append(change))  # fmt: skip
        await canaries.run_due()
        assert told == [("hubspot", None)]  # the first good run: resolves one left open
        await canaries.run_due()  # not due
        assert canaries.describe("hubspot")["runs"] == 1  # type: ignore[index]
        admin(simulator, "PUT", "/hubspot/writes", {"mode": "5xx", "status": 502})
        for _ in range(2):
            clock.advance(60)
            await canaries.run_due()
        ((name, failure),) = told[1:]
        assert name == "hubspot"
        assert failure is not None
        assert failure.reason is Reason.HTTP_5XX
        admin(simulator, "PUT", "/hubspot/writes", {"mode": "healthy"})
        clock.advance(60)
        await canaries.run_due()
        assert told[-1] == ("hubspot", None)
        assert canaries.numbers()["hubspot"][1:4] == (2, 2, 0)  # successes, failures, rejected
        await canaries.aclose()
        await integration.aclose()

    asyncio.run(scenario())


def test_not_told_while_the_reads_fail_too_and_an_odd_answer_is_a_failed_run(
    simulator: Simulator,
) -> None:
    clock = FakeClock()
    told: list[tuple[str, Outcome | None]] = []
    integration = hubspot(simulator)
    simulator.vendors["hubspot"].batch_upsert = lambda request, match: json_response(200, {})  # type: ignore[attr-defined]
    trip = integration.breaker.acquire()
    for _ in range(integration.config.breaker.failure_threshold):
        integration.breaker.record(trip, Outcome(Kind.FAILURE, Reason.HTTP_5XX, detail="down"))
        trip = (
            integration.breaker.acquire() if integration.breaker.state.value == "closed" else trip
        )

    async def scenario() -> None:
        canaries = CanaryWrites(lambda: [integration], {}, clock=clock, wall=FakeClock(),
                                changed=lambda *change: told.append(change))  # fmt: skip
        for _ in range(3):
            await canaries.run_due()
            clock.advance(60)
        described = canaries.describe("hubspot")
        assert described is not None
        assert described["failures"] == 3  # the third run was its breaker's trial
        assert described["state"] == "open"
        assert "the vendor's answer lacked what it documents ('results')" in described["last_error"]
        assert told == []  # the reads fail too: the outage says it all
        await canaries.aclose()
        await integration.aclose()

    asyncio.run(scenario())
