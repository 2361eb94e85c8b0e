"""CPU per probe: the whole breakerwatch daemon path against blackbox_exporter, one run.

    .venv/bin/python bench/probe_cpu.py [--rate 200] [--seconds 20]
    .venv/bin/python bench/probe_cpu.py --against /tmp/old [--rounds 2]

Both probe the same fast local target (bench/target.py, its own process) at the same rate,
one after the other. blackbox_exporter (Debian's prometheus-blackbox-exporter) is driven
the way Prometheus drives it, one GET /probe per probe; breakerwatch runs as `breakerwatch
run` with `rate` x 10 http integrations at a 10 s interval, so the scheduler, breaker,
retry, httpx and metrics are all in the path. Its 500 ms timeout, single attempt and
warning logs are tuned settings, and its probes may share pooled connections
(`fresh_connection`) where blackbox_exporter opens one each: bench/probe_cost.py is the
comparison on the default configuration, counted by nginx, with the connections each
prober made. CPU is the prober process's user + system time from /proc over a steady
window after a warm-up; the probe counts are each prober's own.

With `--against TREE` (a checkout of an earlier commit, `git worktree add /tmp/old REV`),
breakerwatch is measured against itself instead: the same daemon path, but HubSpot
integrations (so each learns its latency baseline and has its credential's scopes checked),
this tree's daemon and TREE's alternately, `--rounds` times each, the same target and
rate; then this tree's once more with a scope check every probe interval, and once with a
canary write every probe interval (the worst cases: the defaults are one an hour, and one
each 15 minutes). The target answers the canary's upsert and read-back as HubSpot would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from target import running_target
from trees import tree_daemon

BLACKBOX = shutil.which("prometheus-blackbox-exporter")
TICK = os.sysconf("SC_CLK_TCK")
INTERVAL = 10  # seconds between probes of one integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def measure_blackbox(target: str, rate: int, seconds: float, workdir: Path) -> tuple[int, float]:
    assert BLACKBOX is not None
    config = workdir / "blackbox.yml"
    config.write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/metrics")
        url = f"http://127.0.0.1:{port}/probe?module=http_2xx&target={target}"
        asyncio.run(_drive(url, rate, 3.0))  # warm-up
        before = cpu_seconds(process.pid)
        probes = asyncio.run(_drive(url, rate, seconds))
        return probes, cpu_seconds(process.pid) - before
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


async def _drive(url: str, rate: int, seconds: float) -> int:
    """Request `url` `rate` times a second for `seconds`; count the successful probes."""
    done = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one() -> None:
            nonlocal done
            response = await client.get(url)
            done += "probe_success 1" in response.text

        tasks = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
    return done


def measure_breakerwatch(
    target: str, rate: int, seconds: float, workdir: Path, *, tree: Path | None = None,
    vendor: bool = False, daemon: str = "", canary: str | None = None,
) -> tuple[int, float]:  # fmt: skip
    """Probes and CPU seconds of `breakerwatch run` (TREE's code if given): http
    integrations, or with `vendor` HubSpot ones (with `canary`, canary writes that often);
    `daemon` adds to its [daemon] table."""
    port = free_port()
    kind = (f'kind = "hubspot"\ntoken = "env:BENCH_TOKEN"\nbase_url = "{target}"\n' if vendor
            else 'kind = "http"\nurl = "{target}t{i}"\n')  # fmt: skip
    own = (
        ""
        if canary is None
        else (f'canary = {{ email = "breakerwatch-canary@example.com", interval = "{canary}" }}\n')
    )
    integrations = "".join(
        f'[[integrations]]\nname = "t{i}"\n' + kind.format(target=target, i=i) + own + "\n"
        for i in range(rate * INTERVAL)
    )
    config = workdir / "config.toml"
    shutil.rmtree(workdir / "state", ignore_errors=True)  # each run starts as new
    config.write_text(
        f'[daemon]\nlisten = "127.0.0.1:{port}"\nstate_dir = "{workdir / "state"}"\n'
        f'log_level = "warning"\n{daemon}\n'
        f'[defaults]\ninterval = "{INTERVAL}s"\ntimeout = "500ms"\n\n'
        "[defaults.retry]\nmax_attempts = 1\n\n" + integrations
    )
    # This checkout's code (the one this file is in), or TREE's; this environment's packages.
    command, env = tree_daemon(tree or Path(__file__).resolve().parents[1])
    env["BENCH_TOKEN"] = "bench-token"
    process = subprocess.Popen(
        [*command, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz")
        time.sleep(INTERVAL + 3.0)  # warm-up: every job has run once
        probes_before, before = _probes(base), cpu_seconds(process.pid)
        time.sleep(seconds)  # whole intervals: probes come in bursts, one per interval
        cpu = cpu_seconds(process.pid) - before
        return _probes(base) - probes_before, cpu
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _probes(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        int(float(v)) for v in re.findall(r"^breakerwatch_probes_total\{[^}]*\} (\S+)$", text, re.M)
    )


def against(tree: Path, rate: int, seconds: float, rounds: int) -> int:
    """This tree's daemon against TREE's, alternately; then the worst case of scope checks."""
    runs: dict[str, list[tuple[int, float]]] = {"this tree": [], str(tree): []}
    with running_target() as url, tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name in runs:
                other = None if name == "this tree" else tree
                runs[name].append(measure_breakerwatch(url, rate, seconds, Path(tmp),
                                                       tree=other, vendor=True))  # fmt: skip
        worst = measure_breakerwatch(url, rate, seconds, Path(tmp), vendor=True,
                                     daemon=f'scope_check_interval = "{INTERVAL}s"\n')  # fmt: skip
        canaries = measure_breakerwatch(url, rate, seconds, Path(tmp), vendor=True,
                                        canary=f"{INTERVAL}s")  # fmt: skip
    print(f"# CPU per probe, {rate} HubSpot probes/s, {seconds:.0f}s windows, same target\n")
    print("| daemon | probes | CPU seconds | CPU per probe |\n|---|---|---|---|")
    per_probe: dict[str, float] = {}
    extra = [("this tree, a scope check every interval", [worst]),
             ("this tree, a canary write every interval", [canaries])]  # fmt: skip
    for name, measured in [*runs.items(), *extra]:
        probes, cpu = sum(p for p, _ in measured), sum(c for _, c in measured)
        per_probe[name] = cpu / max(probes, 1)
        each = ", ".join(f"{c / max(p, 1) * 1e6:.0f}" for p, c in measured)
        print(f"| {name} (each run: {each} us) | {probes} | {cpu:.2f} | "
              f"{per_probe[name] * 1e6:.0f} us |")  # fmt: skip
    base = per_probe[str(tree)]
    print(f"\nthis tree / {tree}: **{per_probe['this tree'] / base:.3f}** (target <= 1.10); "
          f"with a scope check every interval: "
          f"{per_probe['this tree, a scope check every interval'] / base:.3f}; with a canary "
          f"write every interval: "
          f"{per_probe['this tree, a canary write every interval'] / base:.3f}")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="probes per second (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window (default 20)")
    parser.add_argument("--against", type=Path, metavar="TREE", help="another checkout")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: runs of each")
    args = parser.parse_args()
    args.seconds = max(1, round(args.seconds / INTERVAL)) * INTERVAL
    if args.against is not None:
        return against(args.against, args.rate, args.seconds, args.rounds)
    if BLACKBOX is None:
        raise SystemExit("prometheus-blackbox-exporter is not installed (apt-get install it)")
    with running_target() as url, tempfile.TemporaryDirectory() as tmp:
        blackbox = measure_blackbox(url, args.rate, args.seconds, Path(tmp))
        ours = measure_breakerwatch(url, args.rate, args.seconds, Path(tmp))
    version = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True, check=False)
    blackbox_version = (version.stdout + version.stderr).split("\n")[0]
    print(f"# CPU per probe, {args.rate} probes/s for {args.seconds:.0f}s each, same target\n")
    print(f"{blackbox_version}; breakerwatch on Python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    print("| prober | probes | CPU seconds | CPU per probe |\n|---|---|---|---|")
    rows = {"blackbox_exporter": blackbox, "breakerwatch (whole daemon path)": ours}
    for name, (probes, cpu) in rows.items():
        print(f"| {name} | {probes} | {cpu:.2f} | {cpu / max(probes, 1) * 1e6:.0f} us |")
    ratio = (ours[1] / max(ours[0], 1)) / (blackbox[1] / max(blackbox[0], 1))
    print(f"\nbreakerwatch / blackbox_exporter: **{ratio:.2f}** (target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
