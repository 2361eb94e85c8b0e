"""`breakerwatch check --online`: before deploying, ask every vendor once.

Each integration gets one health probe (through a fresh breaker, its own proxy and the
daemon's trust store: nothing is saved) and, where the vendor can tell, the question of
what its credential may do against the `scopes` it needs. One line per integration; 1 if
any probe failed or any credential lacks a scope.
"""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from daemon.config import Config, IntegrationConfig
from daemon.integrations import build_adapter, oauth_tokens, token_store
from daemon.state import StateStore
from probes import Breaker
from probes.adapters import ClientOptions, VendorAdapter
from probes.http import new_client
from probes.outbound import Outbound
from probes.text import printable

__all__ = ["check_online"]


async def check_online(config: Config, out: TextIO) -> int:
    """Probe and scope-check every integration at once; print what each said."""
    outbound = Outbound.build(config.proxies, config.daemon.ca_file)
    store = token_store(config, config.integrations)  # OAuth tokens, shared with the daemon
    try:
        async with new_client(outbound.transport()) as http:  # one pool, as the daemon's
            options: ClientOptions = {"http": http}
            found = await asyncio.gather(*(_one(i, options, store) for i in config.integrations))
    finally:
        if store is not None:
            store.close()
    for line, _ in found:
        out.write(printable(line) + "\n")  # vendors' words reach a terminal
    return 0 if all(ok for _, ok in found) else 1


async def _one(
    config: IntegrationConfig, options: ClientOptions, store: StateStore | None
) -> tuple[str, bool]:
    name = config.name
    oauth = oauth_tokens(config, store, time.monotonic) if store is not None else None
    async with build_adapter(config, Breaker(name, config.breaker), options, oauth) as adapter:
        result = await adapter.health_check()
        outcome = result.outcome
        if not outcome.ok:
            what = outcome.reason or outcome.kind
            return f"{name}: FAILED: the probe failed ({what}): {outcome.detail}", False
        probe = f"probe ok in {result.duration * 1000:.0f}ms"
        if not config.scopes or not isinstance(adapter, VendorAdapter):
            if isinstance(adapter, VendorAdapter):
                return (
                    f"{name}: OK: {probe}; {config.kind} cannot tell what a credential may do",
                    True,
                )
            return f"{name}: OK: {probe}", True
        scopes = await adapter.granted_scopes()
    missing = scopes.missing(config.scopes)
    if missing is None:
        return f"{name}: FAILED: {probe}, but {scopes.problem}", False
    if missing:
        return (f"{name}: FAILED: {probe}, but the credential lacks {', '.join(missing)}; "
                "writes will be refused", False)  # fmt: skip
    return f"{name}: OK: {probe}; the credential has {', '.join(config.scopes)}", True
