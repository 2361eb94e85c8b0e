from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import stop_leftovers
from tests.fakes.http_server import ScriptedServer
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import running_simulator

# The suite talks to loopback servers: a proxy in the developer's or CI's environment must
# not carry its requests away. Tests that want a proxy (tests/system/test_proxy.py) name one.
for _name in [n for n in os.environ if n.lower() in ("http_proxy", "https_proxy", "all_proxy")]:
    del os.environ[_name]


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """A test that fails before stopping its daemon must not leave it running."""
    yield
    stop_leftovers()


SYSTEM = Path(__file__).parent / "system"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/system/ runs the daemon as a process: it is `system`. The
    longest run first (soaks, then system tests), so that parallel workers finish together."""
    for item in items:
        if SYSTEM in item.path.parents:
            item.add_marker(pytest.mark.system)
    items.sort(key=lambda item: (not item.get_closest_marker("soak"),
                                 not item.get_closest_marker("system")))  # fmt: skip


@pytest.fixture(autouse=True)
def _child_processes_only_in_system_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make check` leaves out the tests marked `system`; a test that starts a child process
    (the daemon, the CLI, Prometheus, a browser) must carry the mark, or it fails here."""
    if request.node.get_closest_marker("system") is not None:
        return
    test = request.node.nodeid

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{test} starts a child process: mark it @pytest.mark.system")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake Slack on loopback."""
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
