from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import stop_leftovers
from tests.fakes.http_server import ScriptedServer
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import running_simulator


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """A test that fails before stopping its daemon must not leave it running."""
    yield
    stop_leftovers()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake Slack on loopback. slack-sdk would send loopback requests to a proxy from
    the environment (it ignores NO_PROXY), so the proxy variables are cleared."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket where systemd would listen; the daemon finds it in $NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(15)
    yield sock
    sock.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """The vendor simulator on a free loopback port, served from its own thread and loop."""
    with running_simulator() as sim:
        yield sim
