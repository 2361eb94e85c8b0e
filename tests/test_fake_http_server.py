"""The scripted server does what its replies say, checked with raw sockets (no httpx)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.fakes.http_server import Reply, ScriptedServer


def connect(server: ScriptedServer) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=5)
    sock.sendall(b"GET /probe?x=1 HTTP/1.1\r\nHost: test\r\nX-Api-Key: k\r\n\r\n")
    return sock


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_scripted_replies_then_the_default(server: ScriptedServer) -> None:
    server.play(Reply(503, body=b"down", headers={"Retry-After": "7"}))
    with connect(server) as sock:
        first = read_response(sock)
        sock.sendall(b"GET /again HTTP/1.1\r\nHost: test\r\n\r\n")
        second = read_response(sock)
    assert first.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 7" in first
    assert first.endswith(b"\r\n\r\ndown")
    assert second.startswith(b"HTTP/1.1 200 ")
    assert second.endswith(b'{"ok": true}')
    assert server.connections == 1  # keep-alive
    assert [(r.method, r.path, r.headers["X-Api-Key"]) for r in server.requests[:1]] == [
        ("GET", "/probe?x=1", "k")
    ]


def test_reset_sends_a_tcp_rst(server: ScriptedServer) -> None:
    server.play(Reply(reset=True))
    with connect(server) as sock, pytest.raises(ConnectionResetError):
        sock.recv(4096)


def test_drip_sends_the_body_a_byte_at_a_time(server: ScriptedServer) -> None:
    server.play(Reply(body=b"abcdef", drip=0.2))
    with connect(server) as sock:
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert sock.recv(4096) == b"a"  # one byte, then a pause: not the whole body
        assert sock.recv(4096) == b"b"


def test_endless_streams_chunks_until_the_client_leaves(server: ScriptedServer) -> None:
    server.play(Reply(endless=True))
    with connect(server) as sock:
        received = 0
        while received < 1_000_000:
            received += len(sock.recv(65536))
    assert received >= 1_000_000
