"""Talking to the simulator over real sockets, as any client would."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from probes.simulator import Simulator


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
