"""The outcome classifier: one table from responses and exceptions to outcomes."""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import resource
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from probes import (
    Breaker,
    BreakerConfig,
    InvalidResponse,
    Kind,
    ProbeAssertionFailed,
    Reason,
    Redactor,
    ResponseTooLarge,
    State,
    classify,
)
from probes.redact import REDACTED
from tests.fakes.http_server import ScriptedServer

NOW = 1_445_412_480.0
REQUEST = httpx.Request("GET", "https://api.example.com/health")


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


@pytest.mark.parametrize(
    ("status", "kind", "reason", "retryable"),
    [
        (200, Kind.SUCCESS, None, False),
        (204, Kind.SUCCESS, None, False),
        (429, Kind.THROTTLED, None, True),
        (500, Kind.FAILURE, Reason.HTTP_5XX, True),
        (502, Kind.FAILURE, Reason.HTTP_5XX, True),
        (503, Kind.FAILURE, Reason.HTTP_5XX, True),
        (504, Kind.FAILURE, Reason.HTTP_5XX, True),
        (520, Kind.FAILURE, Reason.HTTP_5XX, True),
        (501, Kind.FAILURE, Reason.HTTP_5XX, False),
        (505, Kind.FAILURE, Reason.HTTP_5XX, False),
        (408, Kind.FAILURE, Reason.TIMEOUT, True),
        (401, Kind.FAILURE, Reason.AUTH, False),
        (403, Kind.FAILURE, Reason.AUTH, False),
        (400, Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (404, Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (410, Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (422, Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (301, Kind.FAILURE, Reason.CLIENT_ERROR, False),
    ],
)
def test_statuses(status: int, kind: Kind, reason: Reason | None, retryable: bool) -> None:
    outcome = classify(response(status), now=NOW)
    assert (outcome.kind, outcome.reason, outcome.retryable) == (kind, reason, retryable)
    assert outcome.status == status


def test_expected_statuses_are_configurable() -> None:
    assert classify(response(301), now=NOW, ok_status={301}).kind is Kind.SUCCESS
    assert classify(response(200), now=NOW, ok_status={204}).reason is Reason.CLIENT_ERROR


def test_auth_failures_say_the_credential_was_refused() -> None:
    outcome = classify(response(401), now=NOW)
    assert outcome.detail == "the credential was refused (HTTP 401 Unauthorized)"
    assert outcome.error == "HTTP 401"


def test_429_carries_the_retry_after_hint() -> None:
    assert classify(response(429, **{"Retry-After": "17"}), now=NOW).retry_after == 17.0
    sendgrid = response(429, **{"X-RateLimit-Reset": str(int(NOW) + 40)})
    assert classify(sendgrid, now=NOW).retry_after == 40.0
    assert classify(response(429), now=NOW).retry_after is None


def test_503_retry_after_is_kept_for_the_breaker() -> None:
    outcome = classify(response(503, **{"Retry-After": "120"}), now=NOW)
    assert (outcome.reason, outcome.retry_after) == (Reason.HTTP_5XX, 120.0)


@pytest.mark.parametrize(
    ("error", "kind", "reason", "retryable"),
    [
        (httpx.ConnectTimeout("t"), Kind.FAILURE, Reason.TIMEOUT, True),
        (httpx.ReadTimeout("t"), Kind.FAILURE, Reason.TIMEOUT, True),
        (httpx.PoolTimeout("t"), Kind.FAILURE, Reason.TIMEOUT, True),
        (TimeoutError(), Kind.FAILURE, Reason.TIMEOUT, True),
        (httpx.ConnectError("refused"), Kind.FAILURE, Reason.CONNECT_ERROR, True),
        (httpx.ReadError("reset"), Kind.FAILURE, Reason.CONNECT_ERROR, True),
        (httpx.RemoteProtocolError("eof"), Kind.FAILURE, Reason.CONNECT_ERROR, True),
        (httpx.ProxyError("proxy"), Kind.FAILURE, Reason.CONNECT_ERROR, True),
        (httpx.UnsupportedProtocol("ftp"), Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (httpx.InvalidURL("bad"), Kind.FAILURE, Reason.CLIENT_ERROR, False),
        (httpx.DecodingError("gzip"), Kind.FAILURE, Reason.INVALID_RESPONSE, False),
        (httpx.TooManyRedirects("loop"), Kind.FAILURE, Reason.INVALID_RESPONSE, False),
        (json.JSONDecodeError("x", "{", 0), Kind.FAILURE, Reason.INVALID_RESPONSE, False),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
            Kind.FAILURE,
            Reason.INVALID_RESPONSE,
            False,
        ),
        (InvalidResponse("no id"), Kind.FAILURE, Reason.INVALID_RESPONSE, False),
        (ResponseTooLarge("big"), Kind.FAILURE, Reason.INVALID_RESPONSE, False),
        (ProbeAssertionFailed("body lacks ok"), Kind.FAILURE, Reason.ASSERTION, False),
        (asyncio.CancelledError(), Kind.IGNORED, None, False),
        (KeyError("our bug"), Kind.IGNORED, None, False),
        (TypeError("our bug"), Kind.IGNORED, None, False),
    ],
)
def test_exceptions(
    error: BaseException, kind: Kind, reason: Reason | None, retryable: bool
) -> None:
    outcome = classify(error, now=NOW)
    assert (outcome.kind, outcome.reason, outcome.retryable) == (kind, reason, retryable)
    assert outcome.error == type(error).__name__


def test_our_own_bugs_are_labelled_internal() -> None:
    assert classify(KeyError("x"), now=NOW).detail == "internal error: KeyError: 'x'"


def test_assertion_detail_is_the_assertion_message() -> None:
    outcome = classify(ProbeAssertionFailed("$.status is 'degraded', want 'ok'"), now=NOW)
    assert outcome.detail == "$.status is 'degraded', want 'ok'"


# -- redaction ----------------------------------------------------------------------------

CANARY = "canary-7f3a9c1e5b"


def test_redactor_removes_secrets_in_every_common_form() -> None:
    redact = Redactor([CANARY])
    encoded = base64.b64encode(CANARY.encode()).decode()
    text = f"key={CANARY} url=%2F{CANARY} enc={encoded}"
    assert CANARY not in redact(text)
    assert redact(text).count(REDACTED) == 3


def test_redactor_treats_sensitive_header_values_as_secrets() -> None:
    redact = Redactor(
        headers={
            "Authorization": f"Bearer {CANARY}",
            "X-Kit-Api-Key": "kitkey123",
            "Accept": "json",
        }
    )
    assert redact(f"sent Bearer {CANARY} and {CANARY} and kitkey123 as json") == (
        f"sent {REDACTED} and {REDACTED} and {REDACTED} as json"
    )


def test_redactor_without_secrets_is_the_identity() -> None:
    assert Redactor()("nothing to hide") == "nothing to hide"
    assert Redactor([""])("empty secrets are ignored") == "empty secrets are ignored"
    assert CANARY not in repr(Redactor([CANARY]))


# -- our own exhaustion -------------------------------------------------------------------


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


def _connect(cause: BaseException) -> BaseException:
    return _caused(httpx.ConnectError("cannot connect"), cause)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_connect(OSError(errno.EMFILE, "Too many open files")), "EMFILE"),
        (_connect(OSError(errno.ENFILE, "File table overflow")), "ENFILE"),
        (_caused(httpx.ReadError("x"), OSError(errno.ENOBUFS, "No buffer space")), "ENOBUFS"),
        (_connect(OSError(errno.EADDRNOTAVAIL, "no address")), "EADDRNOTAVAIL"),
        (_connect(socket.gaierror(socket.EAI_SYSTEM, "System error")), "EAI_SYSTEM"),
        (MemoryError(), "ENOMEM"),
    ],
)
def test_our_own_exhaustion_is_local_never_the_vendors(error: BaseException, code: str) -> None:
    outcome = classify(error, now=NOW)
    assert (outcome.kind, outcome.reason, outcome.error, outcome.retryable) == (
        Kind.LOCAL, None, code, False,
    )  # fmt: skip
    assert f"({code})" in outcome.detail


@pytest.mark.parametrize(
    "error",
    [
        _caused(httpx.ConnectError("refused"), OSError(errno.ECONNREFUSED, "refused")),
        _caused(httpx.ConnectError("dns"), socket.gaierror(socket.EAI_NONAME, "not known")),
        _caused(httpx.ConnectError("x"), OSError(errno.ENETUNREACH, "unreachable")),
    ],
)
def test_the_networks_trouble_is_still_the_vendors_connect_error(error: BaseException) -> None:
    assert classify(error, now=NOW).reason is Reason.CONNECT_ERROR


def test_a_breaker_ignores_local_failures() -> None:
    breaker = Breaker("kit", BreakerConfig(failure_threshold=1))
    local = classify(MemoryError(), now=NOW)
    for _ in range(5):
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record(permit, local)
    assert (breaker.state, breaker.consecutive_failures) == (State.CLOSED, 0)


_EXHAUSTED = """
import asyncio, resource, sys
from probes import Breaker, BreakerConfig, ResilientClient
from probes.retry import RetryPolicy

async def main():
    breaker = Breaker("kit", BreakerConfig(failure_threshold=1))
    async with ResilientClient("kit", breaker=breaker, retry=RetryPolicy(max_attempts=1)) as kit:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        held = []
        try:  # use up every descriptor this process may open
            while True:
                held.append(open("/dev/null"))
        except OSError:
            pass
        result = await kit.request("GET", sys.argv[1])
        for f in held:
            f.close()
    print(result.outcome.kind, result.outcome.error, breaker.state, sep=",")

asyncio.run(main())
"""


@pytest.mark.system
def test_a_real_emfile_is_local(server: ScriptedServer) -> None:
    """A process out of file descriptors, calling a healthy server: the call fails, and it
    is ours, not the server's."""
    done = subprocess.run(
        [sys.executable, "-c", _EXHAUSTED, server.url + "/health"],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "local,EMFILE,closed"
