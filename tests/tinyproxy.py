"""A real forward proxy for tests: Debian's tinyproxy on loopback, in the foreground, with
its own log (https://tinyproxy.github.io/: `LogLevel Info` logs each request line, a
`CONNECT host:port` for a tunnel; `BasicAuth user password` demands credentials)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import free_port

BINARY = shutil.which("tinyproxy")
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/1\.[01]")

needs_tinyproxy = pytest.mark.skipif(
    BINARY is None, reason="tinyproxy is not installed (.ci/run installs it)"
)


class Tinyproxy:
    """`with Tinyproxy(folder, user=..., password=...) as proxy:`; `proxy.url` has the
    credentials; `proxy.requests()` the request lines it received ("GET http://...",
    "CONNECT host:port")."""

    def __init__(self, folder: Path, user: str | None = None, password: str | None = None) -> None:
        self.port = free_port()
        self.log = folder / "tinyproxy.log"
        auth = f"BasicAuth {user} {password}\n" if user and password else ""
        self.config = folder / "tinyproxy.conf"
        self.config.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\n"
            f'LogFile "{self.log}"\nLogLevel Info\nAllow 127.0.0.1\nDisableViaHeader Yes\n{auth}'
        )
        userinfo = f"{user}:{password}@" if user and password else ""
        self.url = f"http://{userinfo}127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Tinyproxy:
        assert BINARY is not None
        self._process = subprocess.Popen(
            [BINARY, "-d", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"tinyproxy did not start: {self.logged()}") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def logged(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def requests(self) -> list[str]:
        return _REQUEST.findall(self.logged())
