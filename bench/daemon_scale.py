"""The daemon at scale, 30 s interval: start-up, memory, /metrics, schedule keeping, CPU.

    .venv/bin/python bench/daemon_scale.py [--integrations 100 1000 10000] [--seconds 90]
        [--interval 30s] [--baseline DIR]
    .venv/bin/python bench/daemon_scale.py --integrations 10000 --pages

Several sizes in one run give the scale curve, each as a ratio against the first. With
`--baseline DIR` (a checkout of an earlier commit: `git worktree add /tmp/old REV`), each
size is also run from that code, right after this code's run, and the ratios this/baseline
are printed: a change to the daemon measured against what it replaced, in one run. A long
`--interval` (`1d`: each integration probed once, at start) leaves the scrapes alone on
the machine, for a quieter comparison of GET /metrics.

The daemon (`breakerwatch run`, http probes) probes the fast local target of
bench/target.py (its own process). Measured: the time from starting the process to
/readyz answering 200; the daemon's peak RSS, sampled every 2 s; how long GET /metrics
takes uncompressed, from the client, sampled every 10 s; and from the daemon's own
breakerwatch_probe_start_delay_seconds histogram, how late probes start against their
schedule (the p99 is the upper bound of the bucket holding the 99th percentile).

With `--pages`, each size runs twice in a row: once as above, once with the status page
read every 10 s as well (`/`, `/?page=2` and one integration's page, from a client in
this process), timing each read: the page's cost, and the probes' start delay with and
without it (issue 20: served in under 1 s, probing not slowed).
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
from probe_cpu import cpu_seconds, free_port
from target import running_target
from trees import tree_daemon

# /metrics is timed uncompressed (curl's default, and the larger case); Prometheus asks for gzip.
_IDENTITY = {"Accept-Encoding": "identity"}


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


def delay_quantile(text: str, q: float) -> float:
    """The bucket bound holding quantile `q` of the probe start delay."""
    buckets = [
        (float("inf") if le == "+Inf" else float(le), float(count))
        for le, count in re.findall(
            r'^breakerwatch_probe_start_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M
        )
    ]
    return next(le for le, count in buckets if count >= q * buckets[-1][1])


def measure(
    n: int,
    seconds: float,
    target: str,
    tmp: str,
    code: str | None = None,
    interval: str = "30s",
    pages: bool = False,
) -> dict[str, float]:
    """One daemon with `n` http integrations at 30 s, measured for `seconds` after READY;
    `code`: a checkout to run the daemon from instead of the installed one."""
    port = free_port()
    Path(tmp).mkdir(exist_ok=True)
    config = Path(tmp) / f"config-{n}.toml"
    config.write_text(
        f'[daemon]\nlisten = "127.0.0.1:{port}"\nstate_dir = "{tmp}/state-{n}"\n'
        f'log_level = "warning"\n\n[defaults]\ninterval = "{interval}"\ntimeout = "5s"\n\n'
        + "".join(
            f'[[integrations]]\nname = "i{i}"\nkind = "http"\nurl = "{target}i{i}"\n\n'
            for i in range(n)
        )
    )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    # This checkout's code (the one this file is in), or that of `code`, another checkout.
    command, env = tree_daemon(code or Path(__file__).resolve().parents[1])
    daemon = subprocess.Popen(
        [*command, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
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
        first = delay_p99(httpx.get(f"{base}/metrics", timeout=30).text)[1]
        cpu_start, peak, scrapes, reads = cpu_seconds(daemon.pid), 0.0, [], [0.0]
        end = time.monotonic() + seconds
        next_scrape = time.monotonic() + 10
        while time.monotonic() < end:
            peak = max(peak, rss_mb(daemon.pid))
            if time.monotonic() >= next_scrape:
                t = time.monotonic()
                httpx.get(f"{base}/metrics", timeout=30, headers=_IDENTITY)
                scrapes.append(time.monotonic() - t)
                next_scrape += 10
                for path in ("/", "/?page=2", "/integrations/i0") if pages else ():
                    t = time.monotonic()
                    answer = httpx.get(f"{base}{path}", timeout=30)
                    assert answer.status_code == 200, (path, answer.status_code)
                    reads.append(time.monotonic() - t)
            time.sleep(2)
        cpu = cpu_seconds(daemon.pid) - cpu_start
        t = time.monotonic()
        page = httpx.get(f"{base}/metrics", timeout=30, headers=_IDENTITY).text
        scrapes.append(time.monotonic() - t)
        p99, probes = delay_p99(page)
        missed = sum(
            float(v)
            for v in re.findall(r"^breakerwatch_probes_missed_total\{[^}]*\} (\S+)$", page, re.M)
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    return {
        "n": n, "ready": ready, "rss": peak, "metrics": max(scrapes), "page_mb": len(page) / 1e6,
        "p50": delay_quantile(page, 0.5), "p99": p99, "probes": probes - first,
        "cpu": cpu, "cpu_per_probe_us": cpu / max(1, probes - first) * 1e6, "missed": missed,
        "seconds": seconds, "page": max(reads),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--integrations", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seconds", type=float, default=90.0, help="how long to run after READY")
    parser.add_argument("--baseline", metavar="DIR", help="a checkout to compare against")
    parser.add_argument("--interval", default="30s", help="the probe interval (default 30s)")
    parser.add_argument("--pages", action="store_true", help="also read the status page")
    args = parser.parse_args()
    if args.pages:
        return with_pages(args.integrations, args.seconds, args.interval)
    baselines = []
    with running_target() as target, tempfile.TemporaryDirectory() as tmp:
        rows = []
        for n in args.integrations:
            rows.append(measure(n, args.seconds, target, tmp, interval=args.interval))
            if args.baseline:
                baselines.append(
                    measure(n, args.seconds, target, f"{tmp}/b", args.baseline, args.interval)
                )
    base = rows[0]
    print(f"# {args.interval} interval, {args.seconds:.0f} s after READY; ratios against "
          f"{base['n']:,}\n")  # fmt: skip
    print(
        "| integrations | READY | peak RSS | GET /metrics | start delay p50 / p99 "
        "| CPU per probe | missed |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        rss = f"{r['rss']:.0f} MB ({r['rss'] / base['rss']:.1f}x)"
        scrape = f"{r['metrics']:.2f} s ({r['page_mb']:.1f} MB)"
        lag = f"<= {r['p50']:g} / <= {r['p99']:g} s"
        ratio = r["cpu_per_probe_us"] / base["cpu_per_probe_us"]
        cpu = f"{r['cpu_per_probe_us']:.0f} us ({ratio:.2f}x, {r['probes']:.0f} probes)"
        cells = [f"{r['n']:,}", f"{r['ready']:.2f} s", rss, scrape, lag, cpu, f"{r['missed']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    if baselines:
        print(f"\n# this code / the baseline in {args.baseline}, size by size\n")
        print("| integrations | READY | peak RSS | GET /metrics | CPU per probe |")
        print("|---|---|---|---|---|")
        for r, b in zip(rows, baselines, strict=True):
            ratios = [r[k] / b[k] for k in ("ready", "rss", "metrics", "cpu_per_probe_us")]
            print(f"| {r['n']:,} | " + " | ".join(f"{x:.2f}x" for x in ratios) + " |")
    return 0


def with_pages(sizes: list[int], seconds: float, interval: str) -> int:
    """Each size without the page read and with it, one after the other."""
    print(f"# {interval} interval, {seconds:.0f} s after READY; the status page read every "
          "10 s (/, /?page=2, /integrations/i0) or not\n")  # fmt: skip
    print("| integrations | page read | slowest page | start delay p50 / p99 | peak RSS "
          "| CPU per probe |\n|---|---|---|---|---|---|")  # fmt: skip
    with running_target() as target, tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for pages in (False, True):
                r = measure(n, seconds, target, f"{tmp}/{pages}", interval=interval,
                            pages=pages)  # fmt: skip
                slowest = f"{r['page']:.3f} s" if pages else "-"
                print(f"| {n:,} | {'every 10 s' if pages else 'no'} | {slowest} | "
                      f"<= {r['p50']:g} / <= {r['p99']:g} s | {r['rss']:.0f} MB | "
                      f"{r['cpu_per_probe_us']:.0f} us |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
