"""Test helpers: a clock the test drives, free loopback ports, and the texts of a message."""

from __future__ import annotations

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
