"""Talking to the simulator over real sockets, as any client would."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from simulator import Simulator


def call(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to `sim.url + path` on a fresh connection."""
    kwargs.setdefault("timeout", 10)
    with httpx.Client(base_url=sim.url) as client:
        return client.request(method, path, **kwargs)


def admin(sim: Simulator, method: str, path: str, body: object = None) -> httpx.Response:
    return call(sim, method, f"/__admin__{path}", json=body)


def basic(key: str, user: str = "anystring") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def running_simulator() -> Iterator[Simulator]:
    """The vendor simulator on a free loopback port, served from its own thread and loop."""
    sim = Simulator()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
