"""systemd's notify protocol without libsystemd: one datagram of KEY=VALUE lines.

The protocol is stable and documented in sd_notify(3) ("Standalone Implementations").
Outside systemd (no $NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier"]


class Notifier:
    """Sends READY, STATUS, RELOADING, STOPPING and WATCHDOG messages to systemd."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # the Linux abstract namespace
            address = "\0" + address[1:]
        self._address = address if address[:1] in ("/", "\0") else ""
        usec = environ.get("WATCHDOG_USEC", "")
        owner = environ.get("WATCHDOG_PID", str(os.getpid()))
        self.watchdog_interval: float | None = None
        if usec.isdigit() and int(usec) > 0 and owner == str(os.getpid()):
            self.watchdog_interval = int(usec) / 1e6 / 2  # ping twice per WatchdogSec

    def send(self, *assignments: str) -> None:
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(self._address)
            sock.sendall("\n".join(assignments).encode())

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    async def keep_alive(self, healthy: Callable[[], bool]) -> None:
        """WATCHDOG=1 only while `healthy()`: a wedged daemon is restarted by systemd."""
        if self.watchdog_interval is None:
            return
        while True:
            if healthy():
                self.watchdog()
            await asyncio.sleep(self.watchdog_interval)
