"""`breakerwatch demo` (and `make run`): the simulator and the daemon, with outages on a script.

The simulator serves the vendors on 127.0.0.1:8600; the daemon runs the repository's
config.toml, whose integrations point there, with the simulator's keys in the secrets'
environment variables. Every `every` seconds one vendor fails (HTTP 503) for `outage`
seconds, so breakers open, trial, and close while you watch the log, /metrics and
`breakerwatch status`.
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
    out.write(
        f"breakerwatch demo: {len(config.integrations)} integrations from {config_path}, "
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
    vendors = [name for name in simulator.vendors if name in simulator.credentials]
    outages = asyncio.ensure_future(_outages(simulator, vendors, first, every, outage, out))
    try:
        return await Daemon(config, environ=env, log_stream=out).run()
    finally:
        outages.cancel()
        await simulator.close()


async def _outages(
    simulator: Simulator, vendors: list[str], first: float, every: float, outage: float, out: TextIO
) -> None:
    await asyncio.sleep(first)
    for vendor in itertools.cycle(vendors):
        out.write(f"demo: {vendor} starts failing (HTTP 503) for {outage:.0f}s\n")
        simulator.vendors[vendor].plan.set_mode(Fault(Mode.UNAVAILABLE, retry_after=5))
        await asyncio.sleep(outage)
        simulator.vendors[vendor].plan.set_mode(Fault())
        out.write(f"demo: {vendor} is healthy again\n")
        await asyncio.sleep(every - outage)
