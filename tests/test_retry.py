"""Retry maths, server hints, the retry budget and the retry loop (pure, fake time)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes import InvalidSetting, Kind, Outcome, Reason, Retrier, RetryBudget, RetryPolicy, Stop
from probes.hints import parse_retry_after, retry_hint
from probes.outcome import SUCCESS
from probes.retry import capped_exponential
from tests.support import FakeClock

FAIL = Outcome(Kind.FAILURE, Reason.HTTP_5XX, retryable=True, status=503)
AUTH = Outcome(Kind.FAILURE, Reason.AUTH, status=401)

# -- backoff ------------------------------------------------------------------------------


def test_backoff_without_jitter_is_exponential_then_capped() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=10, backoff_factor=2, jitter=False)
    assert [policy.backoff(n, lambda: 0.5) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_full_jitter_applies_the_cap_before_the_jitter() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=10, backoff_factor=2)
    # Jitter-then-cap would pile every client at exactly 10 s; cap-then-jitter spreads them.
    assert policy.backoff(20, lambda: 0.5) == 5.0
    assert policy.backoff(20, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.25) == 1.0


@given(
    base=st.floats(0.001, 100),
    factor=st.floats(1, 10),
    exponent=st.integers(0, 10**9),
    cap_ratio=st.floats(1, 1e6),
)
def test_capped_exponential_never_overflows_and_stays_in_range(
    base: float, factor: float, exponent: int, cap_ratio: float
) -> None:
    cap = base * cap_ratio
    value = capped_exponential(base, factor, exponent, cap)
    assert base * (1 - 1e-12) <= value <= cap
    assert capped_exponential(base, factor, exponent + 1, cap) >= value


@given(retry=st.integers(1, 10**6), r=st.floats(0, 0.999999))
def test_jittered_backoff_is_within_zero_and_the_cap(retry: int, r: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8)
    assert 0 <= policy.backoff(retry, lambda: r) <= 8


def test_delay_honours_the_server_hint_and_the_deadline() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=10, jitter=False)
    assert policy.delay(1, hint=None, remaining=30, random=lambda: 0) == 1
    assert policy.delay(1, hint=7.5, remaining=30, random=lambda: 0) == 7.5  # never sooner
    assert policy.delay(1, hint=0.1, remaining=30, random=lambda: 0) == 1
    assert policy.delay(1, hint=45, remaining=30, random=lambda: 0) is None  # give up early
    assert policy.delay(4, hint=None, remaining=5, random=lambda: 0) is None  # 8 s > 5 s left


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_attempts": 0}, "max_attempts: must be >= 1 (got 0)"),
        ({"base_delay": 0}, "base_delay: must be > 0 (got 0)"),
        ({"max_delay": 0.5}, "max_delay: must be >= base_delay (got 0.5)"),
        ({"jitter": "yes"}, "jitter: must be true or false (got 'yes')"),
        ({"backoff_factor": 0.9}, "backoff_factor: must be >= 1 (got 0.9)"),
    ],
)
def test_invalid_retry_settings(settings: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidSetting) as error:
        RetryPolicy(**settings)  # type: ignore[arg-type]
    assert str(error.value) == message


# -- server hints -------------------------------------------------------------------------

DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
DATE_TS = 1_445_412_480.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (DATE, 30.0),  # now is 30 s before the date
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("Wed, 21 Oct 2015 07:28:00 -0000", 30.0),
        ("soon", None),
        ("-5", None),
        ("nan", None),
        ("1e3", None),
        ("", None),
    ],
)
def test_parse_retry_after_both_forms(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now=DATE_TS - 30) == expected


def test_http_date_is_measured_from_the_response_date_not_our_clock() -> None:
    headers = {"retry-after": DATE, "date": "Wed, 21 Oct 2015 07:27:50 GMT"}
    # Our clock is an hour off; the server's own Date says the wait is 10 s.
    assert retry_hint(headers, now=DATE_TS - 3600, throttled=True) == 10.0


def test_sendgrid_reset_is_epoch_seconds_and_used_only_when_throttled() -> None:
    headers = {"x-ratelimit-reset": str(int(DATE_TS) + 42), "date": DATE}
    assert retry_hint(headers, now=0, throttled=True) == 42.0
    assert retry_hint(headers, now=0, throttled=False) is None


def test_ratelimit_reset_in_seconds_and_retry_after_wins() -> None:
    assert retry_hint({"ratelimit-reset": "12"}, now=DATE_TS, throttled=True) == 12.0
    both = {"retry-after": "3", "x-ratelimit-reset": str(int(DATE_TS) + 60)}
    assert retry_hint(both, now=DATE_TS, throttled=True) == 3.0
    assert retry_hint({}, now=DATE_TS, throttled=True) is None


# -- budget -------------------------------------------------------------------------------


def test_budget_stops_retries_below_half_and_refills_slowly() -> None:
    clock = FakeClock()
    budget = RetryBudget(max_tokens=10, token_ratio=0.5, floor_interval=60, clock=clock)
    for _ in range(5):
        budget.record(FAIL)
    assert budget.tokens == 5
    assert budget.try_spend()  # the floor: one retry a minute even when spent
    assert not budget.try_spend()
    clock.advance(60)
    assert budget.try_spend()
    budget.record(SUCCESS)
    assert budget.tokens == 5.5
    assert budget.try_spend()
    for _ in range(100):
        budget.record(SUCCESS)
    assert budget.tokens == 10  # never above the maximum


# -- the loop -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tried:
    outcome: Outcome
    number: int


class Script:
    """An attempt function that returns scripted outcomes and takes `took` seconds each."""

    def __init__(self, clock: FakeClock, *outcomes: Outcome, took: float = 0.5) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.took = took
        self.calls: list[tuple[int, float]] = []

    async def __call__(self, number: int, remaining: float) -> Tried:
        self.calls.append((number, remaining))
        self.clock.advance(self.took)
        return Tried(self.outcomes.pop(0), number)


class Sleeper:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def retrier(
    clock: FakeClock, policy: RetryPolicy, budget: RetryBudget | None = None
) -> tuple[Retrier, Sleeper]:
    sleeper = Sleeper(clock)
    return Retrier(policy, budget, clock=clock, sleep=sleeper, random=lambda: 1.0), sleeper


def run(coro: object) -> tuple[Tried, Stop]:
    return asyncio.run(coro)  # type: ignore[arg-type]


NO_JITTER = RetryPolicy(max_attempts=3, base_delay=1, max_delay=10, jitter=False)


def test_retries_a_retryable_failure_then_succeeds() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    script = Script(clock, FAIL, FAIL, SUCCESS)
    result, stop = run(loop.run(script, deadline=clock.now + 30))
    assert (result.outcome, result.number, stop) == (SUCCESS, 3, Stop.DONE)
    assert sleeper.waits == [1, 2]
    assert [remaining for _, remaining in script.calls] == [30, 28.5, 26]


def test_a_non_retryable_failure_is_not_retried() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    result, stop = run(loop.run(Script(clock, AUTH), deadline=clock.now + 30))
    assert (result.number, stop, sleeper.waits) == (1, Stop.DONE, [])


def test_stops_after_max_attempts() -> None:
    clock = FakeClock()
    loop, _ = retrier(clock, NO_JITTER)
    result, stop = run(loop.run(Script(clock, FAIL, FAIL, FAIL), deadline=clock.now + 30))
    assert (result.number, stop) == (3, Stop.ATTEMPTS)


def test_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=10, base_delay=1, max_delay=10, jitter=False)
    loop, sleeper = retrier(clock, policy)
    deadline = clock.now + 9
    _result, stop = run(loop.run(Script(clock, *[FAIL] * 10), deadline=deadline))
    assert stop is Stop.DEADLINE
    assert clock.now <= deadline
    assert sleeper.waits == [1, 2, 4]  # the next wait (8 s) would end past the deadline


def test_a_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    throttled = Outcome(Kind.THROTTLED, retryable=True, status=429, retry_after=120)
    _result, stop = run(loop.run(Script(clock, throttled), deadline=clock.now + 30))
    assert (stop, sleeper.waits) == (Stop.DEADLINE, [])


def test_waits_as_long_as_the_server_asks() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    unavailable = Outcome(Kind.FAILURE, Reason.HTTP_5XX, retryable=True, retry_after=6)
    run(loop.run(Script(clock, unavailable, SUCCESS), deadline=clock.now + 30))
    assert sleeper.waits == [6]


def test_stops_at_once_when_the_breaker_no_longer_admits() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    script = Script(clock, FAIL, SUCCESS)
    _result, stop = run(loop.run(script, deadline=clock.now + 30, proceed=lambda: False))
    assert (stop, len(script.calls), sleeper.waits) == (Stop.REJECTED, 1, [])


def test_rechecks_the_breaker_after_sleeping() -> None:
    clock = FakeClock()
    loop, sleeper = retrier(clock, NO_JITTER)
    answers = iter([True, False])  # the breaker trips (elsewhere) during our backoff
    script = Script(clock, FAIL, SUCCESS)
    _result, stop = run(loop.run(script, deadline=clock.now + 30, proceed=lambda: next(answers)))
    assert (stop, len(script.calls), sleeper.waits) == (Stop.REJECTED, 1, [1])


def test_the_budget_stops_retries_when_spent() -> None:
    clock = FakeClock()
    budget = RetryBudget(max_tokens=2, floor_interval=3600, clock=clock)
    loop, _ = retrier(clock, NO_JITTER, budget)
    first, stop = run(loop.run(Script(clock, FAIL, FAIL, FAIL), deadline=clock.now + 30))
    assert (first.number, stop) == (2, Stop.BUDGET)  # 2 -> 1 token: retried once by the floor
    second, stop = run(loop.run(Script(clock, FAIL, FAIL), deadline=clock.now + 30))
    assert (second.number, stop) == (1, Stop.BUDGET)  # floor already used this hour
