"""`breakerwatch simulate`: the vendor simulator as a foreground process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TextIO

from simulator import Simulator

_AUTH = {
    "kit": "X-Kit-Api-Key",
    "hubspot": "Authorization: Bearer",
    "mailchimp": "HTTP Basic password",
    "sendgrid": "Authorization: Bearer",
}


async def run(host: str, port: int, out: TextIO = sys.stdout) -> int:
    """Serve until SIGINT or SIGTERM; exit status 0, or 1 if the address cannot be used."""
    simulator = Simulator()
    try:
        url = await simulator.start(host, port)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"breakerwatch simulate: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    out.write(f"breakerwatch simulator on {url}\n")
    for name, fake in simulator.vendors.items():
        if name in simulator.credentials:
            key = simulator.credentials[name]
            auth = f"{_AUTH[name]}: {key}"
            out.write(f"  {name:<10} base_url {url}/{name:<10} {auth}  ({fake.title})\n")
        else:
            out.write(f"  {name:<10} {url}/{name}/healthz  ({fake.title})\n")
    out.write(
        f"  admin      {url}/__admin__   e.g. curl -X PUT {url}/__admin__/kit/mode "
        """-d '{"mode": "5xx"}'\n"""
    )
    out.write("Ctrl-C to stop.\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await simulator.close()
    return 0
