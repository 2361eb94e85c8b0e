"""The breaker state machine, driven by a fake clock through scripted outcome traces."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from freezegun import freeze_time

from probes import (
    Breaker,
    BreakerConfig,
    BreakerOpen,
    InvalidSetting,
    Kind,
    Outcome,
    Reason,
    Rejection,
    State,
    Transition,
)
from probes.outcome import SUCCESS
from tests.support import FakeClock

FAIL = Outcome(Kind.FAILURE, Reason.HTTP_5XX, retryable=True, status=503, detail="HTTP 503")
THROTTLED = Outcome(Kind.THROTTLED, retryable=True, status=429, retry_after=5.0)
IGNORED = Outcome(Kind.IGNORED)
OUTCOMES = {"S": SUCCESS, "F": FAIL, "T": THROTTLED, "I": IGNORED}

# Rate rule effectively off, consecutive rule at 3, no jitter: traces are exact.
CONSECUTIVE_ONLY = BreakerConfig(
    failure_threshold=3, window=10, min_calls=10, failure_rate_threshold=1.0, open_jitter=0.0
)


class Rig:
    """A breaker on fake clocks, recording every transition it publishes."""

    def __init__(self, config: BreakerConfig = CONSECUTIVE_ONLY, random: float = 0.0) -> None:
        self.clock = FakeClock()
        self.wall = FakeClock(1_700_000_000.0)
        self.events: list[Transition] = []
        self.breaker = Breaker(
            "vendor",
            config,
            clock=self.clock,
            wall=self.wall,
            random=lambda: random,
            listeners=[self.events.append],
        )

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wall.advance(seconds)

    def run(self, trace: str, step: float = 1.0) -> list[str]:
        """Offer one call per token; return the state after each ('R' when rejected)."""
        states = []
        for token in trace.split(","):
            permit = self.breaker.try_acquire()
            if permit is None:
                states.append("R")
            else:
                self.breaker.record(permit, OUTCOMES[token])
                states.append(str(self.breaker.state))
            self.advance(step)
        return states

    def trip(self) -> None:
        while self.breaker.state is State.CLOSED:
            permit = self.breaker.acquire()
            self.breaker.record(permit, FAIL)

    @property
    def causes(self) -> list[tuple[str, str, str]]:
        return [(e.from_state, e.to_state, e.cause) for e in self.events]


def test_consecutive_failures_trip_and_a_success_resets_the_count() -> None:
    rig = Rig()
    assert rig.run("F,F,S,F,F,F,S") == [
        "closed", "closed", "closed", "closed", "closed", "open", "R",
    ]  # fmt: skip
    assert rig.causes == [("closed", "open", "consecutive_failures")]
    assert rig.events[0].consecutive_failures == 3


def test_failure_rate_trips_when_a_success_completes_min_calls() -> None:
    config = BreakerConfig(
        failure_threshold=100, window=4, min_calls=4, failure_rate_threshold=0.5, open_jitter=0
    )
    rig = Rig(config)
    # The fourth outcome is a success, and it is the one that reaches min_calls at 50 %.
    assert rig.run("F,S,F,S") == ["closed", "closed", "closed", "open"]
    assert rig.causes == [("closed", "open", "failure_rate")]
    assert rig.events[0].failure_rate == 0.5


def test_rate_threshold_compares_exactly_at_awkward_fractions() -> None:
    config = BreakerConfig(
        failure_threshold=100, window=10, min_calls=10, failure_rate_threshold=0.3, open_jitter=0
    )
    rig = Rig(config)
    assert rig.run("S,S,S,S,S,S,S,F,F,F")[-1] == "open"  # 3/10 >= 0.3, float-safe


def test_outcomes_older_than_the_window_age_drop_out() -> None:
    config = BreakerConfig(
        failure_threshold=100,
        window=10,
        min_calls=4,
        failure_rate_threshold=0.5,
        window_max_age=3600,
        open_jitter=0,
    )
    rig = Rig(config)
    assert rig.run("F,F,F") == ["closed"] * 3
    rig.advance(3601)
    # Counting yesterday's three failures, 4 of 7 would trip; aged out, it is 1 of 4.
    assert rig.run("S,S,S,F") == ["closed"] * 4


def test_throttling_is_neutral_and_starts_a_cooldown() -> None:
    rig = Rig()
    b = rig.breaker
    assert rig.run("F,F") == ["closed", "closed"]
    permit = b.acquire()
    b.record(permit, THROTTLED)  # Retry-After 5 s
    assert b.state is State.CLOSED
    assert b.consecutive_failures == 2  # a 429 does not reset the failure count
    assert b.try_acquire() is None
    with pytest.raises(BreakerOpen) as rejected:
        b.acquire()
    assert rejected.value.reason is Rejection.THROTTLED
    assert rejected.value.retry_after == pytest.approx(5.0)
    rig.advance(5)
    assert rig.run("F") == ["open"]  # the third failure, counted across the 429


def test_a_burst_of_429s_never_trips() -> None:
    rig = Rig()
    states = rig.run(",".join("T" * 30), step=6.0)  # each cooldown (5 s) ends before the next
    assert set(states) == {"closed"}
    assert rig.events == []


def test_cooldown_without_a_hint_backs_off_and_is_capped() -> None:
    rig = Rig(replace(CONSECUTIVE_ONLY, max_cooldown=3.0))
    b = rig.breaker
    no_hint = replace(THROTTLED, retry_after=None)
    waits = []
    for _ in range(4):
        b.record(b.acquire(), no_hint)
        waits.append(b.cooldown_until - rig.clock.now)  # type: ignore[operator]
        rig.advance(waits[-1])
    assert waits == [1.0, 2.0, 3.0, 3.0]


def test_days_of_hintless_429s_keep_a_capped_cooldown() -> None:
    rig = Rig()
    b = rig.breaker
    permit = b.acquire()  # the closed permit stays current: no transition happens
    for _ in range(5000):
        b.record(permit, replace(THROTTLED, retry_after=None))
    assert b.cooldown_until == rig.clock.now + 900  # max_cooldown, and no overflow
    assert b.state is State.CLOSED


def test_a_stale_success_after_a_transition_does_not_close() -> None:
    rig = Rig()
    b = rig.breaker
    slow_call = b.acquire()  # admitted while closed; it will come back late
    rig.trip()
    rig.advance(30)
    trial = b.acquire()
    assert b.state is State.HALF_OPEN
    b.record(slow_call, SUCCESS)
    assert b.state is State.HALF_OPEN  # the late success belongs to an older generation
    b.record(trial, SUCCESS)
    assert b.state is State.CLOSED
    assert rig.causes == [
        ("closed", "open", "consecutive_failures"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "closed", "trial_succeeded"),
    ]


def test_a_stale_failure_does_not_reopen_or_extend() -> None:
    rig = Rig()
    b = rig.breaker
    late = b.acquire()
    rig.trip()
    until = b.open_until
    b.record(late, FAIL)
    assert b.state is State.OPEN
    assert b.open_until == until
    assert b.consecutive_failures == 3


def test_open_period_grows_by_the_multiplier_up_to_the_cap() -> None:
    rig = Rig(replace(CONSECUTIVE_ONLY, reset_timeout=30, max_reset_timeout=100))
    b = rig.breaker
    rig.trip()
    periods = []
    for _ in range(4):
        periods.append(b.open_until - rig.clock.now)  # type: ignore[operator]
        rig.advance(periods[-1])
        b.record(b.acquire(), FAIL)  # the trial fails
    assert periods == [30, 60, 100, 100]
    assert b.trip_streak == 5


def test_jitter_only_shortens_so_the_cap_stays_a_cap() -> None:
    config = replace(CONSECUTIVE_ONLY, reset_timeout=30, open_jitter=0.2)
    for random, expected in ((0.0, 30.0), (0.5, 27.0), (0.999999, 24.0)):
        rig = Rig(config, random=random)
        rig.trip()
        assert rig.breaker.open_until - rig.clock.now == pytest.approx(expected, abs=1e-3)  # type: ignore[operator]


def test_open_period_is_never_shorter_than_retry_after_and_capped() -> None:
    for hint, expected in ((300.0, 300.0), (1e9, 1800.0), (2.0, 30.0)):
        rig = Rig()
        b = rig.breaker
        rig.run("F,F")
        b.record(b.acquire(), replace(FAIL, retry_after=hint))
        assert b.open_until - rig.clock.now == expected  # type: ignore[operator]


def test_trip_streak_decays_after_sustained_health() -> None:
    config = replace(CONSECUTIVE_ONLY, reset_timeout=30, decay_interval=600)

    def second_open_period(healthy_for: float) -> float:
        rig = Rig(config)
        b = rig.breaker
        rig.trip()
        rig.advance(30)
        b.record(b.acquire(), FAIL)  # streak 2, open 60 s
        rig.advance(60)
        b.record(b.acquire(), SUCCESS)  # closed with streak 2
        rig.advance(healthy_for)
        rig.trip()
        return b.open_until - rig.clock.now  # type: ignore[operator]

    assert second_open_period(10) == 120  # a flap: streak 3, no reward for a short close
    assert second_open_period(600) == 60  # one decay interval: streak 2 - 1 + 1
    assert second_open_period(6000) == 30  # fully healed: back to the first period


def test_an_expired_lease_reopens_with_a_longer_period() -> None:
    rig = Rig(replace(CONSECUTIVE_ONLY, reset_timeout=30))
    b = rig.breaker
    rig.trip()
    rig.advance(30)
    hung = b.acquire(lease=5.0)
    rig.advance(4.9)
    assert b.state is State.HALF_OPEN
    assert b.try_acquire() is None  # the only permit is out
    rig.advance(0.2)
    assert b.state is State.OPEN  # noticed on read: it cannot stay half-open forever
    assert b.open_until - rig.clock.now == 60  # type: ignore[operator]
    assert rig.causes[-1] == ("half_open", "open", "lease_expired")
    b.record(hung, SUCCESS)  # the hung trial returns at last: too late to count
    assert b.state is State.OPEN


def test_half_open_permits_and_success_threshold() -> None:
    config = replace(CONSECUTIVE_ONLY, half_open_permits=2, success_threshold=2)
    rig = Rig(config)
    b = rig.breaker
    rig.trip()
    rig.advance(30)
    first, second = b.acquire(), b.acquire()
    assert b.try_acquire() is None
    b.record(first, SUCCESS)
    assert b.state is State.HALF_OPEN  # one success of the two needed
    third = b.acquire()  # the freed permit is granted again
    b.record(second, SUCCESS)
    assert b.state is State.CLOSED
    b.record(third, FAIL)  # stale: issued in the half-open generation
    assert b.consecutive_failures == 0


def test_any_failure_in_half_open_reopens_at_once() -> None:
    rig = Rig(replace(CONSECUTIVE_ONLY, success_threshold=3))
    b = rig.breaker
    rig.trip()
    rig.advance(30)
    b.record(b.acquire(), SUCCESS)
    b.record(b.acquire(), FAIL)
    assert b.state is State.OPEN
    assert rig.causes[-1] == ("half_open", "open", "trial_failed")


def test_throttled_or_ignored_trials_release_the_permit_without_deciding() -> None:
    rig = Rig()
    b = rig.breaker
    rig.trip()
    rig.advance(30)
    b.record(b.acquire(), IGNORED)
    assert b.state is State.HALF_OPEN
    b.record(b.acquire(), THROTTLED)
    assert b.state is State.HALF_OPEN
    with pytest.raises(BreakerOpen) as rejected:
        b.acquire()
    assert rejected.value.reason is Rejection.THROTTLED
    rig.advance(5)
    b.record(b.acquire(), SUCCESS)
    assert b.state is State.CLOSED


def test_a_wall_clock_jump_does_not_change_the_open_period() -> None:
    rig = Rig()
    b = rig.breaker
    rig.trip()
    rig.wall.advance(3600)  # NTP steps the wall clock an hour forward
    assert b.try_acquire() is None
    rig.wall.advance(-7200)  # and then an hour back
    rig.clock.advance(29.9)
    assert b.try_acquire() is None
    rig.clock.advance(0.1)
    assert b.try_acquire() is not None


def test_rejection_carries_retry_after_reason_and_last_failure() -> None:
    rig = Rig()
    b = rig.breaker
    rig.trip()
    rig.advance(12)
    with pytest.raises(BreakerOpen) as rejected:
        b.acquire()
    error = rejected.value
    assert error.reason is Rejection.OPEN
    assert error.retry_after == pytest.approx(18.0)
    assert error.last_failure == FAIL
    assert error.opened_at == 1_700_000_000.0  # wall time of the trip
    assert "HTTP 503" in str(error)
    assert "18.0s" in str(error)


def test_half_open_rejection_points_at_the_lease_deadline() -> None:
    rig = Rig()
    b = rig.breaker
    rig.trip()
    rig.advance(30)
    b.acquire(lease=8.0)
    with pytest.raises(BreakerOpen) as rejected:
        b.acquire()
    assert rejected.value.reason is Rejection.HALF_OPEN_FULL
    assert rejected.value.retry_after == pytest.approx(8.0)


def test_forced_open_rejects_everything_until_reset() -> None:
    rig = Rig()
    b = rig.breaker
    in_flight = b.acquire()
    b.force_open()
    b.record(in_flight, SUCCESS)  # cannot close a forced-open breaker
    rig.advance(10_000)
    with pytest.raises(BreakerOpen) as rejected:
        b.acquire()
    assert rejected.value.reason is Rejection.FORCED_OPEN
    assert rejected.value.retry_after is None
    b.reset()
    assert b.state is State.CLOSED
    assert rig.causes == [("closed", "forced_open", "manual"), ("forced_open", "closed", "manual")]


def test_disabled_admits_everything_and_never_trips() -> None:
    rig = Rig()
    b = rig.breaker
    b.disable()
    assert rig.run(",".join("F" * 20)) == ["disabled"] * 20
    b.reset()
    assert rig.run("F,F,F") == ["closed", "closed", "open"]


def test_reset_clears_counters_and_streak_without_a_self_transition() -> None:
    rig = Rig()
    b = rig.breaker
    rig.run("F,F")
    b.reset()
    assert b.consecutive_failures == 0
    assert rig.events == []
    assert rig.run("F,F") == ["closed", "closed"]


def test_listeners_see_committed_state_and_cannot_break_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[State, State]] = []
    rig = Rig()
    b = rig.breaker

    def broken(event: Transition) -> None:
        raise RuntimeError("listener bug")

    def observer(event: Transition) -> None:
        seen.append((event.to_state, b.state))

    b._listeners = (broken, observer)
    with caplog.at_level(logging.ERROR, logger="probes.breaker"):
        rig.trip()
    assert b.state is State.OPEN
    assert seen == [(State.OPEN, State.OPEN)]
    assert "listener failed" in caplog.text


def test_a_listener_may_call_back_into_the_breaker() -> None:
    rig = Rig()
    b = rig.breaker
    order: list[str] = []

    def operator(event: Transition) -> None:
        order.append(event.to_state)
        if event.to_state is State.OPEN:
            b.force_open()  # a transition from inside a listener is queued, not lost

    b._listeners = (operator,)
    rig.trip()
    assert order == ["open", "forced_open"]
    assert b.state is State.FORCED_OPEN


@freeze_time("2026-11-28 09:30:00")
def test_event_times_use_the_wall_clock_for_display() -> None:
    clock = FakeClock()
    events: list[Transition] = []
    b = Breaker("vendor", CONSECUTIVE_ONLY, clock=clock, listeners=[events.append])
    for _ in range(3):
        b.record(b.acquire(), FAIL)
    (event,) = events
    assert event.at == 1_795_858_200.0  # 2026-11-28T09:30:00Z
    assert event.open_until == event.at + 30
    assert b.opened_at == event.at


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold: must be >= 1 (got 0)"),
        ({"failure_threshold": 2.5}, "failure_threshold: must be a whole number (got 2.5)"),
        ({"reset_timeout": -1}, "reset_timeout: must be > 0 (got -1)"),
        ({"max_reset_timeout": 10}, "max_reset_timeout: must be >= reset_timeout (got 10)"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold: must be in (0, 1] (got 1.5)"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold: must be in (0, 1] (got 0)"),
        ({"open_jitter": 1}, "open_jitter: must be in [0, 1) (got 1)"),
        ({"min_calls": 11}, "window: must be >= min_calls (got 10)"),
        ({"backoff_multiplier": 0.5}, "backoff_multiplier: must be >= 1 (got 0.5)"),
        ({"half_open_permits": 0}, "half_open_permits: must be >= 1 (got 0)"),
        ({"reset_timeout": float("nan")}, "reset_timeout: must be a finite number (got nan)"),
        ({"window": True}, "window: must be a whole number (got True)"),
    ],
)
def test_invalid_settings_name_the_setting_and_the_range(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSetting) as error:
        BreakerConfig(**settings)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_problems_reports_every_invalid_setting_at_once() -> None:
    problems = BreakerConfig.problems(
        failure_threshold="5", window=3, min_calls=5, reset_timeout=-1, max_reset_timeout=1
    )
    assert [str(p) for p in problems] == [
        "failure_threshold: must be a whole number (got '5')",
        "reset_timeout: must be > 0 (got -1)",
        "window: must be >= min_calls (got 3)",
    ]
    assert BreakerConfig.problems() == []


def test_window_counts_fence_out_late_appends_and_age() -> None:
    from probes.breaker import _Window

    window = _Window(size=4, max_age=100.0, now=0.0)
    window.add_bad(10.0, failed=True)
    assert window.add_success(11.0)  # a failure is still inside: check the rate
    window.restart(20.0)  # a new closed period begins
    window.add_success(19.0)  # a success read its clock before the restart, appended after
    window.add_bad(25.0, failed=False)  # a slow success
    assert window.counts(30.0) == (1, 0, 1)  # the late success does not count
    for at in (31.0, 32.0, 33.0, 34.0):
        last = window.add_success(at)
    assert not last  # four newer outcomes pushed the slow call out of a window of 4
    assert window.counts(34.0) == (4, 0, 0)
    assert window.counts(132.5) == (2, 0, 0)  # 31 and 32 are over 100 s old
