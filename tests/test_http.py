"""ResilientClient over real sockets on 127.0.0.1, against a scripted server."""

from __future__ import annotations

import asyncio
import gzip
import logging
from dataclasses import replace

import httpx
import pytest

from probes import (
    AttemptEvent,
    Breaker,
    BreakerConfig,
    BreakerOpen,
    Kind,
    ProbeAssertionFailed,
    Reason,
    Rejection,
    RequestFailed,
    ResilientClient,
    Result,
    RetryPolicy,
    State,
    Stop,
)
from tests.fakes.http_server import Reply, ScriptedServer
from tests.support import FakeClock
from tests.test_breaker import CONSECUTIVE_ONLY, FAIL

pytestmark = pytest.mark.anyio

CANARY = "canary-5d1f0b7a93e2"


class Waits:
    """Records backoff waits instead of sleeping them, so tests stay fast."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        await asyncio.sleep(0)


def client(server: ScriptedServer, **options: object) -> ResilientClient:
    settings: dict[str, object] = {
        "base_url": server.url,
        "timeout": 2.0,
        "deadline": 20.0,
        "sleep": Waits(),
    }
    settings.update(options)
    return ResilientClient("vendor", **settings)  # type: ignore[arg-type]


async def test_success_reuses_one_connection(server: ScriptedServer) -> None:
    async with client(server) as api:
        results = [await api.request("GET", "/health") for _ in range(5)]
    assert all(r.outcome.ok and r.response is not None for r in results)
    assert results[0].raise_for_outcome().json() == {"ok": True}
    assert server.connections == 1


async def test_503_with_retry_after_waits_as_asked_then_recovers(server: ScriptedServer) -> None:
    server.play(Reply(503, headers={"Retry-After": "2"}))
    waits = Waits()
    async with client(server, sleep=waits) as api:
        result = await api.request("GET", "/health")
        assert (result.outcome.kind, result.attempts, server.hits) == (Kind.SUCCESS, 2, 2)
        assert waits.seen[0] >= 2.0
        assert api.breaker.consecutive_failures == 0


async def test_429_is_retried_when_the_hint_fits(server: ScriptedServer) -> None:
    server.play(Reply(429, headers={"Retry-After": "1"}))
    waits = Waits()
    async with client(server, sleep=waits) as api:
        result = await api.request("GET", "/health")
    assert (result.outcome.ok, result.attempts) == (True, 2)
    assert waits.seen[0] >= 1.0


async def test_persistent_429_is_neutral_and_starts_a_cooldown(server: ScriptedServer) -> None:
    server.default = Reply(429, headers={"Retry-After": "5"})
    async with client(server) as api:
        result = await api.request("GET", "/health")
        assert (result.outcome.kind, result.attempts) == (Kind.THROTTLED, 3)
        assert api.breaker.state is State.CLOSED
        assert api.breaker.consecutive_failures == 0
        cooled = await api.request("GET", "/health")
    assert cooled.rejection is not None
    assert cooled.rejection.reason is Rejection.THROTTLED
    assert server.hits == 3  # the cooldown kept the fourth request at home


async def test_a_connection_reset_is_retried(server: ScriptedServer) -> None:
    server.play(Reply(reset=True))
    async with client(server) as api:
        result = await api.request("GET", "/health")
    assert (result.outcome.ok, result.attempts) == (True, 2)


async def test_persistent_resets_are_connect_errors(server: ScriptedServer) -> None:
    server.default = Reply(reset=True)
    async with client(server) as api:
        result = await api.request("GET", "/health")
    assert (result.outcome.reason, result.attempts, result.stop) == (
        Reason.CONNECT_ERROR, 3, Stop.ATTEMPTS,
    )  # fmt: skip
    assert result.outcome.error in {"ReadError", "RemoteProtocolError"}


async def test_a_read_timeout_is_a_timeout_and_retried(server: ScriptedServer) -> None:
    server.default = Reply(delay=1.0)
    async with client(server, timeout=0.2) as api:
        result = await api.request("GET", "/health")
    assert (result.outcome.reason, result.attempts) == (Reason.TIMEOUT, 3)
    assert result.outcome.detail == "TimeoutError: a response did not arrive within 0.2s"


async def test_401_is_not_retried_and_says_the_credential_was_refused(
    server: ScriptedServer,
) -> None:
    server.default = Reply(401, body=b'{"errors":["API Key not valid"]}')
    async with client(server) as api:
        result = await api.request("GET", "/v4/account")
    assert (result.outcome.reason, result.attempts, server.hits) == (Reason.AUTH, 1, 1)
    with pytest.raises(RequestFailed, match="credential was refused"):
        result.raise_for_outcome()


async def test_malformed_json_is_an_invalid_response_not_retried(server: ScriptedServer) -> None:
    server.default = Reply(body=b'{"ok": tru')
    async with client(server) as api:
        result = await api.request("GET", "/health", validate=lambda r: r.json())
    assert (result.outcome.reason, result.attempts) == (Reason.INVALID_RESPONSE, 1)
    assert result.outcome.error == "JSONDecodeError"


async def test_an_endless_body_is_cut_at_the_cap(server: ScriptedServer) -> None:
    server.default = Reply(endless=True)
    async with client(server, max_response_bytes=1 << 20) as api:
        result = await api.request("GET", "/big")
    assert (result.outcome.reason, result.outcome.error) == (
        Reason.INVALID_RESPONSE, "ResponseTooLarge",
    )  # fmt: skip
    assert result.attempts == 1


async def test_a_declared_oversize_body_is_refused_before_reading(server: ScriptedServer) -> None:
    server.default = Reply(body=b"x" * 300_000)
    async with client(server, max_response_bytes=100_000) as api:
        result = await api.request("GET", "/big")
    assert "declares 300000 bytes" in result.outcome.detail


async def test_a_dripping_body_is_bounded_by_the_attempt_timeout(server: ScriptedServer) -> None:
    # One byte every 50 ms never trips a 300 ms read timeout; the whole-attempt cap does.
    server.default = Reply(body=b"x" * 200, drip=0.05)
    async with client(server, timeout=0.3) as api:
        result = await api.request("GET", "/slow", retry=False)
    assert (result.outcome.reason, result.outcome.error) == (Reason.TIMEOUT, "TimeoutError")


async def test_half_open_lets_exactly_one_of_20_coroutines_reach_the_vendor(
    server: ScriptedServer,
) -> None:
    clock = FakeClock()
    breaker = Breaker("vendor", CONSECUTIVE_ONLY, clock=clock)
    for _ in range(3):
        breaker.record(breaker.acquire(), FAIL)
    clock.advance(30)
    server.default = Reply(503, delay=0.2)
    async with client(server, breaker=breaker) as api:
        results = await asyncio.gather(*(api.request("GET", "/health") for _ in range(20)))
    assert server.hits == 1  # the single trial, made once: trials are never retried
    kinds = sorted(r.outcome.kind for r in results)
    assert kinds == [Kind.FAILURE] + [Kind.REJECTED] * 19
    assert {r.rejection.reason for r in results if r.rejection} == {Rejection.HALF_OPEN_FULL}
    assert breaker.state is State.OPEN


async def test_an_open_breaker_keeps_requests_at_home(server: ScriptedServer) -> None:
    server.default = Reply(503)
    breaker = Breaker("vendor", replace(CONSECUTIVE_ONLY, failure_threshold=1))
    async with client(server, breaker=breaker) as api:
        first = await api.request("GET", "/health")
        second = await api.request("GET", "/health")
    assert first.outcome.reason is Reason.HTTP_5XX
    assert server.hits == 3  # the first call's three attempts, then nothing
    assert second.outcome.kind is Kind.REJECTED
    assert second.rejection is not None
    assert second.rejection.retry_after
    with pytest.raises(BreakerOpen, match="HTTP 503"):
        second.raise_for_outcome()


async def test_retries_stop_when_the_breaker_trips_meanwhile(server: ScriptedServer) -> None:
    server.default = Reply(503)
    breaker = Breaker("vendor")

    async def operator_intervenes(seconds: float) -> None:
        breaker.force_open()  # during the backoff, someone forces the breaker open

    async with client(server, breaker=breaker, sleep=operator_intervenes) as api:
        result = await api.request("GET", "/health")
    assert (result.attempts, result.stop, server.hits) == (1, Stop.REJECTED, 1)


async def test_retry_false_makes_one_attempt(server: ScriptedServer) -> None:
    server.default = Reply(503)
    async with client(server) as api:
        result = await api.request("POST", "/v3/mail/send", json={"x": 1}, retry=False)
    assert (result.attempts, server.hits) == (1, 1)
    assert server.requests[0].body == b'{"x":1}'


async def test_cancellation_hands_back_the_trial_permit(server: ScriptedServer) -> None:
    clock = FakeClock()
    breaker = Breaker("vendor", CONSECUTIVE_ONLY, clock=clock)
    for _ in range(3):
        breaker.record(breaker.acquire(), FAIL)
    clock.advance(30)
    server.default = Reply(delay=1.0)
    async with client(server, breaker=breaker) as api:
        call = asyncio.ensure_future(api.request("GET", "/health"))
        while server.hits == 0:
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert breaker.state is State.HALF_OPEN
    assert breaker.try_acquire() is not None  # the cancelled trial did not strand the permit


async def test_hooks_see_every_attempt_and_a_broken_hook_is_harmless(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[AttemptEvent] = []

    def broken(event: AttemptEvent) -> None:
        raise RuntimeError("hook bug")

    server.play(Reply(503))
    async with client(server, hooks=[broken, seen.append]) as api:
        result = await api.request("GET", "/health")
    assert result.outcome.ok
    assert [(e.attempt, e.outcome.kind, e.outcome.status) for e in seen] == [
        (1, Kind.FAILURE, 503), (2, Kind.SUCCESS, 200),
    ]  # fmt: skip
    assert all(e.duration > 0 and e.integration == "vendor" for e in seen)
    assert "an attempt hook failed" in caplog.text


async def test_secrets_never_leave_the_client(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Plant a canary key, fail in every way, and search every output for it."""
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    breaker = Breaker("vendor", BreakerConfig(failure_threshold=3, window=10, min_calls=10))

    def leaky_bug(response: httpx.Response) -> None:
        raise ValueError(f"unexpected token {CANARY}")

    def leaky_assertion(response: httpx.Response) -> None:
        raise ProbeAssertionFailed(f"body did not echo {CANARY}")

    server.play(Reply(), Reply(), Reply(reset=True), Reply(401), Reply(503), Reply(503), Reply(503))
    async with client(
        server,
        breaker=breaker,
        headers={"Authorization": f"Bearer {CANARY}"},
        secrets=[CANARY],
        retry=RetryPolicy(max_attempts=1),
    ) as api:
        calls: list[Result] = [
            await api.request("GET", f"/health?api_key={CANARY}", validate=leaky_bug),
            await api.request("GET", f"/{CANARY}/health", validate=leaky_assertion),
            await api.request("GET", "/health"),
            await api.request("GET", "/health"),
            await api.request("GET", "/health"),
            await api.request("GET", "/health"),
            await api.request("GET", "/health"),
        ]
        outputs.append(repr(api))
    assert calls[-1].outcome.kind is Kind.REJECTED  # every path was taken, rejection too
    assert calls[0].outcome.kind is Kind.IGNORED
    assert calls[1].outcome.reason is Reason.ASSERTION
    for call in calls:
        outputs += [repr(call), call.outcome.detail]
        try:
            call.raise_for_outcome()
        except (RequestFailed, BreakerOpen) as error:
            outputs.append(str(error))
    outputs.append(caplog.text)
    assert server.requests[0].headers["Authorization"] == f"Bearer {CANARY}"  # it was sent
    assert "internal error" in caplog.text
    assert "[REDACTED]" in caplog.text
    for text in outputs:
        assert CANARY not in text


async def test_gzip_bodies_are_decoded_and_the_encoding_header_dropped() -> None:
    payload = b'{"health_status": "Everything\'s Chimpy!"}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(payload)
        )

    async with ResilientClient("mailchimp", transport=httpx.MockTransport(handler)) as api:
        result = await api.request("GET", "http://vendor.test/3.0/ping")
    response = result.raise_for_outcome()
    assert response.content == payload
    assert "content-encoding" not in response.headers
    assert response.json()["health_status"] == "Everything's Chimpy!"


@pytest.mark.parametrize(("fresh_every", "connections"), [(300.0, 3), (0.0, 5), (None, 1)])
async def test_a_new_connection_first_and_then_every_fresh_every_seconds(
    server: ScriptedServer, fresh_every: float | None, connections: int
) -> None:
    clock = FakeClock()
    async with ResilientClient("vendor", base_url=server.url, fresh_every=fresh_every,
                               clock=clock) as api:  # fmt: skip
        for advance in (0, 0, 200, 100, 0):  # the 4th request is 300 s after the 1st
            clock.advance(advance)
            assert (await api.request("GET", "/")).outcome.ok
    # 300 s: the 1st and the 4th on connections of their own, the rest on one kept alive
    assert server.connections == connections


async def test_after_a_failure_every_request_is_fresh_until_one_succeeds(
    server: ScriptedServer,
) -> None:
    clock = FakeClock()
    server.play(Reply(), Reply(), Reply(status=503), Reply(status=503), Reply(), Reply())
    async with ResilientClient("vendor", base_url=server.url, fresh_every=300.0, clock=clock,
                               retry=RetryPolicy(max_attempts=1)) as api:  # fmt: skip
        outcomes = [(await api.request("GET", "/")).outcome.ok for _ in range(6)]
    assert outcomes == [True, True, False, False, True, True]
    # fresh: the 1st; pooled: the 2nd and the 3rd (which fails); fresh: the 4th (fails
    # again) and the 5th (succeeds); pooled: the 6th, on the 2nd's kept connection
    assert server.connections == 4
