"""The installed `breakerwatch` command, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BREAKERWATCH, *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_demo_says_what_is_built_and_what_is_coming() -> None:
    done = run("demo")
    assert done.returncode == 0
    assert "the resilient core is built" in done.stdout
    assert "make test" in done.stdout


def test_version() -> None:
    done = run("--version")
    assert (done.returncode, done.stdout.strip()) == (0, "0.1.0")


def test_an_unknown_command_is_a_usage_error_without_a_traceback() -> None:
    done = run("frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr
    assert "Traceback" not in done.stderr
