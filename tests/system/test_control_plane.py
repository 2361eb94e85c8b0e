"""The daemon's HTTP port under abuse, as a real process: idle connections by the hundred,
bodies of a hundred megabytes, and file descriptors run out. Through all of it, no vendor's
breaker moves, probes keep their rate, and /healthz says what is true."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from daemon.status import format_table
from simulator import Simulator
from tests.daemon.harness import DaemonProcess, alerts_config, config_text, environment
from tests.daemon.test_daemon import metric
from tests.fakes.slack import FakeSlack

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "breakerwatch.service"
VENDORS = ("kit", "hubspot", "mailchimp", "sendgrid")


def unit_open_files() -> int:
    """The unit's LimitNOFILE=, which systemd gives the daemon."""
    found = re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(), re.M)
    assert found is not None
    return int(found[1])


def numbers(daemon: DaemonProcess) -> dict[str, float]:
    text = daemon.get("/metrics").text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(
            ("breakerwatch_probes_total{", "breakerwatch_breaker_transitions_total")
        ):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    for name in ("breakerwatch_local_trouble", "breakerwatch_http_connections_evicted_total"):
        found[name] = metric(text, name) or 0.0
    return found


def transitions(numbers: dict[str, float]) -> float:
    return sum(v for k, v in numbers.items() if k.startswith("breakerwatch_breaker_transitions"))


def probes(numbers: dict[str, float], name: str) -> float:
    return numbers[f'breakerwatch_probes_total{{integration="{name}"}}']


def rss(pid: int, field: str = "VmRSS") -> int:
    """A process's memory in bytes, from /proc (VmRSS now, VmHWM its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB$", status, re.M)
    assert found is not None
    return int(found[1]) * 1024


@pytest.fixture
def config(simulator: Simulator, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "config.toml"
    path.write_text(config_text(simulator, tmp_path / "state"))
    return path, environment(simulator)


def test_six_hundred_idle_connections_change_nothing(
    config: tuple[Path, dict[str, str]],
) -> None:
    path, env = config
    daemon = DaemonProcess(path, env, open_files=unit_open_files()).wait_ready()
    held: list[socket.socket] = []
    try:
        daemon.until(lambda: probes(numbers(daemon), "kit") >= 2, what="probing")
        host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
        before, began = numbers(daemon), time.monotonic()
        # The 600 arrive while the daemon is stopped, as a burst after a pause would: its
        # accept loop then finds them all queued at once, not one at a time.
        daemon.process.send_signal(signal.SIGSTOP)
        try:
            for _ in range(600):  # connect, send nothing, hold on
                held.append(socket.create_connection((host, int(port)), timeout=5))
        finally:
            daemon.process.send_signal(signal.SIGCONT)
        time.sleep(1.0)
        asked = time.monotonic()
        health = httpx.get(daemon.url + "/healthz", timeout=10)
        assert (health.status_code, health.text) == (200, "ok\n")
        assert time.monotonic() - asked < 2  # room was made: not queued behind the idle ones
        time.sleep(max(0.0, 6.0 - (time.monotonic() - began)))
        after, took = numbers(daemon), time.monotonic() - began
    finally:
        for sock in held:
            sock.close()
        assert daemon.stop() == 0
    assert transitions(after) == transitions(before)  # no breaker moved
    assert after["breakerwatch_local_trouble"] == 0
    assert after["breakerwatch_http_connections_evicted_total"] >= 600 - 512
    expected = took / 0.5  # the interval
    for name in VENDORS:
        assert probes(after, name) - probes(before, name) >= 0.7 * expected, name
    assert "Traceback" not in daemon.output
    assert "in trouble" not in daemon.output


def test_a_hundred_megabytes_to_nowhere_costs_no_memory(
    config: tuple[Path, dict[str, str]],
) -> None:
    path, env = config
    daemon = DaemonProcess(path, env).wait_ready()
    pid = daemon.process.pid
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    try:
        daemon.get("/metrics")  # the first scrape's allocations happen before we measure
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from now
        baseline = rss(pid)
        megabyte = b"x" * (1 << 20)
        for target, framing in (
            (b"POST /nowhere", b"Content-Length: %d" % (100 << 20)),
            (b"POST /api/v1/silences", b"Content-Length: %d" % (100 << 20)),
            (b"POST /api/v1/silences", b"Transfer-Encoding: chunked"),
        ):
            chunked = framing.startswith(b"Transfer")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                head = b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                sock.sendall(target + head + framing + b"\r\n\r\n")
                sent = 0
                try:
                    while sent < 100:
                        sock.sendall(b"100000\r\n" + megabyte + b"\r\n" if chunked else megabyte)
                        sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the daemon answered and hung up: what it should do
                answer = sock.recv(4096) if sent < 100 else b""
            assert sent < 100, "the daemon read a whole 100 MB body"
            assert re.match(rb"HTTP/1\.1 (404|413) ", answer) or answer == b"", answer
        grown = rss(pid, "VmHWM") - baseline
    finally:
        assert daemon.stop() == 0
    assert grown < 5 << 20, f"the peak memory grew by {grown / (1 << 20):.1f} MB"


def test_our_own_exhaustion_is_ours(simulator: Simulator, tmp_path: Path, slack: FakeSlack) -> None:
    """Out of file descriptors (idle connections hold them): probes fail for want of our
    own resources. No breaker moves; the daemon says so once in its log, in /healthz and
    /metrics, and once in Slack, and again when it is over."""
    path = tmp_path / "config.toml"
    path.write_text(
        config_text(simulator, tmp_path / "state", extra=alerts_config(slack.api_url))
        .replace("[daemon]\n", "[daemon]\nmax_connections = 4096\n")
    )  # fmt: skip
    env = environment(simulator, SLACK_TOKEN="xoxb-test-token")
    daemon = DaemonProcess(path, env, open_files=128).wait_ready()
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    held: list[socket.socket] = []
    try:
        daemon.until(lambda: probes(numbers(daemon), "kit") >= 2, what="probing")
        before = numbers(daemon)
        for _ in range(200):
            held.append(socket.create_connection((host, int(port)), timeout=5))
        daemon.until(lambda: "breakerwatch itself is in trouble" in daemon.output, 20, "trouble")
        time.sleep(2.0)  # probes keep failing locally for a while
        for sock in held[:150]:  # room for our own requests (and Slack's)
            sock.close()
        health = daemon.get("/healthz")
        assert health.status_code == 200
        assert health.text.startswith(
            "degraded: breakerwatch itself is in trouble: this process has too many open files "
            "(EMFILE); probes failing so are not counted against the vendors"
        )
        during = numbers(daemon)
        assert during["breakerwatch_local_trouble"] == 1
        assert (metric(daemon.get("/metrics").text, "breakerwatch_local_failures_total",
                       reason="EMFILE") or 0) >= 1  # fmt: skip
        assert "IN TROUBLE: this process has too many open files (EMFILE)" in _status(daemon)
        for sock in held[150:]:
            sock.close()
        daemon.until(lambda: len(slack.top_level()) >= 1, 30, "the Slack notice")
        (notice,) = slack.top_level()
        assert notice.text is not None
        assert notice.text.startswith("breakerwatch itself is in trouble: probes failing for want")
        daemon.until(lambda: "breakerwatch is out of trouble" in daemon.output, 60, "the end")
        daemon.until(lambda: slack.replies(notice.ts), 30, "the resolution")
        after = numbers(daemon)
    finally:
        for sock in held:
            sock.close()
        assert daemon.stop() == 0
    assert transitions(after) == transitions(before)  # no vendor's breaker moved
    assert after["breakerwatch_local_trouble"] == 0
    assert daemon.output.count("breakerwatch itself is in trouble") == 1
    assert daemon.output.count("cannot accept connections") == 1
    (reply,) = slack.replies(notice.ts)
    assert reply.text is not None
    assert reply.text.startswith("Out of trouble after ")
    assert "Traceback" not in daemon.output


def _status(daemon: DaemonProcess) -> str:
    return format_table(daemon.get("/api/v1/status").json(), time.time())
