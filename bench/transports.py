"""CPU per HTTP request, a new connection each: the clients we could probe with, one process.

    .venv/bin/python bench/transports.py [--requests 3000]

Each client sends the same requests to the fast local target (bench/target.py, its own
process), 40 at a time, keeping no connection alive: a probe every 30 s never reuses one.
CPU is this process's user + system time, so the target's is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import httpcore
import httpx
from target import running_target

from probes.transport import AiohttpTransport

CONCURRENCY = 40


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def per_request(get: Callable[[], Awaitable[None]], requests: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await get()

    await asyncio.gather(*(worker(10) for _ in range(CONCURRENCY)))  # warm-up
    start = cpu()
    await asyncio.gather(*(worker(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (cpu() - start) / requests * 1e6


async def measure(url: str, requests: int) -> dict[str, float]:
    no_keepalive = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    default = httpx.AsyncClient(limits=no_keepalive)
    ours = httpx.AsyncClient(transport=AiohttpTransport(keepalive=0.0001))
    pool = httpcore.AsyncConnectionPool(max_keepalive_connections=0)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    async def via_default() -> None:
        assert (await default.get(url)).status_code == 200

    async def via_ours() -> None:
        assert (await ours.get(url)).status_code == 200

    async def via_httpcore() -> None:
        assert (await pool.request("GET", url)).status == 200

    async def via_aiohttp() -> None:
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200

    try:
        return {
            "httpx, default transport (httpcore over anyio)": await per_request(
                via_default, requests
            ),
            "httpcore directly": await per_request(via_httpcore, requests),
            "aiohttp directly": await per_request(via_aiohttp, requests),
            "httpx over probes/transport.py (aiohttp)": await per_request(via_ours, requests),
        }
    finally:
        await default.aclose()
        await ours.aclose()
        await pool.aclose()
        await session.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with running_target() as url:
        results = asyncio.run(measure(url + "x", args.requests))
    print(f"# CPU per request, a new connection each, {CONCURRENCY} concurrent\n")
    print("| client | CPU per request |\n|---|---|")
    for name, micros in results.items():
        print(f"| {name} | {micros:,.0f} us |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
