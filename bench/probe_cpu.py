"""CPU per probe: the whole breakerwatch daemon path against blackbox_exporter, one run.

    .venv/bin/python bench/probe_cpu.py [--rate 200] [--seconds 20]

Both probe the same fast local target (bench/target.py, its own process) at the same rate,
one after the other. blackbox_exporter (Debian's prometheus-blackbox-exporter) is driven
the way Prometheus drives it, one GET /probe per probe; breakerwatch runs as `breakerwatch
run` with `rate` x 10 http integrations at a 10 s interval, so the scheduler, breaker,
retry, httpx and metrics are all in the path, and, as with blackbox_exporter, every probe
opens a new connection (keep-alive connections expire after 5 s). CPU is the prober
process's user + system time from /proc over a steady window after a warm-up; the probe
counts are each prober's own.
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

BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))
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
    target: str, rate: int, seconds: float, workdir: Path
) -> tuple[int, float]:
    port = free_port()
    integrations = "".join(
        f'[[integrations]]\nname = "t{i}"\nkind = "http"\nurl = "{target}t{i}"\n\n'
        for i in range(rate * INTERVAL)
    )
    config = workdir / "config.toml"
    config.write_text(
        f'[daemon]\nlisten = "127.0.0.1:{port}"\nstate_dir = "{workdir / "state"}"\n'
        'log_level = "warning"\n\n'
        f'[defaults]\ninterval = "{INTERVAL}s"\ntimeout = "500ms"\n\n'
        "[defaults.retry]\nmax_attempts = 1\n\n" + integrations
    )
    process = subprocess.Popen(
        [BREAKERWATCH, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="probes per second (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window (default 20)")
    args = parser.parse_args()
    args.seconds = max(1, round(args.seconds / INTERVAL)) * INTERVAL
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
