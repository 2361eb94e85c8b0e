"""`breakerwatch simulate`: the vendor simulator as a foreground process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TextIO

from probes.simulator import Simulator

_AUTH = {
    "kit": "X-Kit-Api-Key",
    "hubspot": "Authorization: Bearer",
    "mailchimp": "HTTP Basic password",
    "sendgrid": "Authorization: Bearer",
}


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` -> (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (a port is 0 to 65535)")
    return host.strip("[]") or "127.0.0.1", int(port)


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
        key = simulator.credentials[name]
        out.write(f"  {name:<10} base_url {url}/{name:<10} {_AUTH[name]}: {key}  ({fake.title})\n")
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
