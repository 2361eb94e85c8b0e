"""`breakerwatch demo` (and `make run`): the simulator and the daemon, with outages on a script.

The simulator serves the vendors and their status pages on 127.0.0.1:8600; the daemon runs
the repository's config.toml, whose integrations point there, with the simulator's keys in
the secrets' environment variables. Every `every` seconds something fails (HTTP 503) for
`outage` seconds, so breakers open, trial, and close while you watch the log, /metrics and
`breakerwatch status`. The script (`SCRIPT`) shows each verdict an alert can carry within
the first three outages: a vendor failing while its status page says all is well (only us
so far), a vendor that posts an incident a little into its outage (the alert is updated:
the vendor confirms), and the corporate proxy billing depends on (our side).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from daemon.app import Daemon
from daemon.config import ConfigError, load, local_url
from simulator import Simulator
from simulator.faults import Fault, Mode

__all__ = ["run_demo"]

SIMULATOR = ("127.0.0.1", 8600)
# What fails, in turn: (the simulator's fake, whether its vendor posts an incident, and why).
SCRIPT = (
    ("hubspot", False, "its status page says all is well: only us so far"),
    ("kit", True, "Kit posts an incident a little into it: the vendor confirms"),
    ("endpoint", False, "the corp proxy billing depends on: our side"),
    ("sendgrid", True, "SendGrid posts an incident a little into it: the vendor confirms"),
    ("mailchimp", False, "Mailchimp has no Statuspage page: unknown"),
)
POSTED_AFTER = 0.5  # of an outage: when its vendor posts the incident (after we alerted)
# The environment variables the repository's config.toml reads its secrets from.
KEYS = {
    "MAILCHIMP_API_KEY": "mailchimp",
    "HUBSPOT_TOKEN": "hubspot",
    "KIT_API_KEY": "kit",
    "SENDGRID_API_KEY": "sendgrid",
}


async def run_demo(
    config_path: Path,
    environ: Mapping[str, str],
    *,
    every: float = 180.0,
    first: float = 45.0,
    outage: float = 60.0,
    out: TextIO = sys.stdout,
) -> int:
    simulator = Simulator()
    try:
        sim_url = await simulator.start(*SIMULATOR)
    except OSError as error:
        print(f"breakerwatch demo: cannot start the simulator on {SIMULATOR[0]}:{SIMULATOR[1]}: "
              f"{error.strerror or error}", file=sys.stderr)  # fmt: skip
        return 1
    env = {**environ, **{var: simulator.credentials[vendor] for var, vendor in KEYS.items()}}
    try:
        config = load(config_path, environ=env)
    except ConfigError as error:
        print("\n".join(error.errors), file=sys.stderr)
        await simulator.close()
        return 1
    daemon_url = local_url(config.daemon)
    page = config.daemon.status_page != "off"
    out.write(
        (
            f"breakerwatch demo: open {daemon_url}/ in a browser (the status page)\n"
            if page
            else "breakerwatch demo: "
        )
        + f"{len(config.integrations)} integrations from {config_path}, "
        f"probing the simulator at {sim_url}\n"
        f"  metrics     {daemon_url}/metrics\n"
        f"  status      {daemon_url}/api/v1/status   (or: .venv/bin/breakerwatch status)\n"
        f"  health      {daemon_url}/healthz\n"
        f"  simulator   {sim_url}/__admin__\n"
        f"  break one yourself: curl -X PUT {sim_url}/__admin__/hubspot/mode "
        """-d '{"mode": "5xx"}'\n"""
        f"A vendor fails for {outage:.0f}s in {first:.0f}s, then one every {every:.0f}s. "
        "Ctrl-C to stop.\n\n"
    )
    out.flush()
    outages = asyncio.ensure_future(_outages(simulator, first, every, outage, out))
    try:
        return await Daemon(config, environ=env, log_stream=out).run()
    finally:
        outages.cancel()
        await simulator.close()


async def _outages(
    simulator: Simulator, first: float, every: float, outage: float, out: TextIO
) -> None:
    await asyncio.sleep(first)
    for fake, posts, why in itertools.cycle(SCRIPT):
        out.write(f"demo: {fake} starts failing (HTTP 503) for {outage:.0f}s; {why}\n")
        simulator.vendors[fake].plan.set_mode(Fault(Mode.UNAVAILABLE, retry_after=5))
        page = simulator.status_pages.get(fake) if posts else None
        if page is not None:
            await asyncio.sleep(outage * POSTED_AFTER)
            said = page.admin("incident", {"name": "Elevated API error rates", "impact": "major"})
            out.write(f"demo: {fake} posts an incident on its status page\n")
            await asyncio.sleep(outage * (1 - POSTED_AFTER))
            page.admin("resolve", {"id": said["incidents"][-1]["id"]})
        else:
            await asyncio.sleep(outage)
        simulator.vendors[fake].plan.set_mode(Fault())
        out.write(f"demo: {fake} is healthy again\n")
        await asyncio.sleep(every - outage)
