"""The floor a prober on these libraries stands on, one process per measurement:

    python bench/floor.py apscheduler URL RATE INTERVAL SECONDS [CA_FILE]
    python bench/floor.py aiohttp URL RATE INTERVAL SECONDS
    python bench/floor.py both URL RATE INTERVAL SECONDS
    python bench/floor.py reuse URL RATE INTERVAL SECONDS
    python bench/floor.py drive URL RATE INTERVAL SECONDS

`apscheduler`: RATE x INTERVAL jobs on APScheduler's AsyncIOScheduler, each every INTERVAL
s, doing nothing (the scheduler's own cost per run). `aiohttp`: RATE requests a second to
URL from a plain paced loop, each on a new connection (the HTTP client's cost per
request). `both`: the jobs of `apscheduler`, each sending one request of `aiohttp` (the
least a scheduled prober built on them can do). `reuse`: `both`, with connections kept
alive and reused across jobs, as breakerwatch's pool does. `drive`: `aiohttp` on
kept-alive connections, to drive an exporter at RATE as Prometheus would. After one
INTERVAL of warm-up, it prints one JSON line: the process's CPU seconds over the next
SECONDS, the runs or requests counted in them, and the window's wall-clock bounds (for
the target's access log). CA_FILE: the CA that an HTTPS target's certificate comes from.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import time
from datetime import UTC, datetime, timedelta

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler


async def main(
    mode: str, url: str, rate: int, interval: float, seconds: float, ca: str | None
) -> None:
    count, driver = 0, None
    fresh = mode not in ("reuse", "drive")  # else connections are kept alive and reused
    trust = ssl.create_default_context(cafile=ca) if ca else True
    connector = aiohttp.TCPConnector(force_close=fresh, limit=0, ssl=trust)
    session = aiohttp.ClientSession(connector=connector)

    async def request(path: str) -> None:
        nonlocal count
        async with session.get(url + path) as response:
            await response.read()
        count += 1

    async def job(path: str) -> None:
        nonlocal count
        if mode in ("both", "reuse"):
            await request(path)
        else:
            count += 1

    async def paced() -> None:
        tasks, start, i = set(), time.monotonic(), 0
        while True:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(request(f"t{i % (rate * int(interval))}"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1

    if mode in ("aiohttp", "drive"):
        driver = asyncio.ensure_future(paced())
    else:
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for i in range(int(rate * interval)):
            first = now + timedelta(seconds=i / rate)
            scheduler.add_job(job, "interval", seconds=interval, args=[f"t{i}"],
                              next_run_time=first, coalesce=True, max_instances=1,
                              misfire_grace_time=max(1, int(interval / 2)))  # fmt: skip
        scheduler.start()
    await asyncio.sleep(interval)
    before, cpu, since = count, time.process_time(), time.time()
    await asyncio.sleep(seconds)
    runs, cpu, until = count - before, time.process_time() - cpu, time.time()
    print(json.dumps({"cpu": cpu, "runs": runs, "since": since, "until": until}), flush=True)
    del driver
    os._exit(0)  # measured: what is in flight does not matter


if __name__ == "__main__":
    mode, url, rate, interval, seconds = sys.argv[1:6]
    ca = sys.argv[6] if len(sys.argv) > 6 else None
    asyncio.run(main(mode, url, int(rate), float(interval), float(seconds), ca))
