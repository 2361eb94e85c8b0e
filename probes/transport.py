"""httpx's transport seam, over aiohttp: the same httpx API, a fraction of the CPU.

Measured with a new connection per probe (what a probe every 30 s makes), the daemon spends
about 1.0 ms of CPU per probe over this transport and 1.8 ms over httpx's default one
(httpcore over anyio); see docs/benchmarks.md. `ResilientClient` uses this transport unless
given another.

What it keeps of httpx's contract: exceptions are httpx's, mapped exactly (a reset is a
`ReadError`, a server that hangs up a `RemoteProtocolError`, an unverifiable certificate a
`ConnectError` that says why, each timeout its own class), so the classifier's reasons
stay right; the response body streams raw, and httpx decodes it; the TLS socket is
reachable as `response.extensions["network_stream"].get_extra_info(...)`; a `trace`
extension receives the connection's events (see `EVENTS`); a `fresh` extension (True)
sends the request on a new connection of its own, closed after it.

Requests go through the proxy `proxies` chooses (by default the environment's, as httpx's
own transports do; see probes.proxy); a request's `proxy` extension overrides it: a proxy
URL, or False for a direct connection. A proxy that cannot be reached or refuses us (a
CONNECT answered with 407, say) raises `ProxyUnusable`, our own trouble; one that could not
reach the vendor (a 5xx answer to CONNECT) an `httpx.ProxyError`.

One transport, and so one connection pool, may serve many clients: pass
`close_with_client=False` and call `close()` yourself. Idle connections are closed after
`keepalive` seconds by aiohttp itself, so a pool serving thousands of rarely probed
integrations does not sit on thousands of idle sockets.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

from probes.outcome import ProxyUnusable
from probes.proxy import Proxies

__all__ = ["EVENTS", "AiohttpTransport"]

# The `trace` extension's events, as (started, complete) pairs per phase.
EVENTS = {
    "connect": ("connect.started", "connect.complete"),  # TCP, and TLS if any
    "wait": ("response_headers.started", "response_headers.complete"),  # until the status line
    "body": ("response_body.started", "response_body.complete"),
}

_Trace = Callable[[str, dict[str, Any]], Awaitable[None]]

# aiohttp exception -> httpx exception, most specific first.
_EXCEPTIONS: tuple[tuple[type[BaseException], type[httpx.HTTPError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS verification
    (aiohttp.ClientSSLError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # a body cut short
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # an answer that is not HTTP
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),  # a reset, or another socket error
    (aiohttp.ClientError, httpx.NetworkError),
)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientHttpProxyError as error:
        # Not chained: aiohttp's own text shows the proxy URL, password and all.
        said = f"the proxy answered the tunnel request with {error.status} {error.message}"
        if error.status >= 500:  # the proxy could not reach the vendor
            raise httpx.ProxyError(said) from None
        raise ProxyUnusable(said) from None
    except aiohttp.ClientProxyConnectionError as error:
        where = f"{error.host}:{error.port}"
        raise ProxyUnusable(f"cannot connect to the proxy {where}: {error.os_error}") from error
    except aiohttp.ClientError as error:
        for source, target in _EXCEPTIONS:
            if isinstance(error, source):
                raise target(str(error) or type(error).__name__) from error
        raise  # pragma: no cover - the last row catches every ClientError


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` that sends requests with one aiohttp session."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        keepalive: float = 5.0,
        close_with_client: bool = True,
        proxies: Proxies | None = None,
    ) -> None:
        self.proxies = Proxies.from_environ(os.environ) if proxies is None else proxies
        if verify is True:
            verify = ssl.create_default_context()
        self._ssl: ssl.SSLContext | bool = verify
        self._certificates: dict[str, Any] = {}  # server name -> the certificate it showed
        if isinstance(verify, ssl.SSLContext):
            _record_certificates(verify, self._certificates)
        self._keepalive = keepalive
        self._close_with_client = close_with_client
        self._connectors: dict[bool, aiohttp.TCPConnector] = {}  # fresh? -> its pool
        self._sessions: dict[tuple[bool, bool], aiohttp.ClientSession] = {}  # (fresh, traced)

    def _open(self, trace: _Trace | None, fresh: bool) -> aiohttp.ClientSession:
        """The session for a request. A `fresh` one opens a new connection for each request
        (its own DNS lookup, TCP and TLS handshake), closed after it; else connections are
        kept and reused. A `trace` needs a session that reports the connection's events;
        others get one that does not (aiohttp builds a trace's objects for every request of
        a session that has one: 4% of a probe's CPU)."""
        key = (fresh, trace is not None)
        session = self._sessions.get(key)
        if session is None or session.closed:  # made on first use: aiohttp wants a loop
            connector = self._connectors.get(fresh)
            if connector is None or connector.closed:
                keep = {"force_close": True} if fresh else {"keepalive_timeout": self._keepalive}
                connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl, **keep)
                self._connectors[fresh] = connector
            tracing = []
            if trace is not None:
                tracing.append(aiohttp.TraceConfig())
                tracing[0].on_connection_create_start.append(_emit("connect.started"))
                tracing[0].on_connection_create_end.append(_emit("connect.complete"))
                tracing[0].on_request_headers_sent.append(_emit("response_headers.started"))
                tracing[0].on_request_end.append(_emit("response_headers.complete"))
            session = self._sessions[key] = self._new_session(connector, tracing)
        return session

    @staticmethod
    def _new_session(
        connector: aiohttp.BaseConnector, tracing: list[aiohttp.TraceConfig]
    ) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,  # the transport closes its pools itself
            trace_configs=tracing,
            auto_decompress=False,  # httpx decodes, as with its own transports
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        )
        # aiohttp retries an idempotent request once after a reset, silently: retries
        # are ours to make, count and gate on the breaker. No public switch exists;
        # aiohttp's own test utilities set this one (a test fails if it goes away).
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        trace: _Trace | None = request.extensions.get("trace")
        session = self._open(trace, bool(request.extensions.get("fresh")))
        body = await request.aread()
        chosen = request.extensions.get("proxy")  # an integration's own, if any
        if chosen is not None or self.proxies.by_scheme:  # else no proxy: nothing to decide
            chosen = self.proxies.route(str(request.url), chosen).proxy
        with _mapped():
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=CIMultiDict(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
                trace_request_ctx=SimpleNamespace(trace=trace) if trace is not None else None,
                proxy=chosen,
            )
        if chosen and response.status == 407:  # only a proxy asks for its own credentials
            response.release()
            raise ProxyUnusable("the proxy answered 407 Proxy Authentication Required")
        return httpx.Response(
            response.status,
            headers=[(k, v) for k, v in response.raw_headers],
            stream=_Body(response, trace),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1"),
                "network_stream": _Stream(self._certificates.get(response.url.host or "")),
            },
        )

    async def aclose(self) -> None:
        if self._close_with_client:
            await self.close()

    async def close(self) -> None:
        """Close the pool (for a transport shared with `close_with_client=False`)."""
        for session in self._sessions.values():
            await session.close()
        for connector in self._connectors.values():
            await connector.close()


def _emit(event: str) -> Callable[..., Awaitable[None]]:
    async def handler(session: Any, context: SimpleNamespace, params: Any) -> None:
        trace = getattr(context.trace_request_ctx, "trace", None)
        if trace is not None:
            await trace(event, {})

    return handler


def _record_certificates(context: ssl.SSLContext, seen: dict[str, Any]) -> None:
    """Have every TLS handshake made with `context` record the server's certificate.

    aiohttp hands a small response's connection back to its pool before the caller sees
    the response, so the socket cannot be asked afterwards; `sslobject_class` is the
    documented hook for the objects asyncio's TLS uses, and sees every handshake.
    """
    base = context.sslobject_class

    class Recording(base):  # type: ignore[valid-type,misc]
        def do_handshake(self) -> None:
            super().do_handshake()
            if self.server_hostname:
                seen[self.server_hostname] = self.getpeercert()

    if base.__name__ != "Recording":
        context.sslobject_class = Recording


class _Stream:
    """Enough of httpcore's network stream for `get_extra_info("ssl_object").getpeercert()`."""

    def __init__(self, certificate: Any) -> None:
        self._certificate = certificate

    def get_extra_info(self, name: str) -> Any:
        if name == "ssl_object" and self._certificate is not None:
            return SimpleNamespace(getpeercert=lambda: self._certificate)
        return None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, trace: _Trace | None) -> None:
        self._response = response
        self._trace = trace
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._trace is not None:
            await self._trace("response_body.started", {})
        with _mapped():
            async for chunk in self._response.content.iter_any():
                yield chunk
        self._complete = True
        if self._trace is not None:
            await self._trace("response_body.complete", {})

    async def aclose(self) -> None:
        if self._complete:
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # a body not read to the end: the connection cannot be reused
