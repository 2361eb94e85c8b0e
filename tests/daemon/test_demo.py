"""`make run` is `breakerwatch demo`: the simulator, the daemon and console alerts, with a
scripted outage. Run on a copy of the repository's config.toml with shorter intervals."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.daemon.harness import BREAKERWATCH

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process

ROOT = Path(__file__).resolve().parents[2]


FAST = (('interval = "5s"', 'interval = "500ms"'), ('timeout = "2s"', 'timeout = "300ms"'),
        ('reset_timeout = "10s"', 'reset_timeout = "1s"'),
        ('listen = "127.0.0.1:9478"', 'listen = "127.0.0.1:0"'))  # fmt: skip


def run_demo(
    tmp_path: Path, changes: tuple[tuple[str, str], ...], args: list[str],
    done: Callable[[list[str]], bool], within: float,
) -> tuple[str, int]:  # fmt: skip
    """The demo on a copy of config.toml with `changes`, until `done(lines)` (then Ctrl-C):
    its output and exit code."""
    text = (ROOT / "config.toml").read_text()
    for before, after in FAST + changes:
        assert before in text
        text = text.replace(before, after)
    config = tmp_path / "config.toml"
    config.write_text(text)
    demo = subprocess.Popen(
        [BREAKERWATCH, "demo", "--config", str(config), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + within
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if done(lines):
                break
            assert time.monotonic() < deadline, "".join(lines)
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=20)
        assert demo.stdout is not None
        lines += demo.stdout.readlines()
        demo.stdout.close()
    return "".join(lines), code


def test_the_demo_shows_an_outage_and_its_recovery_as_console_alerts(tmp_path: Path) -> None:
    output, code = run_demo(
        tmp_path, (('max_latency = "1s"', 'max_latency = "250ms"'),),
        ["--first", "1", "--outage", "4", "--every", "600"],
        lambda lines: bool(re.match(r"ALERT \w+ recovered: breaker closed after", lines[-1])), 60,
    )  # fmt: skip
    assert output.startswith("breakerwatch demo: open http://127.0.0.1:9478/ in a browser")
    assert re.search(r"^ALERT (\w+) is failing: breaker open$", output, re.M), output
    assert "What failed: HTTP 503 server error" in output
    assert code == 0
    assert (tmp_path / ".breakerwatch" / "state.db").exists()


def test_the_demo_shows_each_verdict_in_its_first_three_outages(tmp_path: Path) -> None:
    """`make run`'s script, sped up: hubspot fails with its page all clear (only us so far),
    kit's vendor posts an incident into its outage (the alert is updated: the vendor
    confirms), and the corp proxy billing depends on fails (our side)."""
    wanted = ("Only us so far: ", "The vendor confirms: ", "Our side: ")
    output, _ = run_demo(
        tmp_path,
        (('status_page_interval = "30s"', 'status_page_interval = "1s"'),
         ('status_page_interval_open = "5s"', 'status_page_interval_open = "1s"'),
         ("console = true", 'console = true\nstorm_window = "1s"')),
        ["--first", "1", "--outage", "15", "--every", "18"],
        lambda lines: all(any(w in line for line in lines) for w in wanted), 90,
    )  # fmt: skip
    assert "Only us so far: 127.0.0.1:8600 says All Systems Operational" in output, output
    assert "kit: the vendor's status page now confirms it. The vendor confirms: " in output
    assert "Our side: 1 integration depends on it, and it has no vendor page" in output
