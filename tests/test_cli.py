"""The installed `breakerwatch` command, run as a real process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process

BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BREAKERWATCH, *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_version() -> None:
    done = run("--version")
    assert (done.returncode, done.stdout.strip()) == (0, "0.1.0")


def test_an_unknown_command_is_a_usage_error_without_a_traceback() -> None:
    done = run("frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_serves_until_sigterm() -> None:
    command = [BREAKERWATCH, "simulate", "--listen", "127.0.0.1:0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            first = process.stdout.readline()
            assert first.startswith("breakerwatch simulator on http://127.0.0.1:")
            url = first.split()[-1]
            banner = [process.stdout.readline() for _ in range(6)]
            assert any("sim-kit-api-key" in line for line in banner)
            headers = {"X-Kit-Api-Key": "sim-kit-api-key"}
            assert httpx.get(f"{url}/kit/v4/account", headers=headers).status_code == 200
            assert httpx.get(f"{url}/__admin__").json()["vendors"]["kit"]["requests"] == 1
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr.read() == ""


def test_simulate_on_a_taken_port_says_so_in_one_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("simulate", "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr == (
        f"breakerwatch simulate: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_simulate_with_a_bad_address_is_a_usage_error() -> None:
    done = run("simulate", "--listen", "localhost:http")
    assert done.returncode == 2
    assert "'localhost:http' is not HOST:PORT" in done.stderr
