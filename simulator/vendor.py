"""What every simulated vendor shares: the fault plan, the request log, limits and routing.

A vendor fake subclasses `VendorFake` and supplies its routes, how it reads a credential,
and its own answers to a refused credential, throttling and server errors, following
docs/integrations.md. The base applies the current fault before the healthy path.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from simulator.faults import Fault, FaultError, FaultPlan, LatencyPlan, Malformed, Mode
from simulator.oauth import OAuthFake
from simulator.wire import SimRequest, SimResponse

__all__ = [
    "Limit",
    "RateWindow",
    "VendorFake",
    "basic_password",
    "bearer",
    "html_page",
    "iso8601",
    "limit_from",
]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limit:
    requests: int
    window: float  # seconds


def limit_from(settings: dict[str, Any], current: Limit, allowed: set[str]) -> Limit:
    """`current` with `requests` and `window` replaced from admin settings, validated."""
    unknown = set(settings) - allowed
    if unknown:
        raise FaultError(f"unknown limit {sorted(unknown)[0]!r}; expected {sorted(allowed)}")
    requests = settings.get("requests", current.requests)
    window = settings.get("window", current.window)
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise FaultError(f"requests must be a whole number >= 1 (got {requests!r})")
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise FaultError(f"window must be a number of seconds > 0 (got {window!r})")
    return Limit(requests, float(window))


class RateWindow:
    """At most `limit.requests` per key in any `limit.window` seconds (a sliding log)."""

    def __init__(self, limit: Limit, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining after it, seconds until a slot frees)."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            allowed = len(hits) < self.limit.requests
            if allowed:
                hits.append(now)
            reset = hits[0] + self.limit.window - now if hits else self.limit.window
            return allowed, max(0, self.limit.requests - len(hits)), reset

    def remaining(self, key: str) -> int:
        with self._lock:
            return max(0, self.limit.requests - len(self._recent(key, self._clock())))

    def reset_in(self, key: str) -> float:
        """Seconds until the oldest counted request leaves the window."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            return hits[0] + self.limit.window - now if hits else 0.0

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.limit.window:
            hits.popleft()
        return hits


def html_page(status: int, title: str) -> bytes:
    """The kind of HTML error page a CDN edge or WAF sends instead of the API's JSON."""
    return (
        f"<!DOCTYPE html><html><head><title>{status} {title}</title></head>"
        f"<body><h1>{title}</h1><p>Please try again later.</p></body></html>"
    ).encode()


def html_error(status: int, title: str = "Error", content_type: str = "text/html") -> SimResponse:
    """An error answered with an HTML page (an edge's, a WAF's), not the API's JSON."""
    return SimResponse(status, html_page(status, title), [("Content-Type", content_type)])


class VendorFake:
    """A simulated vendor API. Subclasses set `name`, `routes` and the vendor's answers."""

    name: ClassVar[str]
    title: ClassVar[str]  # for people: "Kit (ConvertKit) v4"
    # The scopes a credential may hold, all granted until the admin API's `scopes` narrows
    # them; empty for a vendor whose credentials have no scopes (they may do everything).
    all_scopes: ClassVar[tuple[str, ...]] = ()
    # The scopes each endpoint (by method name) needs; without them the vendor's 403.
    needs: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Where the vendor's OAuth token endpoint answers (`oauth`), if it has one.
    token_paths: ClassVar[tuple[str, ...]] = ()
    # The endpoints (by method name) that write: the admin API's `writes` fails them alone.
    write_endpoints: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, credentials: Iterable[str], *, clock: Clock, wall: Clock) -> None:
        self.credentials = set(credentials)
        self.granted = set(self.all_scopes)
        self.latency = LatencyPlan(clock)
        self.oauth: OAuthFake | None = None  # set by a vendor that takes OAuth tokens
        self.plan = FaultPlan()
        self.writes = FaultPlan()  # what the writes do, reads answering as `plan` says
        self.requests: deque[dict[str, Any]] = deque(maxlen=1000)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()

    # -- what subclasses provide ---------------------------------------------------------

    routes: ClassVar[tuple[tuple[str, str, str], ...]] = ()  # (method, path regex, method name)

    def credential(self, request: SimRequest) -> str | None:
        """The credential the request presents, or None."""
        raise NotImplementedError

    def unauthorized(self) -> SimResponse:
        """The vendor's exact answer to a refused credential."""
        raise NotImplementedError

    def refuse(self, request: SimRequest, credential: str | None) -> SimResponse | None:
        """The answer to a missing or unknown credential, or None to let the request in."""
        if credential in self.credentials or self.admits(credential):
            return None
        return self.unauthorized()

    def admits(self, token: str | None) -> bool:
        """Whether `token` is an OAuth access token of ours, not yet expired."""
        return self.oauth is not None and self.oauth.admits(token)

    def throttled(self, credential: str | None) -> SimResponse:
        """The vendor's 429 (with its own headers, or none)."""
        raise NotImplementedError

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        """The vendor's 5xx, its own error body saying `message` if given."""
        raise NotImplementedError

    def not_found(self) -> SimResponse:
        raise NotImplementedError

    def admit(self, request: SimRequest, credential: str) -> SimResponse | None:
        """Rate limits: the vendor's 429 when over a limit, else None."""
        return None

    def decorate(self, response: SimResponse, credential: str | None) -> SimResponse:
        """Headers the vendor adds to every answer (rate-limit headroom)."""
        return response

    def reset_state(self) -> None:
        """Forget stored records (subscribers, contacts, jobs)."""

    def set_limits(self, settings: dict[str, Any]) -> None:
        """Adjust the vendor's rate limits (the admin API's `limits`)."""
        raise FaultError(f"{self.name} has no adjustable limits")

    def missing_scopes(self, needed: Iterable[str]) -> SimResponse:
        """The vendor's 403 for a credential that lacks `needed` scopes."""
        raise NotImplementedError

    def set_scopes(self, settings: object) -> None:
        """{"scopes": [...]}: what every credential holds from now on (the admin API's `scopes`)."""
        if not self.all_scopes:
            raise FaultError(f"{self.name} credentials have no scopes: they may do everything")
        scopes = settings.get("scopes") if isinstance(settings, dict) else None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise FaultError("scopes must be a list of scope names")
        self.granted = set(scopes)

    # -- the request path ----------------------------------------------------------------

    async def handle(self, request: SimRequest) -> SimResponse:
        self._log(request)
        fault = self.plan.next()
        mode = fault.mode
        if mode is Mode.RESET:
            return SimResponse(0, reset=True)
        credential = self.credential(request)
        if mode is Mode.ERROR:
            message = fault.message
            if message is not None:
                message = message.replace("{credential}", credential or "")
            return self.decorate(self.server_error(fault.status, fault.html, message), credential)
        if mode is Mode.UNAVAILABLE:
            response = self.server_error(503, fault.html)
            response.headers.append(("Retry-After", str(fault.retry_after or 30)))
            return self.decorate(response, credential)
        if mode is Mode.THROTTLED:
            response = self.throttled(credential)
            if fault.retry_after is not None:
                response.headers.append(("Retry-After", str(fault.retry_after)))
            return response
        if mode is Mode.UNAUTHORIZED:
            return self.unauthorized()
        if mode is Mode.SLOW:
            await asyncio.sleep(fault.delay_ms / 1000)
        delay = self.latency.next()
        if delay:
            await asyncio.sleep(delay)
        response = await self.serve(request, credential)
        return _degrade(response, fault)

    async def serve(self, request: SimRequest, credential: str | None) -> SimResponse:
        """The healthy path: authenticate, apply limits, route (the token endpoint first:
        it authenticates the app itself)."""
        if self.oauth is not None and (request.method, request.path) in (
            ("POST", path) for path in self.token_paths
        ):
            return self.oauth.token(request)
        refused = self.refuse(request, credential)
        if refused is not None:
            return refused
        over = self.admit(request, credential or "")  # "": an endpoint without credentials
        if over is not None:
            return over
        return self.decorate(self.route(request), credential)

    def route(self, request: SimRequest) -> SimResponse:
        for method, pattern, name in self.routes:
            match = re.fullmatch(pattern, request.path)
            if match and method == request.method:
                lacking = [scope for scope in self.needs.get(name, ()) if scope not in self.granted]
                if lacking:
                    return self.missing_scopes(lacking)
                if name in self.write_endpoints:
                    fault = self.writes.next()
                    if fault.mode in (Mode.ERROR, Mode.UNAVAILABLE):
                        status = 503 if fault.mode is Mode.UNAVAILABLE else fault.status
                        return self.server_error(status, fault.html, fault.message)
                endpoint: Callable[[SimRequest, re.Match[str]], SimResponse]
                endpoint = getattr(self, name)
                with self._lock:
                    return endpoint(request, match)
        return self.not_found()

    # -- helpers -------------------------------------------------------------------------

    def _log(self, request: SimRequest) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers,
                "body": request.body.decode("utf-8", "replace"),
                "at": self._wall(),
            }
        )

    def describe(self) -> dict[str, Any]:
        scopes = {"scopes": sorted(self.granted)} if self.all_scopes else {}
        return {"title": self.title, **self.plan.describe(), "requests": len(self.requests),
                "latency": self.latency.describe(), **scopes}  # fmt: skip


def bearer(request: SimRequest) -> str | None:
    """The token of an `Authorization: Bearer` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def basic_password(request: SimRequest) -> str | None:
    """The password of an `Authorization: Basic` header (any username)."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:
        return None
    _, sep, password = decoded.partition(":")
    return password or None if sep else None


def iso8601(epoch: float) -> str:
    """A UTC timestamp as vendors write them: 2023-02-17T11:43:55Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _degrade(response: SimResponse, fault: Fault) -> SimResponse:
    """Apply the body-level faults to a healthy answer."""
    if fault.mode is Mode.DRIP:
        response.drip = fault.delay_ms / 1000
    elif fault.mode is Mode.RESET_MID_BODY:
        response.reset_after = len(response.body) // 2
    elif fault.mode is Mode.MALFORMED:
        response.status = 200
        if fault.body is Malformed.TRUNCATED:
            response.body = response.body[: max(1, len(response.body) // 2)] or b"{"
        elif fault.body is Malformed.HTML:
            response.body = html_page(200, "Welcome")
        else:
            response.body = b""
    return response
