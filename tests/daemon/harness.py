"""The daemon as a real process: start it on a config, wait for readiness, signal it."""

from __future__ import annotations

import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from simulator import Simulator
from tests.simulator.helpers import admin

BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))
STARTED: list[DaemonProcess] = []  # every daemon started, for stop_leftovers()
_LISTENING = re.compile(r"listening on (https?://\S+:\d+)")


def breakerwatch(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`breakerwatch ARGS`, as someone at a shell would run it, its output captured."""
    return subprocess.run(
        [BREAKERWATCH, *args], capture_output=True, text=True, timeout=timeout, env=env,
        check=False,
    )  # fmt: skip


def config_text(sim: Simulator, state_dir: Path, *, reset: str = "2s", extra: str = "") -> str:
    """Four vendors and the plain endpoint on `sim`, probed every 0.5 s."""
    vendors = {"kit": ("convertkit", "api_key", "KIT_KEY"),
               "hubspot": ("hubspot", "token", "HUBSPOT_KEY"),
               "mailchimp": ("mailchimp", "api_key", "MAILCHIMP_KEY"),
               "sendgrid": ("sendgrid", "api_key", "SENDGRID_KEY")}  # fmt: skip
    blocks = [
        f'[[integrations]]\nname = "{name}"\nkind = "{kind}"\n{field} = "env:{var}"\n'
        f'base_url = "{sim.base_url(name)}"\n'
        for name, (kind, field, var) in vendors.items()
    ]
    return (
        f'[daemon]\nlisten = "127.0.0.1:0"\nstate_dir = "{state_dir}"\n\n'
        '[defaults]\ninterval = "500ms"\ntimeout = "300ms"\n\n'
        f'[defaults.breaker]\nfailure_threshold = 2\nreset_timeout = "{reset}"\n\n'
        "[defaults.retry]\nmax_attempts = 1\n\n" + "\n".join(blocks) + extra
    )


def config_file(directory: Path, text: str) -> Path:
    """`text` written as `directory`/config.toml; its path."""
    config = directory / "config.toml"
    config.write_text(text)
    return config


def alerts_config(slack_api: str, more: str = "") -> str:
    """An [alerts] table posting to a fake Slack at `slack_api` (token $SLACK_TOKEN); an
    interrupted send is looked up after 1 s (the fake on loopback has long finished it)."""
    return (
        f'\n[alerts]\nstorm_window = "1s"\n{more}'
        f'[alerts.slack]\ntoken = "env:SLACK_TOKEN"\nchannel = "#integrations"\n'
        f'base_url = "{slack_api}"\nsettle = "1s"\n'
    )


def churn_config(sim: Simulator, state_dir: Path, slack_api: str, more: str = "") -> str:
    """For runs that trip breakers again and again: open periods of 1 s growing to 2 s at
    most (not minutes), flap damping out of the way, alerts to the fake Slack."""
    text = config_text(
        sim,
        state_dir,
        reset="1s",
        extra=alerts_config(slack_api, more + "flap_max_transitions = 1000\n"),
    )
    return text.replace('reset_timeout = "1s"', 'reset_timeout = "1s"\nmax_reset_timeout = "2s"')


def environment(sim: Simulator, **more: str) -> dict[str, str]:
    keys = sim.credentials
    return {
        "PATH": "/usr/bin:/bin",
        "KIT_KEY": keys["kit"],
        "HUBSPOT_KEY": keys["hubspot"],
        "MAILCHIMP_KEY": keys["mailchimp"],
        "SENDGRID_KEY": keys["sendgrid"],
        **more,
    }


def stop_leftovers() -> None:
    """Kill every daemon a test started and did not stop (it failed before its stop)."""
    while STARTED:
        daemon = STARTED.pop()
        if daemon.process.poll() is None:
            daemon.kill()


class DaemonProcess:
    """`breakerwatch run [--config PATH]`, its output collected line by line."""

    def __init__(
        self,
        config: Path | None,
        env: dict[str, str],
        binary: str = BREAKERWATCH,
        *,
        open_files: int | None = None,
    ) -> None:
        """No `config`: the daemon finds its own, as under systemd ($CONFIGURATION_DIRECTORY).
        `open_files`: its RLIMIT_NOFILE, as systemd's LimitNOFILE= would set it."""
        self.lines: list[str] = []

        def limit() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self.process = subprocess.Popen(
            [binary, "run", *(["--config", str(config)] if config else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=limit,
        )
        STARTED.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.client: dict[str, Any] = {}  # for an httpx call: verify=, auth=, headers=

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 15) -> DaemonProcess:
        self.url = self.until(lambda: _listening(self.output), timeout, "the listening line")
        self.until(lambda: self.get("/readyz").status_code == 200, timeout, "/readyz")
        return self

    def until(self, check: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the daemon exited ({self.process.returncode}):\n{self.output}"
                )
            try:
                value = check()
            except httpx.HTTPError:
                value = None
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or check}:\n{self.output}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5, **self.client)

    def status(self) -> dict[str, dict[str, Any]]:
        return {i["name"]: i for i in self.get("/api/v1/status").json()["integrations"]}

    def state(self, name: str) -> str:
        return str(self.status()[name]["state"])

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()


def _listening(output: str) -> str | None:
    found = _LISTENING.search(output)
    return found[1] if found else None


def messages(sock: socket.socket, until: str) -> list[str]:
    """sd_notify datagrams until one contains `until` (each: its KEY=VALUE lines joined by |)."""
    seen: list[str] = []
    while not seen or until not in seen[-1]:
        seen.append(sock.recv(4096).decode().replace("\n", "|"))
    return seen


def notify_life_cycle(sock: socket.socket, daemon: DaemonProcess, sim: Simulator) -> None:
    """Drive a daemon with four integrations through start, an outage, a reload and a stop,
    and check that systemd hears READY, STATUS, WATCHDOG, RELOADING and STOPPING in order."""
    assert messages(sock, "READY=1")[-1] == "READY=1|STATUS=4 integrations: 4 closed"
    assert "WATCHDOG=1" in messages(sock, "WATCHDOG=1")
    daemon.wait_ready()
    admin(sim, "PUT", "/kit/mode", {"mode": "5xx"})
    assert messages(sock, "open")[-1] == "STATUS=4 integrations: 3 closed, 1 open"
    daemon.signal(signal.SIGHUP)
    reloading = [m for m in messages(sock, "READY=1") if m.startswith("RELOADING=1")]
    assert reloading
    assert reloading[0].split("|")[1].startswith("MONOTONIC_USEC=")
    daemon.signal(signal.SIGTERM)
    assert messages(sock, "STOPPING=1")[-1] == "STOPPING=1|STATUS=stopping"
