"""The daemon's HTTP endpoints, served from their own thread.

    GET  /metrics                              Prometheus text format
    GET  /healthz                              200 while the scheduler heartbeat is fresh, else 503
    GET  /readyz                               200 once config is loaded and state restored
    GET  /api/v1/status                        JSON: every integration's breaker and last probe
    POST /api/v1/integrations/<name>/breaker   {"action": "force-open" | "disable" | "reset"}
    GET  /api/v1/silences                      JSON: the silences not yet over
    POST /api/v1/silences                      {"integration": NAME or "*", "duration": "2h",
                                                "reason": TEXT}
    DELETE /api/v1/silences/<id>               end a silence now

A thread, not the event loop, serves them: if the loop ever wedges, `/healthz` still answers
(503, with the heartbeat's age) instead of hanging, and a scrape never stalls probing.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from daemon.config import parse_duration
from daemon.metrics import CONTENT_TYPE

__all__ = ["Endpoints", "HttpServer", "ListenError"]

logger = logging.getLogger(__name__)

ACTIONS = ("force-open", "disable", "reset")


class ListenError(Exception):
    """The address cannot be listened on; the message is one sentence naming it."""


class Endpoints(Protocol):
    """What the endpoints ask of the daemon; every method is called from the server thread."""

    def metrics(self) -> bytes: ...
    def health(self) -> tuple[bool, str]: ...
    def ready(self) -> bool: ...
    def status(self) -> dict[str, Any]: ...
    def breaker_action(self, name: str, action: str) -> dict[str, Any] | None: ...
    def silences(self, action: str, **arguments: Any) -> tuple[int, Any]: ...


class HttpServer:
    def __init__(self, host: str, port: int, endpoints: Endpoints) -> None:
        try:
            self._httpd = _Server((host, port), _handler(endpoints))
        except OSError as error:
            reason = error.strerror or str(error)
            raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="http", kwargs={"poll_interval": 0.2}
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "breakerwatch"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would be noise; errors are logged where they happen

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, endpoints.metrics(), CONTENT_TYPE)
            elif path == "/healthz":
                healthy, text = endpoints.health()
                self._send(200 if healthy else 503, text.encode() + b"\n", "text/plain")
            elif path == "/readyz":
                ready = endpoints.ready()
                body = b"ready\n" if ready else b"not ready: loading state\n"
                self._send(200 if ready else 503, body, "text/plain")
            elif path == "/api/v1/status":
                self._json(200, endpoints.status())
            elif path == "/api/v1/silences":
                self._json(*endpoints.silences("list"))
            else:
                self._json(404, {"error": f"no such endpoint {path}"})

        def do_DELETE(self) -> None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) == 4 and parts[:3] == ["api", "v1", "silences"] and parts[3].isdigit():
                self._json(*endpoints.silences("remove", id=int(parts[3])))
            else:
                self._json(404, {"error": f"no such endpoint {self.path}"})

        def _add_silence(self, raw: bytes) -> None:
            try:
                body = json.loads(raw or b"{}")
                integration, reason = body["integration"], body["reason"]
                seconds = parse_duration(body["duration"])
            except (ValueError, KeyError, TypeError):
                self._json(
                    400, {"error": 'send {"integration": NAME, "duration": "2h", "reason": TEXT}'}
                )
                return
            if (
                not isinstance(integration, str)
                or not isinstance(reason, str)
                or not reason.strip()
            ):
                self._json(400, {"error": "a silence needs an integration name and a reason"})
                return
            if seconds <= 0:
                self._json(400, {"error": "the duration must be longer than 0s"})
                return
            self._json(
                *endpoints.silences(
                    "add", integration=integration, seconds=seconds, reason=reason.strip()
                )
            )

        def do_POST(self) -> None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if parts == ["api", "v1", "silences"]:
                self._add_silence(raw)
                return
            if (
                len(parts) != 5
                or parts[:3] != ["api", "v1", "integrations"]
                or parts[4] != "breaker"
            ):
                self._json(404, {"error": f"no such endpoint {self.path}"})
                return
            try:
                action = json.loads(raw or b"{}").get("action")
            except (ValueError, AttributeError):
                action = None
            if action not in ACTIONS:
                self._json(400, {"error": f"action must be one of {', '.join(ACTIONS)}"})
                return
            result = endpoints.breaker_action(parts[3], action)
            if result is None:
                self._json(404, {"error": f"no integration named {parts[3]!r}"})
            else:
                self._json(200, result)

        def _json(self, status: int, payload: object) -> None:
            self._send(status, json.dumps(payload, indent=1).encode() + b"\n", "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
