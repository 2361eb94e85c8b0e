"""The daemon's HTTP endpoints, on aiohttp's server, in a thread of its own with its own loop.

    GET  /                                     the status page (HTML; [daemon] status_page)
    GET  /integrations/<name>                  one integration's page
    GET  /metrics                              Prometheus text format
    GET  /healthz                              200 while the scheduler heartbeat is fresh, else 503
    GET  /readyz                               200 once config is loaded and state restored
    GET  /api/v1/status                        JSON: every integration's breaker and last probe
    POST /api/v1/integrations/<name>/breaker   {"action": "force-open" | "disable" | "reset",
                                                "reason": TEXT}
    POST /-/reload                             read config.toml again, as SIGHUP does
    GET  /api/v1/silences                      JSON: the silences not yet over
    POST /api/v1/silences                      {"integration": NAME or "*", "duration": "2h",
                                                "reason": TEXT}
    DELETE /api/v1/silences/<id>               end a silence now
    GET  /api/v1/incidents[.csv]               the incident history: ?integration=&since=&until=
    GET  /api/v1/report                        availability against each SLA: ?month=&integration=

HEAD works wherever GET does; /metrics is gzipped (level 1) for a scraper that accepts it.
Who may do what is `daemon.access`; this module enforces it and bounds what a client can
cost: a body of at most `MAX_BODY` (413, and a declared larger
one is never read), `IDLE_TIMEOUT` to send a request's head and between requests, a time
limit on reading a body, at most `max_connections` open connections (more wait in the
listen queue to be accepted, as with Prometheus's `--web.max-connections`, but first the
connection idle the longest is closed to make room), and aiohttp's
HTTP parser, which refuses what could hide one request inside another. A malformed request
gets a 4xx and one debug line.

A thread, not the daemon's event loop, serves them: if that loop ever wedges, `/healthz`
still answers (503, with the heartbeat's age) instead of hanging, and a scrape never stalls
probing. Mutations run on the daemon's loop, which the handler awaits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import math
import socket
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, Protocol

import bcrypt
from aiohttp import payload, web
from aiohttp.abc import AbstractStreamWriter

from daemon.access import AccessRules, Credentials, credentials
from daemon.config import DaemonConfig, format_address
from daemon.holds import ACTIONS
from daemon.metrics import CONTENT_TYPE, HttpStats, accepts_gzip
from daemon.page import CSP
from daemon.tls import ServerTls, TlsError
from probes.outcome import local_cause
from probes.text import printable

__all__ = ["Endpoints", "HttpServer", "ListenError"]

logger = logging.getLogger(__name__)
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

MAX_BODY = 1 << 20  # bytes of a request body
IDLE_TIMEOUT = 15.0  # to send a request's head, and between requests on one connection
BODY_TIMEOUT = 10.0  # to send a declared body
HANDSHAKE_TIMEOUT = 10.0  # TLS
CALL_TIMEOUT = 10.0  # for the daemon's loop to carry out a change
TROUBLE_REPEAT = 60.0  # a failing accept is logged again only after this long without one
MAX_REASON = 500  # characters of an operator's reason
# bcrypt of a password nobody has: a wrong user costs what a wrong password does, so
# timing does not tell which users exist (the exporter toolkit does the same).
_DECOY = b"$2b$10$p/K/iYGSQJDXoQoMN0JKiOt25NYZSkF0blAvYiZl4ZpECt4EOdnmG"
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ListenError(Exception):
    """The address cannot be listened on; the message is one sentence naming it."""


class Endpoints(Protocol):
    """What the endpoints ask of the daemon. The plain methods are called from the server's
    thread, but for `local_failure` (the server could not accept a connection for want of
    our own resources); the coroutines are run on the daemon's loop."""

    def metrics(self, gzipped: bool = False) -> Iterator[bytes]: ...
    def health(self) -> tuple[bool, str]: ...
    def ready(self) -> bool: ...
    def status(self) -> dict[str, Any]: ...
    def local_failure(self, code: str, detail: str) -> None: ...
    async def breaker_action(
        self, name: str, action: str, *, reason: str, by: str
    ) -> tuple[int, Any]: ...
    async def silences(self, action: str, **arguments: Any) -> tuple[int, Any]: ...
    async def reload(self, by: str) -> tuple[int, Any]: ...
    async def incidents(self, query: Mapping[str, str], *, csv: bool) -> tuple[int, Any]: ...
    async def report(self, query: Mapping[str, str]) -> tuple[int, Any]: ...
    async def page(self, path: list[str], query: Mapping[str, str]) -> tuple[int, str]: ...


class HttpServer:
    """Binds at once (ListenError, TlsError), serves after `start()`, until `close()`."""

    def __init__(
        self,
        config: DaemonConfig,
        endpoints: Endpoints,
        daemon_loop: asyncio.AbstractEventLoop,
    ) -> None:
        host, port = config.listen
        self._endpoints = endpoints
        self._daemon_loop = daemon_loop
        self._pages = config.status_page != "off"
        self._tls = ServerTls(config.tls) if config.tls is not None else None
        self._scheme = "https" if self._tls else "http"
        self.rules = AccessRules(
            loopback=config.loopback,
            tokens={label: token.reveal() for label, token in config.admin_tokens},
            users=dict(config.basic_auth_users),
            hosts=(*config.allowed_hosts, socket.gethostname().lower()),  # no DNS lookup
        )
        self.stats = HttpStats(config.max_connections)
        self._evicting: set[asyncio.Future[None]] = set()  # closed to make room, still closing
        self._verified: OrderedDict[tuple[str, str, str], bool] = OrderedDict()
        self._sock = _bind(host, port)
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_loop_trouble)
        self._thread = threading.Thread(target=self._loop.run_forever, name="http", daemon=True)
        self._closing = asyncio.Event()
        self._serving: concurrent.futures.Future[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return f"{self._scheme}://{format_address(*self.address)}"

    def start(self) -> None:
        self._thread.start()
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)

    def close(self) -> None:
        """Stop accepting, close every connection (a request in progress gets a second),
        and end the thread."""
        if self._serving is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
            with contextlib.suppress(Exception):
                self._serving.result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._sock.close()
        if not self._thread.is_alive():
            self._loop.close()

    # -- connections ---------------------------------------------------------------------

    async def _serve(self) -> None:
        server = _Server(
            self._handle,
            keepalive_timeout=IDLE_TIMEOUT,
            lingering_time=0,  # a body nobody asked for is never read: the connection closes
            access_log=None,
            logger=_ParserLog(logger, {}),
            handler_cancellation=True,
        )
        self._server = server
        connections: set[asyncio.Task[None]] = set()
        accepting = asyncio.ensure_future(self._accept(server, connections))
        await self._closing.wait()
        accepting.cancel()
        server.pre_shutdown()  # idle connections close now
        await server.shutdown(timeout=1.0)  # a request in progress gets a second
        for task in (accepting, *connections):
            task.cancel()
        await asyncio.gather(accepting, *connections, return_exceptions=True)

    async def _accept(self, server: _Server, connections: set[asyncio.Task[None]]) -> None:
        failed_at = -math.inf
        while True:
            await self._room(server)
            try:
                connection, _ = await self._loop.sock_accept(self._sock)
            except OSError as error:  # EMFILE and friends: say so once, make room, go on
                if self._loop.time() - failed_at > TROUBLE_REPEAT:  # once an episode
                    logger.error("cannot accept connections: %s; retrying every second",
                                 error.strerror)  # fmt: skip
                failed_at = self._loop.time()
                local = local_cause(error)
                if local is not None:
                    self._daemon_loop.call_soon_threadsafe(self._endpoints.local_failure, *local)
                    self._evict(server)  # a descriptor for the next in line
                await asyncio.sleep(1.0)
                continue
            self.stats.open += 1
            task = asyncio.ensure_future(self._connection(server, connection))
            connections.add(task)
            task.add_done_callback(connections.discard)

    async def _room(self, server: _Server) -> None:
        """Return once a connection may be accepted. At the limit, the connection idle the
        longest is closed to make room (one that sends no request cannot hold a place for
        ever); if none is idle yet, wait for one to close or to become idle. A burst taken
        from the listen queue at once is not idle until each is set up, so the waiting is
        for either, not only for a place."""
        while True:
            server.changed.clear()
            if self.stats.open < self.stats.limit:
                return
            if self.stats.open - len(self._evicting) < self.stats.limit or not self._evict(server):
                await server.changed.wait()

    def _evict(self, server: _Server) -> bool:
        closed = server.evict_idle()
        if closed is None:
            return False
        self._evicting.add(closed)
        self.stats.evicted += 1
        return True

    async def _connection(self, server: _Server, connection: socket.socket) -> None:
        closed = self._loop.create_future()
        try:
            context = None
            if self._tls is not None:
                with contextlib.suppress(TlsError):  # keep serving the certificate we have
                    self._tls.refresh()
                context = self._tls.context
            await self._loop.connect_accepted_socket(
                lambda: server.tracked(closed),
                connection,
                ssl=context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if context else None,
            )
            await closed
        except (OSError, TimeoutError) as error:  # a failed handshake, a reset
            logger.debug("a connection ended before its first request: %s", error)
            connection.close()
        finally:
            self.stats.open -= 1
            self._evicting.discard(closed)
            server.changed.set()

    # -- requests ------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        idle = self._server.idle
        idle.pop(request.protocol, None)  # busy: not one to make room with
        try:
            response = await self._admitted(request)
        except Exception:  # a bug of ours: say so, and answer
            logger.exception("the HTTP handler failed on %s %s", request.method, request.path)
            response = _json(500, {"error": "internal error; the daemon's log has the details"})
        finally:
            if request.protocol.transport is not None:
                idle[request.protocol] = self._loop.time()
                self._server.changed.set()
        response.headers.update(_HEADERS)
        return response

    async def _admitted(self, request: web.BaseRequest) -> web.StreamResponse:
        headers = request.headers
        if not self.rules.host_allowed(headers.get("Host")):
            self.stats.refuse("misdirected")
            return web.Response(status=421)  # no body of ours: nothing to read across origins
        declared = request.content_length
        if declared is not None and declared > MAX_BODY:
            self.stats.refuse("too_large")
            return _json(413, {"error": f"a request body is at most {MAX_BODY} bytes"})
        given = credentials(headers.get("Authorization"))
        verdict = self.rules.decide(
            method=request.method,
            given=given,
            token_label=self.rules.token_label(given.token) if given and given.token else None,
            user=await self._user(given),
            content_type=request.content_type if "Content-Type" in headers else "",
            body=request.body_exists,
            origin=headers.get("Origin"),
            fetch_site=headers.get("Sec-Fetch-Site"),
            own_origin=f"{self._scheme}://{headers.get('Host', '')}",
        )
        if not verdict.allowed:
            self.stats.refuse(verdict.reason)
            response = _json(verdict.status, {"error": verdict.message})
            if verdict.status == 401:
                scheme = 'Basic realm="breakerwatch"' if self.rules.users else "Bearer"
                response.headers["WWW-Authenticate"] = scheme
            return response
        return await self._route(request, verdict.who)

    async def _user(self, given: Credentials | None) -> str | None:
        """The user whose password `given` carries, if it is right (bcrypt, off the loop,
        one at a time, each answer remembered: a scrape every 15 s costs one check)."""
        if given is None or not given.user or given.password is None:
            return None
        user, password = given.user, given.password
        hashed = self.rules.users.get(user)
        key = (user, hashed or "", hashlib.sha256(password.encode()).hexdigest())
        if key not in self._verified:
            match = await self._loop.run_in_executor(_BCRYPT, _check, password, hashed)
            self._verified[key] = match and hashed is not None
            if len(self._verified) > 100:
                self._verified.popitem(last=False)
        return user if self._verified[key] else None

    async def _route(self, request: web.BaseRequest, who: str) -> web.StreamResponse:
        method, parts = request.method, request.path.strip("/").split("/")
        read = method in ("GET", "HEAD")
        page = parts == [""] or (len(parts) == 2 and parts[0] == "integrations")
        if page and read and self._pages:
            asked = self._endpoints.page([] if parts == [""] else parts, request.query)
            status, text = await self._call(asked)
            return _html(status, text) if isinstance(text, str) else _json(status, text)
        if parts == ["metrics"] and read:
            gzipped = accepts_gzip(request.headers.get("Accept-Encoding"))
            return _metrics(self._endpoints.metrics(gzipped), gzipped)
        if parts == ["-", "reload"]:
            if method != "POST":
                return _not_allowed("POST")
            return _json(*await self._call(self._endpoints.reload(who)))
        if parts == ["healthz"] and read:
            healthy, text = self._endpoints.health()
            return web.Response(status=200 if healthy else 503, text=text + "\n")
        if parts == ["readyz"] and read:
            ready = self._endpoints.ready()
            text = "ready\n" if ready else "not ready: loading state\n"
            return web.Response(status=200 if ready else 503, text=text)
        if parts == ["api", "v1", "status"] and read:
            return _json(200, self._endpoints.status())
        if parts == ["api", "v1", "silences"] and read:
            return _json(*await self._call(self._endpoints.silences("list")))
        if parts[:2] == ["api", "v1"] and parts[2:] in (["incidents"], ["incidents.csv"]) and read:
            csv = parts[2] == "incidents.csv"
            status, body = await self._call(self._endpoints.incidents(request.query, csv=csv))
            return _csv(body) if status == 200 and csv else _json(status, body)
        if parts == ["api", "v1", "report"] and read:
            return _json(*await self._call(self._endpoints.report(request.query)))
        if parts == ["api", "v1", "silences"] and method == "POST":
            return await self._add_silence(request, who)
        if len(parts) == 4 and parts[:3] == ["api", "v1", "silences"] and method == "DELETE":
            if not parts[3].isdigit() or len(parts[3]) > 18:
                return _json(404, {"error": f"no silence with id {parts[3]!r}"})
            return _json(
                *await self._call(self._endpoints.silences("remove", id=int(parts[3]), by=who))
            )
        if len(parts) == 5 and parts[:3] == ["api", "v1", "integrations"] and parts[4] == "breaker":
            if method == "POST":
                return await self._breaker(request, parts[3], who)
            return _not_allowed("POST")
        known = {"metrics", "healthz", "readyz", "api/v1/status", "api/v1/silences",
                 "api/v1/incidents", "api/v1/incidents.csv", "api/v1/report"}  # fmt: skip
        if "/".join(parts) in known:
            return _not_allowed("GET, HEAD, POST" if parts[-1] == "silences" else "GET, HEAD")
        return _json(404, {"error": "no such endpoint"})

    async def _breaker(self, request: web.BaseRequest, name: str, who: str) -> web.StreamResponse:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        action, reason = body.get("action"), _reason(body.get("reason"))
        if action not in ACTIONS:
            return _json(400, {"error": f"action must be one of {', '.join(ACTIONS)}"})
        if reason is None and action != "reset":
            return _json(
                400,
                {"error": f"{action} needs a reason (a string, {MAX_REASON} characters at most)"},
            )
        coroutine = self._endpoints.breaker_action(name, action, reason=reason or "", by=who)
        return _json(*await self._call(coroutine))

    async def _add_silence(self, request: web.BaseRequest, who: str) -> web.StreamResponse:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        integration, reason = body.get("integration"), _reason(body.get("reason"))
        if not isinstance(integration, str) or reason is None or "duration" not in body:
            return _json(
                400, {"error": 'send {"integration": NAME, "duration": "2h", "reason": TEXT}'}
            )
        coroutine = self._endpoints.silences(
            "add", integration=integration, duration=body["duration"], reason=reason, by=who
        )
        return _json(*await self._call(coroutine))

    async def _call(self, work: Coroutine[Any, Any, tuple[int, Any]]) -> tuple[int, Any]:
        """Run `work` on the daemon's loop; 503 if that loop does not get to it in time."""
        done = asyncio.run_coroutine_threadsafe(work, self._daemon_loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(done), CALL_TIMEOUT)
        except TimeoutError:
            done.cancel()
            return 503, {"error": "the daemon is too busy to do that now; try again"}


class _Server(web.Server):
    """aiohttp's low-level server, telling each connection's task when it closes, and
    knowing which connections sit idle (connected, between requests) since when."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._closed: dict[web.RequestHandler, asyncio.Future[None]] = {}
        self.idle: dict[web.RequestHandler, float] = {}
        self.changed = asyncio.Event()  # a connection closed or became idle

    def tracked(self, closed: asyncio.Future[None]) -> web.RequestHandler:
        handler = self()
        self._closed[handler] = closed
        return handler

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.idle[handler] = self._loop.time()
        self.changed.set()

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        super().connection_lost(handler, exc)
        self.idle.pop(handler, None)
        closed = self._closed.pop(handler, None)
        if closed is not None and not closed.done():
            closed.set_result(None)

    def evict_idle(self) -> asyncio.Future[None] | None:
        """Close the connection idle the longest, if one is; the future its closing sets."""
        if not self.idle:
            return None
        handler = min(self.idle, key=self.idle.__getitem__)
        del self.idle[handler]
        handler.force_close()
        return self._closed.get(handler)


class _ParserLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp logs a malformed request with its traceback, at debug or error level; one
    debug line is enough (a port scanner or a TLS client on the plain port is not news)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.pop("exc_info", None)
        said = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else ""
        self.logger.debug("malformed request refused: %s", said or (str(msg) % args))


_BCRYPT = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bcrypt")  # one at a time


def _check(password: str, hashed: str | None) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode() if hashed else _DECOY)
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise ListenError(f"cannot listen on {format_address(host, port)}: {reason}") from None
    return sock


async def _body(request: web.BaseRequest) -> dict[str, Any] | web.Response:
    """The JSON object in the body (within `MAX_BODY` and `BODY_TIMEOUT`), or the answer."""
    try:
        raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except web.HTTPRequestEntityTooLarge:
        return _json(413, {"error": f"a request body is at most {MAX_BODY} bytes"})
    except TimeoutError:
        return _json(408, {"error": f"the body did not arrive within {BODY_TIMEOUT:g}s"})
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return _json(400, {"error": "the body is not JSON"})
    if not isinstance(body, dict):
        return _json(400, {"error": "the body must be a JSON object"})
    return body


def _reason(value: object) -> str | None:
    """An operator's reason, if it is one: a string of reasonable length with words in
    it, kept on one line without control characters (it goes to logs and Slack)."""
    if not isinstance(value, str) or len(value) > MAX_REASON:
        return None
    return printable(value).strip() or None


def _metrics(pieces: Iterator[bytes], gzipped: bool) -> web.Response:
    """The exposition, gzipped at level 1 when the scraper accepts it (Prometheus does: at
    10,000 integrations, 29 MB becomes about 1.3 MB)."""
    headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=_Pieces(pieces), headers=headers)


class _Pieces(payload.Payload):
    """A body made while it is sent, piece by piece (chunked: its length is not known
    before the last piece). A failure part way is logged, and the connection is cut
    without the last chunk, so no client takes a part for the whole."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        super().__init__(pieces, content_type=CONTENT_TYPE)

    async def write(self, writer: AbstractStreamWriter) -> None:
        while True:
            try:
                piece = next(self._value, None)
            except Exception:  # ours, not the client's: a hang-up is raised by the write
                logger.exception("making the /metrics page failed part way; scrape cut off")
                raise
            if piece is None:
                return
            await writer.write(piece)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._value).decode(encoding, errors)


def _json(status: int, payload: object) -> web.Response:
    body = json.dumps(payload, indent=1).encode() + b"\n"
    return web.Response(status=status, body=body, content_type="application/json")


def _html(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text, content_type="text/html", charset="utf-8")
    response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer"})  # fmt: skip
    return response


def _csv(text: str) -> web.Response:
    response = web.Response(text=text, content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="breakerwatch-incidents.csv"'
    return response


def _not_allowed(allow: str) -> web.Response:
    response = _json(405, {"error": f"method not allowed here (allowed: {allow})"})
    response.headers["Allow"] = allow
    return response


def _loop_trouble(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The server loop's unhandled errors: one line, never a traceback."""
    error = context.get("exception")
    said = f": {type(error).__name__}: {error}" if error is not None else ""
    logger.warning("HTTP server: %s%s", context.get("message", "trouble"), said)
