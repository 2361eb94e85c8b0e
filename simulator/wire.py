"""A small HTTP/1.1 server on asyncio streams and h11, able to misbehave on purpose.

Besides answering, a `SimResponse` can ask the wire to drip its body one byte at a time,
to cut the connection with a TCP reset before answering, or to reset it halfway through
the body. Keep-alive works as clients expect, so connection reuse is exercised too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

__all__ = ["SimRequest", "SimResponse", "WireServer", "json_response"]

logger = logging.getLogger(__name__)

_MAX_BODY = 10 * 1024 * 1024
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


@dataclass(frozen=True, slots=True)
class SimRequest:
    """A request as a fake sees it: header names lower-cased, the path without its query."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not valid JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(slots=True)
class SimResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drip: float = 0.0  # seconds between body bytes
    reset: bool = False  # a TCP reset instead of an answer
    reset_after: int | None = None  # send this many body bytes, then reset


def json_response(
    status: int, payload: object, content_type: str = "application/json; charset=utf-8"
) -> SimResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return SimResponse(status, body, [("Content-Type", content_type)])


Handler = Callable[[SimRequest], Awaitable[SimResponse]]


class WireServer:
    """Serves `handler` on a TCP address until closed."""

    def __init__(self, handler: Handler, *, date: Callable[[], str]) -> None:
        self._handler = handler
        self._date = date
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections.values()):
                writer.transport.abort()  # each connection then ends on its own: no cancellation
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read(conn, reader)
                if request is None:
                    break
                try:
                    response = await self._handler(request)
                except Exception:  # the simulator's own bug: say so, never fake a reset
                    logger.exception("simulator: error while serving %s", request.path)
                    response = SimResponse(
                        500, b"simulator error", [("Content-Type", "text/plain")]
                    )
                if not await self._write(conn, writer, response):
                    return  # the connection was reset on purpose
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> SimRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise h11.RemoteProtocolError("request body too large")
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                target = urlsplit(head.target.decode("latin-1"))
                return SimRequest(
                    method=head.method.decode("ascii"),
                    path=target.path,
                    query=dict(parse_qsl(target.query, keep_blank_values=True)),
                    headers={k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers},
                    body=bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _write(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, response: SimResponse
    ) -> bool:
        if response.reset:
            _reset(writer)
            return False
        headers = [("Date", self._date()), ("Server", "breakerwatch-simulator"), *response.headers]
        headers.append(("Content-Length", str(len(response.body))))
        reason = _PHRASES.get(response.status, "")
        head = h11.Response(status_code=response.status, headers=headers, reason=reason)
        writer.write(conn.send(head))
        body = response.body
        if response.reset_after is not None:
            writer.write(conn.send(h11.Data(data=body[: response.reset_after])))
            await writer.drain()
            _reset(writer)
            return False
        if response.drip:
            for i in range(len(body)):
                writer.write(conn.send(h11.Data(data=body[i : i + 1])))
                await writer.drain()
                await asyncio.sleep(response.drip)
        elif body:
            writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        return True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing server or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
