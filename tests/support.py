"""Test helpers: a clock the test drives, free loopback ports, the texts of a message, and
how long a soak runs."""

from __future__ import annotations

import math
import os
import socket


class FakeClock:
    """A monotonic (or wall) clock that moves only when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A port free for both TCP and UDP on loopback (Alertmanager gossips over both)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def texts(value: object) -> list[str]:
    """Every `text` string in a Slack message's blocks (or any JSON), however deep."""
    if isinstance(value, dict):
        own = [value["text"]] if isinstance(value.get("text"), str) else []
        return own + [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def soak(amount: float) -> float:
    """How much a soak test does (seconds, rounds): `amount` as CI runs it, times
    $BREAKERWATCH_SOAK_SCALE (0.2 for a fifth, while working on one)."""
    scale = os.environ.get("BREAKERWATCH_SOAK_SCALE", "1")
    try:
        factor = float(scale)
    except ValueError:
        factor = math.nan
    if not 0 < factor <= 10:
        raise ValueError(
            f"BREAKERWATCH_SOAK_SCALE must be a number in (0, 10], such as 0.2 (got {scale!r})"
        )
    return amount * factor
