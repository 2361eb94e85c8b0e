"""/metrics is made while it is sent: the real HTTP server on a loopback port, in front of
an application that only makes pages (the daemon's own page is tested in test_daemon)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.config.model import DaemonConfig
from daemon.server import HttpServer

PIECE = b"x" * (1 << 16)
PIECES = 1600  # 100 MiB: held at once, the page would show in the process's memory


class Pages:
    """An application whose /metrics is `PIECES` pieces, counting those made; `fail_at`
    makes that piece raise instead."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.made = 0
        self.fail_at = fail_at

    def metrics(self, gzipped: bool = False) -> Iterator[bytes]:
        for index in range(PIECES):
            if index == self.fail_at:
                raise RuntimeError("a bug in the page")
            self.made += 1
            yield PIECE

    def health(self) -> tuple[bool, str]:
        return True, "ok"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the server asked for {name}, which /metrics needs not")


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[HttpServer] = []
    loop = asyncio.new_event_loop()

    def start(pages: Pages) -> str:
        config = DaemonConfig(listen=("127.0.0.1", 0))
        server = HttpServer(config, pages, loop)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()
    loop.close()


IDENTITY = {"Accept-Encoding": "identity"}
BETWEEN_US = 1 << 23  # what the sockets' buffers can hold between server and client, at most


def test_a_piece_is_made_only_as_the_one_before_is_sent(serve: Any) -> None:
    pages = Pages()
    url = serve(pages)
    with httpx.stream("GET", url + "/metrics", headers=IDENTITY, timeout=10) as got:
        assert got.headers["Transfer-Encoding"] == "chunked"
        chunks = got.iter_raw(1 << 16)
        first = next(chunks)
        assert first
        assert set(first) == {ord("x")}
        assert pages.made * len(PIECE) < BETWEEN_US, pages.made  # not the whole page
        received = len(first) + sum(map(len, chunks))
    assert received == PIECES * len(PIECE)
    assert pages.made == PIECES
    assert httpx.get(url + "/healthz", timeout=10).text == "ok\n"  # and it still answers


def test_a_failure_part_way_is_logged_and_the_page_cut_off(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = serve(Pages(fail_at=3))
    caplog.set_level(logging.ERROR, logger="daemon.server")
    with pytest.raises(httpx.RemoteProtocolError):  # no last chunk: not a whole page
        httpx.get(url + "/metrics", headers=IDENTITY, timeout=10)
    failed = [r for r in caplog.records if "failed part way" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is not None
    assert "a bug in the page" in str(failed[0].exc_info[1])


def test_a_client_hanging_up_part_way_is_not_a_failure(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pages = Pages()
    url = serve(pages)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    caplog.set_level(logging.DEBUG, logger="daemon.server")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    assert httpx.get(url + "/healthz", timeout=10).text == "ok\n"  # the server goes on
    assert pages.made < PIECES  # it stopped making the page nobody reads
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
