"""`make run` is `breakerwatch demo`: the simulator, the daemon and console alerts, with a
scripted outage. Run on a copy of the repository's config.toml with shorter intervals."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon.harness import BREAKERWATCH

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_an_outage_and_its_recovery_as_console_alerts(tmp_path: Path) -> None:
    text = (ROOT / "config.toml").read_text()
    for before, after in (('interval = "5s"', 'interval = "500ms"'),
                          ('timeout = "2s"', 'timeout = "300ms"'),
                          ('reset_timeout = "10s"', 'reset_timeout = "1s"'),
                          ('listen = "127.0.0.1:9478"', 'listen = "127.0.0.1:0"'),
                          ('max_latency = "1s"', 'max_latency = "250ms"')):  # fmt: skip
        assert before in text
        text = text.replace(before, after)
    config = tmp_path / "config.toml"
    config.write_text(text)
    demo = subprocess.Popen(
        [BREAKERWATCH, "demo", "--config", str(config), "--first", "1", "--outage", "4",
         "--every", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if re.match(r"ALERT \w+ recovered: breaker closed after", line):
                break
            assert time.monotonic() < deadline, "".join(lines)
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=20)
        assert demo.stdout is not None
        lines += demo.stdout.readlines()
        demo.stdout.close()
    output = "".join(lines)
    assert re.search(r"^ALERT (\w+) is failing: breaker open$", output, re.M), output
    assert "What failed: HTTP 503 server error" in output
    assert code == 0
    assert (tmp_path / ".breakerwatch" / "state.db").exists()
