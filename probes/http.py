"""`ResilientClient`: one long-lived httpx client per integration, behind a breaker and retries.

Every request goes: breaker admission (once per call) → retry loop (the breaker is
re-checked before every retry) → one attempt, bounded in total time and in body size →
the classifier. The breaker records one outcome per call, after its retries: the failure
threshold counts failed probes, not attempts (per call is what an operator counting
"failed probes" expects; docs/resilience.md, "One outcome per call").

Secrets (the values of sensitive headers, and any passed in `secrets`) are redacted from
every outcome detail, log line and exception this module produces. Hooks receive each
attempt's outcome and latency; metrics attach there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal, Protocol

import httpx

from probes.breaker import Breaker, BreakerOpen, Clock
from probes.oauth import RefreshingToken
from probes.outcome import Kind, Outcome, ResponseTooLarge, classify
from probes.redact import Redactor, redact_records
from probes.retry import Retrier, RetryBudget, RetryPolicy, Stop
from probes.text import clip, printable
from probes.transport import AiohttpTransport

__all__ = [
    "AttemptEvent",
    "Classifier",
    "RequestFailed",
    "ResilientClient",
    "Result",
    "Trace",
    "new_client",
]

logger = logging.getLogger(__name__)

MAX_DETAIL = 400  # characters of an outcome's detail, after redaction
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_LEASE_GRACE = 1.0
_URLS_KEPT = 16  # parsed URLs a client keeps: its health check's, and a few more
_CANCELLED = Outcome(Kind.IGNORED, detail="cancelled")


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing. Probes keep no cookies: a cookie from one integration's
    vendor must never ride along on another's request (two accounts on one host), and a jar
    would only grow. Not reading them at all saves httpx's per-response cookie parsing, 7% of
    a probe's CPU (docs/benchmarks.md, "Where a probe's CPU goes")."""

    def __init__(self) -> None:
        super().__init__(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.AsyncClient):
    """httpx's client, with the jar that keeps nothing."""

    _jar = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("probes keep no cookies")


def new_client(transport: httpx.AsyncBaseTransport, timeout: float = 5.0) -> httpx.AsyncClient:
    """An httpx client as `ResilientClient` wants one: no cookies kept, nothing else set
    (`timeout`, httpx's default, applies where a request does not set its own)."""
    return _Client(transport=transport, timeout=timeout)


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    """One attempt, as reported to hooks. `attempt` counts from 1; >1 means a retry."""

    integration: str
    attempt: int
    outcome: Outcome
    duration: float
    response: httpx.Response | None


Hook = Callable[[AttemptEvent], object]
# httpx's "trace" extension: awaited with (event name, info) as a request progresses;
# `probes.transport.EVENTS` lists the events of the default transport.
Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


class Classifier(Protocol):
    """The signature of `probes.classify`; adapters refine it with vendor knowledge."""

    def __call__(
        self, observed: httpx.Response | BaseException, *, now: float, ok_status: Container[int]
    ) -> Outcome: ...


class RequestFailed(Exception):
    """Raised by `Result.raise_for_outcome` when the call did not succeed."""

    def __init__(self, integration: str, outcome: Outcome) -> None:
        self.integration = integration
        self.outcome = outcome
        super().__init__(f"{integration}: {outcome.detail or outcome.kind}")


@dataclass(frozen=True, slots=True)
class Result:
    """A whole call: its final outcome, the last response (if any) and how it went.

    `duration` is the call's total time, retries and waits included; `stop` says why the
    retry loop ended; `rejection` is set when the breaker refused the call.
    """

    integration: str
    outcome: Outcome
    response: httpx.Response | None
    attempts: int
    duration: float
    stop: Stop
    rejection: BreakerOpen | None = None

    def raise_for_outcome(self) -> httpx.Response:
        """The response if the call succeeded; else raise `BreakerOpen` or `RequestFailed`."""
        if self.rejection is not None:
            raise self.rejection
        if self.outcome.ok and self.response is not None:
            return self.response
        raise RequestFailed(self.integration, self.outcome)


@dataclass(frozen=True, slots=True)
class _Attempt:
    number: int
    outcome: Outcome
    response: httpx.Response | None


class ResilientClient:
    """An `httpx.AsyncClient` for one integration, with its breaker, retries and redaction.

    Args:
        name: the integration's name (appears in events and errors).
        base_url, headers: as for httpx; sensitive header values become secrets.
        timeout: per-attempt limit in seconds, on each phase and on the attempt in total.
        deadline: per-call time budget in seconds, retries and waits included.
        breaker, retry, budget: the resilience pieces; a default breaker is built if absent.
        secrets: further values to redact wherever text leaves this client.
        max_response_bytes: a longer (decoded) body fails the attempt as `invalid_response`.
        hooks: called with an `AttemptEvent` after each attempt.
        classify: turns a response or exception into an `Outcome` (default
            `probes.classify`); vendor adapters pass a refined one.
        transport: the httpx transport; by default an `AiohttpTransport` (probes.transport)
            of its own, with `verify` (a shared `ssl.SSLContext` saves building one per
            client); many clients may share one transport.
        http: an httpx client (from `new_client`) to send through instead of one of its
            own, shared with other ResilientClients and not closed by this one.
        follow_redirects: as for httpx.
        proxy: a proxy URL for every request, or False to connect directly; None (the
            default) leaves the choice to the transport (`AiohttpTransport` follows the
            environment's HTTP_PROXY, HTTPS_PROXY and NO_PROXY, see probes.proxy).
        auth: OAuth access tokens that refresh themselves (probes.oauth), sent as the
            Bearer token of every request; each token it learns is redacted too.
        fresh_every: the first request, one at most this many seconds after the last,
            and every one after a failure until one succeeds, goes on a new connection of
            its own (DNS, TCP and TLS again), so a change that only new connections meet is
            seen and pooled successes cannot hide it; 0 for every request; None (the
            default) leaves it to the transport's pool.
        clock, wall, sleep, random: injected time and randomness, for tests.
    """

    __slots__ = (
        "_auth", "_classify", "_client", "_clock", "_follow_redirects", "_fresh_due",
        "_fresh_every", "_headers", "_hooks", "_owns_client", "_prefix", "_redact", "_retrier",
        "_urls", "_wall", "breaker", "deadline", "max_response_bytes", "name", "proxy", "timeout"
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        deadline: float = 30.0,
        breaker: Breaker | None = None,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        secrets: Iterable[str] = (),
        max_response_bytes: int = 1 << 20,
        hooks: Sequence[Hook] = (),
        classify: Classifier = classify,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | bool = True,
        follow_redirects: bool = False,
        proxy: str | Literal[False] | None = None,
        auth: RefreshingToken | None = None,
        fresh_every: float | None = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.breaker = breaker or Breaker(name, clock=clock, wall=wall, random=random)
        self.timeout = timeout
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._redact = Redactor(secrets, headers)
        redact_records("httpx", self._redact)  # httpx logs every request's full URL
        redact_records(__name__, self._redact)  # and ours, tracebacks included
        self._hooks = tuple(hooks)
        self._classify = classify
        self._clock = clock
        self._wall = wall
        self._retrier = Retrier(retry, budget, clock=clock, sleep=sleep, random=random)
        # The base URL and headers are applied per request, so one httpx client (and its
        # pool) can serve thousands of integrations: pass it as `http`.
        self._prefix = base_url.rstrip("/")
        self._urls: dict[str, httpx.URL] = {}
        self._headers = dict(headers or {})
        self._follow_redirects = follow_redirects
        self.proxy = proxy
        self._fresh_every = fresh_every
        self._fresh_due = -math.inf  # the first request opens its own connection
        self._owns_client = http is None
        self._client = http or new_client(transport or AiohttpTransport(verify=verify))
        self._auth = auth
        if auth is not None:  # its tokens go through our client, and are redacted by us
            auth.bind(self._client, self._redact.learn)

    def __repr__(self) -> str:
        return f"<ResilientClient {self.name!r} breaker={self.breaker.state}>"

    async def __aenter__(self) -> ResilientClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def redact(self, text: str) -> str:
        """`text` with this client's secrets removed."""
        return self._redact(text)

    @property
    def headers(self) -> dict[str, str]:
        """The headers sent with every request, secrets redacted (for display)."""
        merged = httpx.Headers(self._client.headers)
        merged.update(self._headers)  # case-insensitively, as every request gets them
        return {name: self._redact(value) for name, value in merged.items()}

    async def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
        retry: bool = True,
        ok_status: Container[int] = range(200, 300),
        validate: Callable[[httpx.Response], object] | None = None,
        **kwargs: Any,
    ) -> Result:
        """Send one request through the breaker and retries; a failed call does not raise.

        `timeout` and `deadline` override the client's for this call. `retry=False` makes
        a single attempt (for calls that are not idempotent). `ok_status` is what counts
        as success; `validate(response)` may raise `ProbeAssertionFailed` or
        `InvalidResponse` to fail a response whose status was fine. Other keyword
        arguments go to `httpx.AsyncClient.build_request` (json, params, content, headers).
        Cancellation propagates, after the breaker's permit is handed back.
        """
        start = self._clock()
        budget = self.deadline if deadline is None else deadline
        try:
            permit = self.breaker.acquire(lease=budget + _LEASE_GRACE)
        except BreakerOpen as rejection:
            outcome = Outcome(
                Kind.REJECTED,
                retry_after=rejection.retry_after,
                error="BreakerOpen",
                detail=self._redact(str(rejection)),
            )
            return Result(self.name, outcome, None, 0, 0.0, Stop.REJECTED, rejection)

        per_attempt = self.timeout if timeout is None else timeout

        async def attempt(number: int, remaining: float) -> _Attempt:
            timeout = min(per_attempt, remaining)
            return await self._attempt(method, url, number, timeout, ok_status, validate, kwargs)

        try:
            if retry:
                final, stop = await self._retrier.run(
                    attempt,
                    deadline=start + budget,
                    proceed=lambda: self.breaker.allows_retry(permit),
                )
            else:
                final, stop = await attempt(1, budget), Stop.DONE
        except BaseException:
            self.breaker.record(permit, _CANCELLED)
            raise
        duration = self._clock() - start
        self.breaker.record(permit, final.outcome, duration)
        return Result(self.name, final.outcome, final.response, final.number, duration, stop)

    async def _attempt(
        self,
        method: str,
        url: str,
        number: int,
        timeout: float,
        ok_status: Container[int],
        validate: Callable[[httpx.Response], object] | None,
        kwargs: Mapping[str, Any],
    ) -> _Attempt:
        started = self._clock()
        response: httpx.Response | None = None
        try:
            if timeout <= 0:
                raise TimeoutError("no time was left before the call's deadline")
            target = self._url(url)
            options = dict(kwargs)
            headers = {**self._headers, **options.pop("headers", {})}
            if self.proxy is not None:
                options["extensions"] = {**options.get("extensions", {}), "proxy": self.proxy}
            if self._fresh_every is not None and started >= self._fresh_due:
                options["extensions"] = {**options.get("extensions", {}), "fresh": True}
                self._fresh_due = started + self._fresh_every
            request = self._client.build_request(
                method, target, headers=headers, timeout=timeout, **options
            )
            awaiting = "a response"
            try:
                # httpx times each phase; this bounds the whole attempt, drip-fed bodies too.
                async with asyncio.timeout(timeout):
                    streamed = await self._client.send(
                        request, stream=True, follow_redirects=self._follow_redirects,
                        **({"auth": self._auth} if self._auth is not None else {}),
                    )  # fmt: skip
                    awaiting = "the whole body"
                    response = await self._read(request, streamed)
            except TimeoutError:
                raise TimeoutError(f"{awaiting} did not arrive within {timeout:g}s") from None
            outcome = self._classify(response, now=self._wall(), ok_status=ok_status)
            if outcome.ok and validate is not None:
                validate(response)
        except Exception as error:
            outcome = self._classify(error, now=self._wall(), ok_status=ok_status)
            if outcome.kind is Kind.IGNORED:
                logger.error(
                    "%s: internal error during a request; not counted against the vendor",
                    self.name,
                    exc_info=True,
                )
        if not outcome.ok:  # until one succeeds, every request opens its own connection,
            self._fresh_due = -math.inf  # so pooled ones cannot hide what new ones meet
        if outcome.detail:  # redacted first, then cut: a secret is never left half there
            detail = printable(self._redact(outcome.detail))
            outcome = replace(outcome, detail=clip(detail, MAX_DETAIL))
        duration = self._clock() - started
        logger.debug(
            "%s: %s %s attempt %d: %s %s in %.0f ms",
            self.name,
            method,
            self._redact(url.split("?", 1)[0]),
            number,
            outcome.kind,
            outcome.reason or outcome.status or "",
            duration * 1000,
        )
        event = AttemptEvent(self.name, number, outcome, duration, response)
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("%s: an attempt hook failed", self.name)
        return _Attempt(number, outcome, response)

    def _url(self, url: str) -> httpx.URL:
        """`url` (absolute, or a path under `base_url`) parsed, from a small cache: parsing
        a URL is a third of httpx's work to build a request."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URLS_KEPT:
                self._urls.clear()
            target = url if "://" in url else f"{self._prefix}/{url.lstrip('/')}"
            parsed = self._urls[url] = httpx.URL(target)
        return parsed

    async def _read(self, request: httpx.Request, streamed: httpx.Response) -> httpx.Response:
        """Read the body, stopping at `max_response_bytes` of decoded content.

        The returned response keeps `elapsed`, and for TLS the server's certificate (as
        `ssl.SSLSocket.getpeercert()` gives it) in `extensions["peer_certificate"]`.
        """
        extensions = dict(streamed.extensions)
        tls = streamed.extensions.get("network_stream")
        ssl_object = tls.get_extra_info("ssl_object") if tls is not None else None
        if ssl_object is not None:  # read now: the connection goes back to the pool below
            extensions["peer_certificate"] = ssl_object.getpeercert()
        try:
            cap = self.max_response_bytes
            declared = streamed.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise ResponseTooLarge(
                    f"the response declares {declared} bytes, over the {cap} cap"
                )
            chunks, size = [], 0
            async for chunk in streamed.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise ResponseTooLarge(f"the response body exceeds the {cap} byte cap")
                chunks.append(chunk)
        finally:
            await streamed.aclose()
        # The body is decoded now, so the rebuilt response drops the encoding headers.
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in _DROPPED_HEADERS]
        response = httpx.Response(
            streamed.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=extensions,
            history=streamed.history,
        )
        with contextlib.suppress(RuntimeError):  # httpx times real transports, not mocks
            response.elapsed = streamed.elapsed
        return response
