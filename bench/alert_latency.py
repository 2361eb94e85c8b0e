"""Alert latency: from a breaker transition to the fake Slack's receipt, Slack healthy.

    .venv/bin/python bench/alert_latency.py [--incidents 40] [--pages [--rounds 3]]
    .venv/bin/python bench/alert_latency.py --against /tmp/old [--rounds 3]

The daemon (`breakerwatch run`) probes the vendor simulator every 500 ms and alerts to the
fake Slack of tests/fakes/slack.py with a bot token; the four vendors fail and recover one
after another. Each opening is a `chat.postMessage`, each recovery a `chat.update` (plus a
thread reply). The latency of one is the fake's arrival time minus the transition's time as
the daemon recorded it in its SQLite state (the same wall clock, the same machine).

Baseline, in the same run: slack-sdk's AsyncWebClient posting straight to the same fake,
from the call to the fake's receipt; the ratio says what the outbox, the policy and the
loop add on top of the unavoidable HTTP request. Target: p99 under 1 s.

With `--pages`, three daemons run the same incidents side by side, at the same time (so
the machine's noise falls on all three alike): one without status pages, one whose vendors'
pages (read every second) have posted an incident (every alert is judged "the vendor
confirms"), and one whose pages are dead (HTTP 503), slow, huge and malformed, one of each.
Target: p99 with pages within 1.5x of the p99 without (a page never makes an alert wait).
A p99 of one run's alerts is nearly their maximum, one slow moment of the machine: `--rounds`
repeats the three side by side and pools the rounds' alerts (each round's p99 is printed too,
to show the spread). Each run also reports its probes' mean duration and start delay, read
from its /metrics: a page must not slow probing either.

With `--against TREE` (a checkout of an earlier commit, `git worktree add /tmp/old REV`),
this tree's daemon and TREE's run the same incidents side by side, round after round,
pooled: what a change costs the happy path's alert latency (exactly-once delivery, issue 19:
target p99 within 1.5x of TREE's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402
from trees import tree_daemon  # noqa: E402

from simulator.faults import Fault, Mode  # noqa: E402
from tests.daemon.harness import (  # noqa: E402
    DaemonProcess,
    churn_config,
    environment,
)
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.simulator.helpers import running_simulator  # noqa: E402

TOKEN = "xoxb-bench"
VENDORS = ("kit", "hubspot", "mailchimp", "sendgrid")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline(slack: FakeSlack, count: int) -> list[float]:
    async def run() -> list[float]:
        client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
        seen = len(slack.requests)
        starts = []
        for i in range(count):
            starts.append(time.time())
            await client.chat_postMessage(channel="#bench", text=f"baseline {i}")
        arrivals = [r.at for r in slack.requests[seen:]]
        return [a - s for s, a in zip(starts, arrivals, strict=True)]

    return asyncio.run(run())


def measured(slack: FakeSlack, state: Path) -> list[float]:
    db = sqlite3.connect(state / "state.db")
    rows = db.execute(
        "SELECT integration, from_state, to_state, at FROM transitions ORDER BY id"
    ).fetchall()
    db.close()
    latencies = []
    used: set[int] = set()
    for name, before, after, at in rows:
        if (before, after) == ("closed", "open"):
            method, prefix = "chat.postMessage", f"{name} is failing"
        elif (before, after) == ("half_open", "closed"):
            method, prefix = "chat.update", f"{name} recovered"
        else:
            continue
        for i, request in enumerate(slack.requests):
            text = str(request.payload.get("text", ""))
            fits = request.method == method and text.startswith(prefix) and request.at >= at
            if fits and i not in used:
                used.add(i)
                latencies.append(request.at - at)
                break
    return latencies


PAGE_MODES = {"kit": "503", "hubspot": "slow", "mailchimp": "huge", "sendgrid": "garbage"}


def incidents(count: int, pages: str | None = None, tree: Path | None = None) -> list[float]:
    """Latencies of `count` incidents; `pages`: None, "posted" or "broken"; `tree`: the
    daemon of that checkout (with this environment's packages) instead of this one."""
    with (
        running_simulator() as sim,
        FakeSlack(
            tokens=(TOKEN,), channels=("#integrations", "#bench"), rate=100, burst=100
        ) as slack,
        tempfile.TemporaryDirectory() as tmp,
    ):
        state = Path(tmp) / "state"
        config = Path(tmp) / "config.toml"
        # Open periods kept short and flap damping out of the way: the vendors fail often.
        text = churn_config(sim, state, slack.api_url)
        if pages is not None:
            text = text.replace("[daemon]\n", '[daemon]\nstatus_page_interval = "1s"\n'
                                'status_page_interval_open = "1s"\n', 1)  # fmt: skip
            for vendor in VENDORS:
                base = f'base_url = "{sim.base_url(vendor)}"\n'
                text = text.replace(base, base + f'status_page = "{sim.status_page(vendor)}"\n')
                page = sim.status_pages[vendor]
                if pages == "posted":
                    page.admin("incident", {"name": "Elevated errors", "impact": "major"})
                else:
                    page.admin("mode", {"mode": PAGE_MODES[vendor]})
        config.write_text(text)
        env = environment(sim, SLACK_TOKEN=TOKEN)
        # This checkout's code (the one this file is in), or TREE's: a launcher.
        binary = str(Path(tmp) / "breakerwatch")
        command, tree_env = tree_daemon(tree or ROOT)
        Path(binary).write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
        env.update({k: tree_env[k] for k in ("PYTHONPATH", "PYTHONSAFEPATH")})
        os.chmod(binary, 0o755)
        daemon = DaemonProcess(config, env, binary).wait_ready()
        try:
            for i in range(count):
                vendor = VENDORS[i % len(VENDORS)]
                fault = sim.vendors[vendor].plan
                fault.set_mode(Fault(Mode.ERROR))
                daemon.until(lambda v=vendor: daemon.state(v) == "open", 30, f"{vendor} open")
                fault.set_mode(Fault())
                daemon.until(lambda v=vendor: daemon.state(v) == "closed", 30, f"{vendor} closed")
                time.sleep(1.2)  # past the storm window: one incident at a time
            time.sleep(2)
            key = str(tree) if tree is not None else pages
            probing.setdefault(key, []).append(probe_means(daemon.get("/metrics").text))
        finally:
            daemon.stop()
        return measured(slack, state)


probing: dict[str | None, list[tuple[float, float]]] = {}  # each run's probe duration, delay


def probe_means(metrics: str) -> tuple[float, float]:
    """The mean probe duration (all integrations) and mean start delay, from /metrics."""

    def mean(name: str) -> float:
        total = sum(
            float(v) for v in re.findall(rf"^{name}_sum(?:{{[^}}]*}})? (\S+)$", metrics, re.M)
        )
        count = sum(
            float(v) for v in re.findall(rf"^{name}_count(?:{{[^}}]*}})? (\S+)$", metrics, re.M)
        )
        return total / count if count else 0.0

    return mean("breakerwatch_probe_duration_seconds"), mean(
        "breakerwatch_probe_start_delay_seconds"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--pages", action="store_true", help="also with status pages")
    parser.add_argument("--rounds", type=int, default=1, help="with --pages: rounds pooled")
    parser.add_argument("--against", type=Path, metavar="TREE", help="another checkout")
    args = parser.parse_args()
    if args.against is not None:
        return against(args.against, args.incidents, args.rounds)
    runs: dict[str | None, list[list[float]]] = {None: []}
    if args.pages:
        runs |= {"posted": [], "broken": []}
        with ThreadPoolExecutor(3) as pool:
            for _ in range(args.rounds):
                started = {pages: pool.submit(incidents, args.incidents, pages) for pages in runs}
                for pages, run in started.items():
                    runs[pages].append(run.result())
    else:
        runs[None].append(incidents(args.incidents))
    ours = [latency for run in runs[None] for latency in run]
    with FakeSlack(tokens=(TOKEN,), channels=("#bench",), rate=1000, burst=1000) as slack:
        base = baseline(slack, 100)
    p50, p99 = percentile(ours, 0.5), percentile(ours, 0.99)
    b50, b99 = percentile(base, 0.5), percentile(base, 0.99)
    expected = 2 * args.incidents * len(runs[None])
    print(f"alerts measured: {len(ours)} of {expected} transitions")
    mean = statistics.mean(ours)
    print(
        f"breakerwatch, transition -> Slack receipt: p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {max(ours) * 1000:.1f} ms, mean {mean * 1000:.1f} ms"
    )
    print(
        f"baseline, slack-sdk call -> Slack receipt: p50 {b50 * 1000:.1f} ms, "
        f"p99 {b99 * 1000:.1f} ms"
    )
    print(f"ratio (ours / baseline): p50 {p50 / b50:.1f}x, p99 {p99 / b99:.1f}x")
    print(f"target p99 < 1 s: {'met' if p99 < 1 else 'MISSED'}")
    complete = len(ours) == expected
    for pages, rounds in runs.items():
        took, late = (statistics.mean(m) for m in zip(*probing[pages], strict=True))
        each = ", ".join(f"{percentile(run, 0.99) * 1000:.1f}" for run in rounds)
        print(f"status pages {pages or 'none'}: probes' mean duration {took * 1000:.2f} ms, "
              f"mean start delay {late * 1000:.2f} ms; alert p99 per round {each} ms")  # fmt: skip
        if pages is None:
            continue
        latencies = [latency for run in rounds for latency in run]
        q50, q99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"with status pages {pages}: {len(latencies)} alerts, p50 {q50 * 1000:.1f} ms, "
              f"p99 {q99 * 1000:.1f} ms; p99 / without pages {q99 / p99:.2f}x "
              f"(target <= 1.5x: {'met' if q99 <= 1.5 * p99 else 'MISSED'})")  # fmt: skip
        complete = complete and len(latencies) == expected
    return 0 if complete else 1


def against(tree: Path, count: int, rounds: int) -> int:
    """This tree's daemon and TREE's, side by side for `rounds` rounds, pooled."""
    runs: dict[str, list[list[float]]] = {"this tree": [], str(tree): []}
    with ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            started = {name: pool.submit(incidents, count, None, None if name == "this tree"
                                         else tree) for name in runs}  # fmt: skip
            for name, run in started.items():
                runs[name].append(run.result())
    print("| daemon | alerts | p50 | p99 (pooled) | p99 of each round | probe mean duration "
          "| probe mean start delay |\n|---|---|---|---|---|---|---|")  # fmt: skip
    p99s = {}
    for name, measured in runs.items():
        pooled = [latency for run in measured for latency in run]
        p99s[name] = percentile(pooled, 0.99)
        took, late = (statistics.mean(m) for m in zip(*probing[name if name != "this tree"
                                                              else None], strict=True))  # fmt: skip
        each = ", ".join(f"{percentile(run, 0.99) * 1000:.1f}" for run in measured)
        print(f"| {name} | {len(pooled)} | {percentile(pooled, 0.5) * 1000:.1f} ms | "
              f"{p99s[name] * 1000:.1f} ms | {each} ms | {took * 1000:.2f} ms | "
              f"{late * 1000:.2f} ms |")  # fmt: skip
    ratio = p99s["this tree"] / p99s[str(tree)]
    print(f"\np99 this tree / {tree}: **{ratio:.2f}x** (target <= 1.5x: "
          f"{'met' if ratio <= 1.5 else 'MISSED'})")  # fmt: skip
    expected = 2 * count * rounds
    return 0 if all(sum(map(len, m)) == expected for m in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
