"""A scripted HTTP/1.1 server on 127.0.0.1 for testing clients over real sockets.

Each request takes the next `Reply` from the script (or the default once the script is
empty) and the server behaves as it says: a status with headers and body, a delay before
answering, a body dripped byte by byte, a body streamed until the client gives up, or a
TCP reset instead of an answer. It counts requests and connections.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hang up on purpose
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between body bytes (0: send at once)
    endless: bool = False  # stream chunks until the client hangs up
    reset: bool = False  # answer with a TCP RST instead of a response


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Start with `with ScriptedServer() as server:`; `server.url` is its base URL."""

    def __init__(self, default: Reply | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.default = default or Reply()
        self.scheme = "https" if tls else "http"
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self.connections = 0
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    @property
    def hits(self) -> int:
        return len(self.requests)

    def play(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            return self._script.popleft() if self._script else self.default

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server._connected()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                reply = server._next(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    self.close_connection = True
                    return
                try:
                    self._respond(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _respond(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.endless:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"x" * 65536
                    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                    for _ in range(100_000):  # at most about 6.5 GB, never reached
                        self.wfile.write(framed)
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not reply.drip:
                    self.wfile.write(reply.body)
                    return
                for byte in reply.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(reply.drip)

            # CONNECT too: a test may play a proxy that refuses a tunnel.
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_CONNECT = _serve

        return Handler
