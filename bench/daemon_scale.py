"""10,000 integrations at a 30 s interval: start-up, memory, /metrics, schedule keeping.

    .venv/bin/python bench/daemon_scale.py [--integrations 10000] [--seconds 90]

The daemon (`breakerwatch run`, http probes) probes the fast local target of
bench/target.py (its own process). Measured: the time from starting the process to
/readyz answering 200; the daemon's peak RSS, sampled every 2 s; how long GET /metrics
takes, from the client, sampled every 10 s; and from the daemon's own
breakerwatch_probe_start_delay_seconds histogram, how late probes start against their
schedule (the p99 is the upper bound of the bucket holding the 99th percentile).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from probe_cpu import BREAKERWATCH, cpu_seconds, free_port
from target import running_target


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def delay_p99(text: str) -> tuple[float, int]:
    """The p99 start delay (a bucket bound) and the number of probes started."""
    buckets = [
        (float("inf") if le == "+Inf" else float(le), float(count))
        for le, count in re.findall(
            r'^breakerwatch_probe_start_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M
        )
    ]
    total = buckets[-1][1]
    bound = next(le for le, count in buckets if count >= 0.99 * total)
    return bound, int(total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long to run after READY")
    args = parser.parse_args()
    port = free_port()
    with running_target() as target, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[daemon]\nlisten = "127.0.0.1:{port}"\nstate_dir = "{tmp}/state"\n'
            'log_level = "warning"\n\n[defaults]\ninterval = "30s"\ntimeout = "5s"\n\n'
            + "".join(
                f'[[integrations]]\nname = "i{i}"\nkind = "http"\nurl = "{target}i{i}"\n\n'
                for i in range(args.integrations)
            )
        )
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        daemon = subprocess.Popen(
            [BREAKERWATCH, "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if daemon.poll() is not None:
                    raise SystemExit("the daemon exited during start-up")
                time.sleep(0.05)
            ready = time.monotonic() - started
            cpu_start, peak, scrapes = cpu_seconds(daemon.pid), 0.0, []
            end = time.monotonic() + args.seconds
            next_scrape = time.monotonic() + 10
            while time.monotonic() < end:
                peak = max(peak, rss_mb(daemon.pid))
                if time.monotonic() >= next_scrape:
                    t = time.monotonic()
                    page = httpx.get(f"{base}/metrics", timeout=30).text
                    scrapes.append(time.monotonic() - t)
                    next_scrape += 10
                time.sleep(2)
            cpu = cpu_seconds(daemon.pid) - cpu_start
            t = time.monotonic()
            page = httpx.get(f"{base}/metrics", timeout=30).text
            scrapes.append(time.monotonic() - t)
            p99, probes = delay_p99(page)
            missed = sum(
                float(v)
                for v in re.findall(
                    r"^breakerwatch_probes_missed_total\{[^}]*\} (\S+)$", page, re.M
                )
            )
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    n = args.integrations
    print(f"# {n} integrations, 30 s interval, {args.seconds:.0f} s after READY\n")
    print("| measure | result | target |\n|---|---|---|")
    print(f"| start-up to READY | {ready:.2f} s | < 5 s |")
    print(f"| peak RSS | {peak:.0f} MB | <= 200 MB |")
    print(f"| GET /metrics ({len(page) / 1e6:.1f} MB), slowest of {len(scrapes)} | "
          f"{max(scrapes):.2f} s | < 1 s |")  # fmt: skip
    print(f"| probe start delay, p99 | <= {p99:g} s | <= 1 s |")
    print(
        f"| probes started | {probes} (expected about {n * args.seconds / 30:.0f} + start-up) | |"
    )
    print(f"| missed runs | {missed:.0f} | 0 |")
    print(f"| daemon CPU | {cpu / args.seconds * 100:.0f}% of one core | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
