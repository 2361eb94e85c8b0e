"""Real Alertmanagers for tests: Debian's prometheus-alertmanager, clustered over loopback.

The config is the shipped prometheus/alertmanager.yml with two changes a test needs: the
Slack receiver posts to a fake Slack's webhook (api_url instead of api_url_file), and the
timings are seconds, not minutes. Each instance has its own web and gossip ports and its own
storage directory, and lists the others as peers.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
EXAMPLE = Path(__file__).parent.parent / "prometheus" / "alertmanager.yml"
TIMINGS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "4h"}

needs_alertmanager = pytest.mark.skipif(
    BINARY is None, reason="prometheus-alertmanager is not installed (.ci/run installs it)"
)


def config(slack_webhook: str) -> dict[str, Any]:
    """The shipped example, pointed at `slack_webhook`, with test timings."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    document["route"].update(TIMINGS)
    for receiver in document["receivers"]:
        for slack in receiver.get("slack_configs", ()):
            del slack["api_url_file"]
            slack["api_url"] = slack_webhook
    return document


class Alertmanagers:
    """`count` clustered Alertmanagers; `urls` in order; `kill(i)` as a crash would."""

    def __init__(
        self,
        directory: Path,
        slack_webhook: str,
        count: int = 2,
        web_config: dict[str, Any] | None = None,
        client: dict[str, Any] | None = None,
    ) -> None:
        """`web_config`: the exporter toolkit's --web.config.file (TLS, basic auth), and
        `client` the httpx arguments (verify, cert, auth) that get past it."""
        assert BINARY is not None
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config(slack_webhook)))
        web = [free_port() for _ in range(count)]
        gossip = [free_port() for _ in range(count)]
        scheme = "https" if web_config and "tls_server_config" in web_config else "http"
        self.urls = [f"{scheme}://127.0.0.1:{port}" for port in web]
        self.client = client or {}
        flags = []
        if web_config is not None:
            (directory / "web.yml").write_text(yaml.safe_dump(web_config))
            flags.append(f"--web.config.file={directory / 'web.yml'}")
        self.logs = [directory / f"alertmanager-{i}.log" for i in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        for i in range(count):
            peers = [f"--cluster.peer=127.0.0.1:{gossip[j]}" for j in range(count) if j != i]
            command = [
                BINARY,
                f"--config.file={path}",
                f"--storage.path={directory / f'data-{i}'}",
                f"--web.listen-address=127.0.0.1:{web[i]}",
                f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                *peers,
                "--cluster.peer-timeout=2s",  # the send stagger between peers (15 s by default)
                "--cluster.settle-timeout=2s",
                "--cluster.pushpull-interval=2s",
                "--cluster.reconnect-interval=1s",
                *flags,
            ]
            with self.logs[i].open("wb") as log:
                self.processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
                )

    def __enter__(self) -> Alertmanagers:
        try:
            self.wait_clustered()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_clustered(self, timeout: float = 30) -> None:
        """Until every instance answers and sees all the others as peers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(len(self.peers(url)) == len(self.urls) for url in self.urls):
                    return
            except httpx.HTTPError:
                pass
            for i, process in enumerate(self.processes):
                if process.poll() is not None:
                    raise AssertionError(f"alertmanager {i} exited:\n{self.logs[i].read_text()}")
            time.sleep(0.2)
        raise AssertionError("the Alertmanagers did not form a cluster:\n" + self.output())

    def peers(self, url: str) -> list[dict[str, Any]]:
        status = httpx.get(f"{url}/api/v2/status", timeout=5, **self.client).json()
        return list(status["cluster"].get("peers") or [])

    def alerts(self, url: str) -> list[dict[str, Any]]:
        """The alerts an instance holds as active (resolved ones are not listed)."""
        return list(httpx.get(f"{url}/api/v2/alerts", timeout=5, **self.client).json())

    def kill(self, index: int) -> None:
        self.processes[index].kill()
        self.processes[index].wait(timeout=10)

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()}" for log in self.logs if log.exists())

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:  # a clustered Alertmanager takes 10 s and more to leave; nothing needs it to
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
