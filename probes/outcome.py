"""One classifier from an HTTP response or an exception to an `Outcome`.

The same outcome feeds the breaker, the retry policy and the metrics, so they never
disagree about what happened. The taxonomy (docs/resilience.md, "Outcomes"):

| observation                                   | kind      | reason           | retried    |
|-----------------------------------------------|-----------|------------------|------------|
| an expected status (2xx by default)           | success   |                  |            |
| 429                                           | throttled |                  | if it fits |
| 500, 502, 503, 504 and other 5xx              | failure   | http_5xx         | yes        |
| 501, 505 (the endpoint cannot work as called) | failure   | http_5xx         | no         |
| 408, any timeout                              | failure   | timeout          | yes        |
| connection refused/reset, DNS, TLS, protocol  | failure   | connect_error    | yes        |
| 401, 403                                      | failure   | auth             | no         |
| other 4xx, 3xx, 1xx                           | failure   | client_error     | no         |
| body unreadable, malformed, too large         | failure   | invalid_response | no         |
| a probe assertion did not hold                | failure   | assertion        | no         |
| our own resources ran out (see below)         | local     |                  | no         |
| cancellation, an exception in our own code    | ignored   |                  | no         |

Throttling is neutral: it neither trips the breaker nor resets its failure count; it
starts a cooldown instead. Our own bugs are ignored so the vendor is never blamed for them,
and so is our own exhaustion: a call that failed because this process ran out of file
descriptors (EMFILE), the system did (ENFILE), socket buffers or memory ran out (ENOBUFS,
ENOMEM, MemoryError), no local port was free (EADDRNOTAVAIL), or the resolver failed
with a system error (EAI_SYSTEM) is `local`, never the vendor's failure (Linux's errno(3)
and connect(2), getaddrinfo(3)).
"""

from __future__ import annotations

import asyncio
import enum
import errno
import json
import socket
from collections.abc import Container
from dataclasses import dataclass

import httpx

from probes.hints import retry_hint

__all__ = [
    "LOCAL_CODES",
    "SUCCESS",
    "InvalidResponse",
    "Kind",
    "Outcome",
    "ProbeAssertionFailed",
    "ProxyUnusable",
    "Reason",
    "ResponseTooLarge",
    "classify",
    "local_cause",
]


class Kind(enum.StrEnum):
    """What an attempt amounted to, as the breaker sees it."""

    SUCCESS = "success"
    FAILURE = "failure"
    THROTTLED = "throttled"
    IGNORED = "ignored"
    REJECTED = "rejected"  # never sent: the breaker refused it
    LOCAL = "local"  # failed for want of our own resources: not the vendor's doing


class Reason(enum.StrEnum):
    """Why a failure failed. A closed set: these are Prometheus label values."""

    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    HTTP_5XX = "http_5xx"
    AUTH = "auth"
    CLIENT_ERROR = "client_error"
    INVALID_RESPONSE = "invalid_response"
    ASSERTION = "assertion"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The classified result of one attempt (or of a whole call, after its retries).

    `retry_after` is the server's hint in seconds (Retry-After, or a vendor reset header
    on a 429), `error` the class of what went wrong (an exception name or `HTTP 503`), and
    `detail` one short sentence for people. Callers that hold secrets redact `detail`
    before it leaves them.
    """

    kind: Kind
    reason: Reason | None = None
    retryable: bool = False
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind is Kind.SUCCESS


SUCCESS = Outcome(Kind.SUCCESS)


class InvalidResponse(Exception):
    """The response arrived but cannot be used (unparseable, wrong shape)."""


class ResponseTooLarge(InvalidResponse):
    """The response body exceeded the configured cap; reading stopped there."""


class ProxyUnusable(httpx.ProxyError):
    """Our own proxy cannot be reached, or refused us (407, 403): not the vendor's doing."""


class ProbeAssertionFailed(Exception):
    """The response was well formed but a probe's assertion about it did not hold."""


class CredentialRefused(Exception):
    """The vendor refused our credential before the call could be made: an OAuth refresh
    token, at the token endpoint. Our key, not the vendor: `auth`, never retried."""


class TokenEndpointFailed(Exception):
    """The vendor's token endpoint failed (a 5xx, or an answer that is no token), so the
    call could not be made: the vendor's trouble, retried like a 5xx."""


_DEFAULT_OK = range(200, 300)
_NOT_RETRYABLE_5XX = frozenset({501, 505})


def classify(
    observed: httpx.Response | BaseException,
    *,
    now: float,
    ok_status: Container[int] = _DEFAULT_OK,
) -> Outcome:
    """Classify a response or an exception.

    `now` is the wall-clock time (Unix seconds) the response arrived, used only to turn an
    HTTP-date Retry-After into seconds when the response carries no `Date` header.
    `ok_status` is the set of statuses that count as success (2xx by default).
    """
    if isinstance(observed, httpx.Response):
        return _classify_response(observed, now, ok_status)
    return _classify_error(observed)


def _classify_response(response: httpx.Response, now: float, ok_status: Container[int]) -> Outcome:
    status = response.status_code
    if status in ok_status:
        return Outcome(Kind.SUCCESS, status=status)
    error = f"HTTP {status}"
    phrase = f"{error} {response.reason_phrase}".strip()
    if status == 429:
        return Outcome(
            Kind.THROTTLED,
            retryable=True,
            status=status,
            retry_after=retry_hint(response.headers, now=now, throttled=True),
            error=error,
            detail=f"throttled by the server ({phrase})",
        )

    def failed(reason: Reason, detail: str, retryable: bool = False) -> Outcome:
        hint = retry_hint(response.headers, now=now, throttled=False) if retryable else None
        return Outcome(Kind.FAILURE, reason, retryable, status, hint, error, detail)

    if status in (401, 403):
        return failed(Reason.AUTH, f"the credential was refused ({phrase})")
    if status == 408:
        return failed(Reason.TIMEOUT, phrase, retryable=True)
    if status >= 500:
        return failed(Reason.HTTP_5XX, phrase, retryable=status not in _NOT_RETRYABLE_5XX)
    return failed(Reason.CLIENT_ERROR, f"unexpected status ({phrase})")


_LOCAL = {
    errno.EMFILE: "this process has too many open files",
    errno.ENFILE: "the system has too many open files",
    errno.ENOBUFS: "no socket buffer space is left",
    errno.ENOMEM: "memory ran out",
    errno.EADDRNOTAVAIL: "no local port is free",
}
# Every `error` code a LOCAL outcome may carry: the label values of the local-failure counter.
LOCAL_CODES = (*sorted(errno.errorcode[e] for e in _LOCAL), "EAI_SYSTEM", "PROXY")


def local_cause(error: BaseException) -> tuple[str, str] | None:
    """(code, detail) if `error`, or what caused it, is our own exhaustion: the code is the
    errno's name (EMFILE ...), or ENOMEM for a MemoryError, EAI_SYSTEM for a resolver that
    failed with a system error; the detail says it in words, the code after them."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            code, sentence = "ENOMEM", _LOCAL[errno.ENOMEM]
        elif isinstance(current, socket.gaierror) and current.errno == socket.EAI_SYSTEM:
            code, sentence = "EAI_SYSTEM", "the resolver failed with a system error"
        elif isinstance(current, OSError) and current.errno in _LOCAL:
            code, sentence = errno.errorcode[current.errno], _LOCAL[current.errno]
        else:
            current = current.__cause__ or current.__context__
            continue
        return code, f"{sentence} ({code})"
    return None


def _classify_error(error: BaseException) -> Outcome:
    name = type(error).__name__
    text = str(error)
    detail = f"{name}: {text}" if text else name
    if isinstance(error, asyncio.CancelledError):
        return Outcome(Kind.IGNORED, error=name, detail="cancelled")
    local = local_cause(error)
    if local is not None:
        return Outcome(Kind.LOCAL, error=local[0], detail=local[1])
    if isinstance(error, ProxyUnusable):
        return Outcome(Kind.LOCAL, error="PROXY", detail=text)
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return Outcome(Kind.FAILURE, Reason.TIMEOUT, retryable=True, error=name, detail=detail)
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        # The probe is misconfigured: no retry will fix it.
        return Outcome(Kind.FAILURE, Reason.CLIENT_ERROR, error=name, detail=detail)
    if isinstance(error, httpx.TransportError):
        # Connect, read and write errors, resets, TLS, protocol and proxy errors.
        return Outcome(
            Kind.FAILURE, Reason.CONNECT_ERROR, retryable=True, error=name, detail=detail
        )
    if isinstance(
        error,
        InvalidResponse
        | httpx.DecodingError
        | httpx.TooManyRedirects
        | json.JSONDecodeError
        | UnicodeDecodeError,
    ):
        return Outcome(Kind.FAILURE, Reason.INVALID_RESPONSE, error=name, detail=detail)
    if isinstance(error, ProbeAssertionFailed):
        return Outcome(Kind.FAILURE, Reason.ASSERTION, error=name, detail=text or name)
    if isinstance(error, CredentialRefused):
        return Outcome(Kind.FAILURE, Reason.AUTH, error=name, detail=text or name)
    if isinstance(error, TokenEndpointFailed):
        return Outcome(Kind.FAILURE, Reason.HTTP_5XX, retryable=True, error=name, detail=detail)
    return Outcome(Kind.IGNORED, error=name, detail=f"internal error: {detail}")
