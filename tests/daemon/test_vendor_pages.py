"""Vendor status pages read on their own schedule (daemon/vendor_pages.py), against the
simulator's Statuspage pages over real sockets, the clock driven by the test: read at
start, again after QUIET (WATCHFUL while the breaker is open), a 304 when nothing changed,
and a dead, malformed or huge page as `unknown`, saying why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon.config import parse
from daemon.integrations import Integration
from daemon.vendor_pages import QUIET, WATCHFUL, VendorPages
from probes import Breaker, BreakerConfig, Kind, Outcome
from probes.http import new_client
from probes.outbound import Outbound
from probes.proxy import Proxies
from simulator import Simulator
from tests.daemon.harness import DaemonProcess, config_text, environment
from tests.simulator.helpers import admin
from tests.support import FakeClock


def integration(sim: Simulator, components: str = "", name: str = "hubspot") -> Integration:
    text = (
        f'[[integrations]]\nname = "{name}"\nkind = "http"\nurl = "{sim.url}/endpoint/healthz"\n'
        f'status_page = "{sim.status_page("hubspot")}"\n{components}'
    )
    config = parse(text, Path("/etc/breakerwatch/config.toml"), environ={}).integrations[0]
    breaker = Breaker(name, BreakerConfig(failure_threshold=1))
    return Integration(config, breaker, {}, wall=lambda: 0.0)


def test_pages_are_read_when_due_and_say_what_the_vendor_says(simulator: Simulator) -> None:
    clock = FakeClock()
    hubspot = integration(simulator)
    page = simulator.status_pages["hubspot"]

    async def scenario() -> None:
        outbound = Outbound.build(Proxies())
        async with new_client(outbound.transport()) as http:
            pages = VendorPages(lambda: [hubspot], http, clock=clock)
            await pages.read_due()
            assert pages.summary() == {"hubspot": ("none", 0)}
            admin(simulator, "POST", "/hubspot/status-incident",
                  {"name": "API errors", "impact": "major", "components": ["CRM API"]})  # fmt: skip
            await pages.read_due()  # not due: nothing read
            assert (pages.summary(), page.requests) == ({"hubspot": ("none", 0)}, 1)
            clock.advance(QUIET)
            await pages.read_due()
            assert pages.summary() == {"hubspot": ("major", 1)}
            clock.advance(QUIET)
            await pages.read_due()  # unchanged: a 304, the reading stays
            assert pages.summary() == {"hubspot": ("major", 1)}
            assert page.requests == 3
            trip = hubspot.breaker.acquire()
            hubspot.breaker.record(trip, Outcome(Kind.FAILURE, error="x", detail="down"))
            clock.advance(QUIET)
            await pages.read_due()
            assert pages.readings["hubspot"].next_at == clock() + WATCHFUL  # while open
            for mode, said in (("503", "HTTP 503"), ("garbage", "not a Statuspage summary"),
                               ("huge", "over the 1048576 cap")):  # fmt: skip
                admin(simulator, "PUT", "/hubspot/status-mode", {"mode": mode})
                clock.advance(WATCHFUL)
                await pages.read_due()
                reading = pages.readings["hubspot"]
                assert (reading.indicator, pages.summary()["hubspot"]) == (
                    "unknown",
                    ("unknown", 0),
                )
                assert said in (reading.problem or ""), reading.problem

    asyncio.run(scenario())


def test_a_shared_page_is_fetched_once_and_read_for_each_ones_components(
    simulator: Simulator,
) -> None:
    clock = FakeClock()
    email = integration(simulator, 'status_components = ["Marketing Email"]\n', "email")
    crm = integration(simulator, 'status_components = ["CRM API"]\n', "crm")
    admin(simulator, "POST", "/hubspot/status-incident",
          {"name": "CRM slow", "impact": "minor", "components": ["CRM API"]})  # fmt: skip

    async def scenario() -> dict[str, tuple[str, int]]:
        async with new_client(Outbound.build(Proxies()).transport()) as http:
            pages = VendorPages(lambda: [email, crm], http, clock=clock)
            await pages.read_due()
            return pages.summary()

    assert asyncio.run(scenario()) == {"email": ("none", 0), "crm": ("minor", 1)}
    assert simulator.status_pages["hubspot"].requests == 1


@pytest.mark.system
def test_the_daemon_exports_what_the_vendor_page_says(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state")
    page = f'base_url = "{simulator.base_url("kit")}"\n'
    config.write_text(
        text.replace(page, page + f'status_page = "{simulator.status_page("kit")}"\n')
    )
    admin(simulator, "POST", "/kit/status-incident", {"name": "Forms down", "impact": "critical"})
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:
        wanted = 'breakerwatch_vendor_status{integration="kit",indicator="critical"} 1'
        daemon.until(lambda: wanted in daemon.get("/metrics").text, what="the page's reading")
        page_metrics = daemon.get("/metrics").text
        assert 'breakerwatch_vendor_incidents{integration="kit"} 1' in page_metrics
        assert 'breakerwatch_vendor_status{integration="hubspot"' not in page_metrics  # no page
        said = daemon.status()
        assert said["hubspot"]["vendor"] is None
        vendor = said["kit"]["vendor"]
        assert (vendor["indicator"], [i["name"] for i in vendor["incidents"]]) == (
            "critical", ["Forms down"],
        )  # fmt: skip
    finally:
        assert daemon.stop() == 0
