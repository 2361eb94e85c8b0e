"""What one probe costs, against its floor and blackbox_exporter, with nginx as the witness.

    .venv/bin/python bench/probe_cost.py [--rate 200] [--seconds 30] [--https]
    .venv/bin/python bench/probe_cost.py --saturate [--processes 1 2]
    .venv/bin/python bench/probe_cost.py --profile
    .venv/bin/python bench/probe_cost.py --against TREE [--rounds 2]

Every prober probes the same nginx (bench/nginx.py), one after the other in one run, and
every count comes from nginx's access log, not from the prober: how many probes arrived in
the measured window, and the gaps between two probes of one integration. CPU is the
prober's user + system time from /proc over that window.

Paced (the default): at `--rate` probes a second, each a new connection (as a probe every
interval makes), the contenders are
  - the floors (bench/floor.py): APScheduler running a no-op job per probe; aiohttp
    sending the requests from a plain loop; and both, a job per probe sending one request,
    the least a scheduled prober on these libraries can do;
  - breakerwatch, `breakerwatch run` on the default configuration but for the interval
    (15 s, so `--rate` x 15 http integrations; the default timeout is 10 s), and again
    with `fresh_connection = 0`, a new connection for every probe, as blackbox_exporter
    makes (the access log's count of new connections says which each did);
  - Debian's blackbox_exporter, driven as Prometheus drives it (a GET /probe per probe,
    the same rate).
`--https` makes nginx serve TLS with a CA made for the run (trusted through `ca_file`).

`--saturate`: breakerwatch configured for far more than it can do (10,000 integrations at
2 s, timeout 1 s: 5,000 probes a second), and the probes a second that arrive; with
`--processes 1 2`, that again with two daemons sharding a configuration twice as large
(BREAKERWATCH_SHARD 0/2 and 1/2), each as overloaded as the one alone. nginx shares the
machine's cores; its own CPU is reported beside the daemons'.

`--against TREE` (a checkout of an earlier commit, `git worktree add /tmp/old REV`):
breakerwatch paced, this tree's daemon and TREE's alternately, `--rounds` times each.

`--profile`: breakerwatch paced, sampled with py-spy (the `bench` extra) over the window,
each sample's innermost frame counted to its layer: a breakdown of the CPU per probe.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from nginx import Hit, Target, hits, running_nginx
from probe_cpu import BLACKBOX, cpu_seconds, free_port, wait_for
from trees import tree_daemon

HERE = Path(__file__).parent
PACED_INTERVAL = 15.0
FLUSH = 1.5  # nginx flushes its access log every second


@dataclass
class Run:
    name: str
    cpu: float  # seconds
    probes: int  # that the target logged in the window
    seconds: float
    configured: float | None = None  # probes a second the configuration asks for
    gaps: list[float] | None = None  # between two probes of one integration
    fresh: float | None = None  # the share of probes that opened their connection
    target_cpu: float = 0.0  # seconds nginx spent answering over the same window

    @property
    def per_probe(self) -> float:
        return self.cpu / max(self.probes, 1)


def gaps(logged: list[Hit]) -> list[float]:
    """The time between consecutive probes of each path."""
    by_path: dict[str, list[float]] = defaultdict(list)
    for hit in logged:
        by_path[hit.path].append(hit.at)
    return [b - a for times in by_path.values() for a, b in pairwise(times)]


def fresh(logged: list[Hit]) -> float:
    """The share of the probes that opened a new connection."""
    return sum(hit.new_connection for hit in logged) / max(len(logged), 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@contextmanager
def daemon(target: Target, workdir: Path, count: int, interval: float, *, defaults: str = "",
           shard: str | None = None, tree: Path | None = None) -> Iterator[int]:  # fmt: skip
    """`breakerwatch run` (TREE's code if given) with `count` http integrations on `target`;
    yields its pid."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "config.toml"
    ca = f'ca_file = "{target.ca}"\n' if target.ca else ""
    config.write_text(
        f'[daemon]\nlisten = "127.0.0.1:{port}"\nstate_dir = "{workdir / "state"}"\n{ca}\n'
        f'[defaults]\ninterval = "{interval:g}s"\n{defaults}\n'
        + "".join(
            f'[[integrations]]\nname = "t{i}"\nkind = "http"\nurl = "{target.url}t{i}"\n\n'
            for i in range(count)
        )
    )
    # This checkout's code (the one this file is in), or TREE's; this environment's packages.
    command, env = tree_daemon(tree or HERE.parent)
    env.update({"BREAKERWATCH_SHARD": shard} if shard else {})
    process = subprocess.Popen([*command, "run", "--config", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", timeout=120)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def window(target: Target, pids: list[int], seconds: float) -> tuple[float, list[Hit], float]:
    """CPU of `pids`, the probes the target logged, and the target's own CPU, over the
    next `seconds`."""
    since, before = time.time(), sum(cpu_seconds(pid) for pid in pids)
    served = cpu_seconds(target.pid)
    time.sleep(seconds)
    until, cpu = time.time(), sum(cpu_seconds(pid) for pid in pids) - before
    served = cpu_seconds(target.pid) - served
    time.sleep(FLUSH)
    return cpu, hits(target.log, since, until), served


def floor(mode: str, target: Target, rate: int, seconds: float) -> Run:
    out = subprocess.run(
        [sys.executable, str(HERE / "floor.py"), mode, target.url, str(rate),
         str(PACED_INTERVAL), str(seconds), *([str(target.ca)] if target.ca else [])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    measured = json.loads(out.stdout)
    time.sleep(FLUSH)
    logged = hits(target.log, measured["since"], measured["until"])
    probes = measured["runs"] if mode == "apscheduler" else len(logged)
    names = {"apscheduler": "floor: APScheduler, a no-op job per probe",
             "aiohttp": "floor: aiohttp from a paced loop, a new connection each",
             "both": "floor: an APScheduler job per probe sending one aiohttp request",
             "reuse": "floor: the same, connections kept alive and reused"}  # fmt: skip
    return Run(names[mode], measured["cpu"], probes, seconds, rate,
               gaps(logged) if mode in ("both", "reuse") else None,
               fresh(logged) if mode != "apscheduler" else None)  # fmt: skip


def breakerwatch(target: Target, workdir: Path, rate: int, seconds: float,
                 tree: Path | None = None, *, every_probe_fresh: bool = False) -> Run:  # fmt: skip
    """breakerwatch paced: the default configuration (`fresh_connection` 5 minutes: a
    new connection first, then pooled ones), or a new connection for every probe."""
    defaults = "fresh_connection = 0\n" if every_probe_fresh else ""
    with daemon(target, workdir, rate * int(PACED_INTERVAL), PACED_INTERVAL, tree=tree,
                defaults=defaults) as pid:  # fmt: skip
        time.sleep(PACED_INTERVAL + 2)  # every integration has been probed once
        cpu, logged, _ = window(target, [pid], seconds)
    name = f"breakerwatch at {tree}" if tree else "breakerwatch (default configuration)"
    if every_probe_fresh:
        name = "breakerwatch, a new connection every probe (fresh_connection = 0)"
    return Run(name, cpu, len(logged), seconds, rate, gaps(logged), fresh(logged))


def against(target: Target, workdir: Path, tree: Path, rate: int, seconds: float,
            rounds: int) -> None:  # fmt: skip
    """This tree's daemon and TREE's, alternately, `rounds` times each: a change measured
    against what it replaced, in one run."""
    runs: dict[str, list[Run]] = {"this tree": [], str(tree): []}
    for _ in range(rounds):
        runs["this tree"].append(breakerwatch(target, workdir, rate, seconds))
        runs[str(tree)].append(breakerwatch(target, workdir, rate, seconds, tree))
    print("| daemon | probes/s (configured) | CPU per probe | each run | new connections | "
          "gap deviation p50 / p99 |\n|---|---|---|---|---|---|")  # fmt: skip
    per_probe = {}
    for name, measured in runs.items():
        probes, cpu = sum(r.probes for r in measured), sum(r.cpu for r in measured)
        per_probe[name] = cpu / max(probes, 1)
        each = ", ".join(f"{r.per_probe * 1e6:.0f}" for r in measured)
        off = [abs(g - PACED_INTERVAL) * 1000 for r in measured for g in r.gaps or []]
        new = sum(r.fresh or 0 for r in measured) / len(measured)
        print(f"| {name} | {probes / (seconds * rounds):.1f} ({rate}) | "
              f"{per_probe[name] * 1e6:.0f} us | {each} us | {new:.0%} | "
              f"{percentile(off, 0.5):.0f} / {percentile(off, 0.99):.0f} ms |")  # fmt: skip
    print(f"\nthis tree / {tree}: **{per_probe['this tree'] / per_probe[str(tree)]:.2f}**")


def blackbox(target: Target, workdir: Path, rate: int, seconds: float) -> Run:
    """blackbox_exporter at `rate` probes a second, driven by a floor.py-like paced loop."""
    assert BLACKBOX is not None
    workdir.mkdir(parents=True, exist_ok=True)
    tls = f"      tls_config:\n        ca_file: {target.ca}\n" if target.ca else ""
    config = workdir / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n"
                      f"      preferred_ip_protocol: ip4\n{tls}")  # fmt: skip
    port = free_port()
    process = subprocess.Popen([BLACKBOX, f"--config.file={config}",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/metrics")
        probe = f"http://127.0.0.1:{port}/probe?module=http_2xx&target={target.url}"
        driver = subprocess.Popen([sys.executable, str(HERE / "floor.py"), "drive", probe,
                                   str(rate), "2", str(seconds + 10)],
                                  stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(4)  # warm-up
        cpu, logged, _ = window(target, [process.pid], seconds)
        driver.kill()
        driver.wait()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    return Run(
        "blackbox_exporter (GET /probe per probe)",
        cpu,
        len(logged),
        seconds,
        rate,
        fresh=fresh(logged),
    )


def saturated(target: Target, workdir: Path, processes: int, seconds: float) -> Run:
    """`processes` daemons sharding one configuration of 10,000 integrations at 2 s per
    process: 5,000 probes a second each, more than one process can do (on a fast day one
    did 2,000 a second in 0.6 of a core)."""
    count, interval = 10_000 * processes, 2.0
    with contextmanager_all([
        daemon(target, workdir / str(i), count, interval, defaults='timeout = "1s"\n',
               shard=f"{i}/{processes}" if processes > 1 else None)
        for i in range(processes)
    ]) as pids:  # fmt: skip
        time.sleep(interval * 2)
        cpu, logged, served = window(target, pids, seconds)
    name = f"breakerwatch saturated, {processes} process{'es' if processes > 1 else ''}"
    return Run(name, cpu, len(logged), seconds, count / interval, target_cpu=served)


@contextmanager
def contextmanager_all(managers: list[Any]) -> Iterator[list[int]]:
    with ExitStack() as stack:
        yield [stack.enter_context(manager) for manager in managers]


LAYERS = (  # the first whose pattern is in the innermost frame's file
    ("scheduler (APScheduler, daemon/scheduler.py and wheel.py)",
     ("apscheduler/", "daemon/scheduler.py", "daemon/wheel.py")),
    ("httpx API", ("httpx/",)),
    ("transport (probes/transport.py, aiohttp, yarl, multidict)",
     ("aiohttp/", "yarl/", "multidict/", "probes/transport.py", "aiohappyeyeballs/",
      "propcache/", "aiosignal/")),
    ("breaker and retry", ("probes/breaker.py", "probes/retry.py")),
    ("stats and metrics", ("daemon/metrics.py", "prometheus_client/", "daemon/degraded.py",
                           "daemon/recent.py")),
    ("state (SQLite)", ("daemon/state.py", "sqlite3/")),
    ("logging", ("logging/", "daemon/logs.py")),
    ("the probe's own logic (probes/, daemon/)", ("probes/", "daemon/")),
    ("event loop and sockets (asyncio)", ("asyncio/", "selectors.py", "socket.py")),
)  # fmt: skip
IDLE = ("selectors.py:468", "thread.py:81")  # waiting in epoll, an idle worker thread


def layers(raw: Path) -> Counter[str]:
    """py-spy's raw samples, counted by the layer of each sample's innermost frame."""
    counted: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        inner = stack.split(";")[-1]
        if any(idle in inner for idle in IDLE):
            continue
        where = re.search(r"\(([^)]*?):\d+\)$", inner)
        path = where[1] if where else inner
        layer = next((name for name, parts in LAYERS if any(p in path for p in parts)),
                     "other (Python's library)")  # fmt: skip
        counted[layer] += int(count)
    return counted


def profile(target: Target, workdir: Path, rate: int, seconds: float) -> None:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("py-spy is not installed: make .venv/.bench (the bench extra)")
    with daemon(target, workdir, rate * int(PACED_INTERVAL), PACED_INTERVAL) as pid:
        time.sleep(PACED_INTERVAL + 2)
        cpu, logged, _ = window(target, [pid], seconds)  # unprofiled, for the CPU per probe
        raw = workdir.parent / "py-spy.txt"
        subprocess.run([str(spy), "record", "--format", "raw", "--rate", "500", "--nonblocking",
                        "--duration", str(int(seconds)), "--output", str(raw), "--pid", str(pid)],
                       check=True, capture_output=True)  # fmt: skip
    per_probe = cpu / max(len(logged), 1) * 1e6
    counted = layers(raw)
    total = sum(counted.values())
    print(f"# Where a probe's CPU goes: breakerwatch at {rate} probes/s, {per_probe:.0f} us a "
          f"probe ({len(logged)} probes in {seconds:.0f} s)\n")  # fmt: skip
    print("| layer | share of samples | us per probe |\n|---|---|---|")
    for layer, count in counted.most_common():
        print(f"| {layer} | {count / total:.1%} | {per_probe * count / total:.0f} |")
    print(f"\n{total} samples; py-spy --nonblocking at 500 Hz, innermost frame's file")


def table(runs: list[Run], floors: tuple[Run, Run], black: Run | None, interval: float) -> None:
    """Each row against blackbox_exporter, and against the floor that connects as it did
    (`floors`: new connections, kept-alive ones)."""
    print("| prober | probes/s (configured) | CPU per probe | / floor | / blackbox_exporter | "
          "new connections | gap deviation p50 / p99 |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for run in runs:
        rate = run.probes / run.seconds
        wanted = f" ({run.configured:g})" if run.configured else ""
        deviation, new = "-", "-" if run.fresh is None else f"{run.fresh:.0%}"
        if run.gaps:
            off = [abs(g - interval) * 1000 for g in run.gaps]
            deviation = f"{percentile(off, 0.5):.0f} / {percentile(off, 0.99):.0f} ms"
        against = f"{ratio(run, like(run, floors))} | {ratio(run, black)}"
        print(f"| {run.name} | {rate:.1f}{wanted} | {run.per_probe * 1e6:.0f} us | "
              f"{against} | {new} | {deviation} |")  # fmt: skip


def ratio(run: Run, base: Run | None) -> str:
    return f"{run.per_probe / base.per_probe:.2f}" if base else "-"


def like(run: Run, floors: tuple[Run, Run]) -> Run:
    """The floor that made new connections if `run` mostly did, else the kept-alive one."""
    return floors[0] if (run.fresh if run.fresh is not None else 1) >= 0.5 else floors[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="probes a second (default 200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--https", action="store_true", help="nginx serves TLS")
    parser.add_argument("--saturate", action="store_true", help="the most one daemon can do")
    parser.add_argument("--processes", type=int, nargs="+", default=[1])
    parser.add_argument("--profile", action="store_true", help="py-spy's layer breakdown")
    parser.add_argument("--against", type=Path, metavar="TREE", help="another checkout")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: runs of each")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_nginx(Path(tmp) / "nginx", https=args.https) as target,
    ):
        work = Path(tmp) / "work"
        scheme = "HTTPS" if args.https else "HTTP"
        print(f"{scheme}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs\n")
        if args.profile:
            profile(target, work, args.rate, args.seconds)
            return 0
        if args.against:
            against(target, work, args.against, args.rate, args.seconds, args.rounds)
            return 0
        if args.saturate:
            runs = [saturated(target, work, n, args.seconds) for n in args.processes]
            print("| daemons | probes/s arrived (configured) | CPU seconds a second | "
                  "CPU per probe | / one process | nginx's CPU seconds a second |\n"
                  "|---|---|---|---|---|---|")  # fmt: skip
            for run in runs:
                print(f"| {run.name} | {run.probes / run.seconds:.0f} ({run.configured:g}) | "
                      f"{run.cpu / run.seconds:.2f} | {run.per_probe * 1e6:.0f} us | "
                      f"{run.probes / runs[0].probes:.2f} | "
                      f"{run.target_cpu / run.seconds:.2f} |")  # fmt: skip
            return 0
        floors = [floor(mode, target, args.rate, args.seconds)
                  for mode in ("apscheduler", "aiohttp", "both", "reuse")]  # fmt: skip
        ours = breakerwatch(target, work, args.rate, args.seconds)
        new = breakerwatch(target, work, args.rate, args.seconds, every_probe_fresh=True)
        black = blackbox(target, work, args.rate, args.seconds) if BLACKBOX else None
        runs = [*floors, ours, new, *([black] if black else [])]
        table(runs, (floors[2], floors[3]), black, PACED_INTERVAL)
        print()
        for run in (ours, new):
            said = f"{run.name}: / the floor that connects as it did: " + ratio(
                run, like(run, (floors[2], floors[3]))
            )
            print(said + (f"; / blackbox_exporter: {ratio(run, black)}" if black else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
