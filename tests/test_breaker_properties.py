"""Breaker invariants under random operation sequences (hypothesis stateful testing)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from probes import Breaker, BreakerConfig, Kind, Outcome, Permit, Reason, State, Transition
from tests.support import FakeClock

outcomes = st.sampled_from(
    [
        Outcome(Kind.SUCCESS),
        Outcome(Kind.FAILURE, Reason.TIMEOUT),
        Outcome(Kind.FAILURE, Reason.HTTP_5XX, retry_after=45.0),
        Outcome(Kind.THROTTLED, retry_after=3.0),
        Outcome(Kind.THROTTLED),
        Outcome(Kind.IGNORED),
    ]
)


@st.composite
def configs(draw: st.DrawFn) -> BreakerConfig:
    window = draw(st.integers(1, 8))
    reset = draw(st.floats(0.5, 60))
    return BreakerConfig(
        failure_threshold=draw(st.integers(1, 6)),
        reset_timeout=reset,
        max_reset_timeout=reset * draw(st.floats(1, 20)),
        backoff_multiplier=draw(st.floats(1, 4)),
        open_jitter=draw(st.floats(0, 0.9)),
        success_threshold=draw(st.integers(1, 3)),
        half_open_permits=draw(st.integers(1, 3)),
        failure_rate_threshold=draw(st.floats(0.05, 1)),
        window=window,
        min_calls=draw(st.integers(1, window)),
        slow_call_threshold=draw(st.sampled_from([0.0, 1.0])),
        lease_timeout=draw(st.floats(1, 100)),
        max_cooldown=draw(st.floats(1, 600)),
    )


class BreakerMachine(RuleBasedStateMachine):
    @initialize(config=configs(), jitter=st.floats(0, 0.999))
    def build(self, config: BreakerConfig, jitter: float) -> None:
        self.clock = FakeClock()
        self.config = config
        self.opened: list[tuple[float, float | None]] = []
        self.events: list[Transition] = []
        self.breaker = Breaker(
            "vendor",
            config,
            clock=self.clock,
            random=lambda: jitter,
            listeners=[self.on_transition],
        )
        self.held: list[Permit] = []

    def on_transition(self, event: Transition) -> None:
        self.events.append(event)
        if event.to_state is State.OPEN:
            self.opened.append((event.at_monotonic, self.breaker.open_until))

    @rule(lease=st.one_of(st.none(), st.floats(0.1, 50)))
    def acquire(self, lease: float | None) -> None:
        state_before = self.breaker.state
        open_until = self.breaker.open_until
        permit = self.breaker.try_acquire(lease)
        if permit is not None:
            self.held.append(permit)
            assert state_before is not State.FORCED_OPEN
            if state_before is State.OPEN and open_until is not None:
                assert self.clock.now >= open_until  # never admitted before the period ends

    @precondition(lambda self: self.held)
    @rule(data=st.data(), outcome=outcomes, duration=st.floats(0, 5))
    def record(self, data: st.DataObject, outcome: Outcome, duration: float) -> None:
        permit = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        self.breaker.record(permit, outcome, duration)

    @rule(seconds=st.floats(0, 120))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(action=st.sampled_from(["force_open", "disable", "reset"]))
    def operate(self, action: str) -> None:
        getattr(self.breaker, action)()

    @invariant()
    def one_valid_state(self) -> None:
        assert self.breaker.state in State

    @invariant()
    def permits_never_exceeded(self) -> None:
        current = [p for p in self.held if p.lease and p.generation == self.breaker.generation]
        assert len(current) <= self.config.half_open_permits
        if current:
            assert self.breaker.state is State.HALF_OPEN

    @invariant()
    def open_until_never_before_the_moment_of_opening(self) -> None:
        for opened_at, until in self.opened:
            assert until is not None
            assert until >= opened_at
            assert until - opened_at <= self.config.max_reset_timeout + 1e-9

    @invariant()
    def half_open_never_outlives_its_leases(self) -> None:
        if self.breaker.state is State.HALF_OPEN:
            trials = [p for p in self.held if p.lease and p.generation == self.breaker.generation]
            assert all(p.deadline > self.clock.now for p in trials)

    @invariant()
    def counters_in_range(self) -> None:
        assert 0.0 <= self.breaker.failure_rate <= 1.0
        assert self.breaker.consecutive_failures >= 0
        assert self.breaker.trip_streak >= 0

    @invariant()
    def events_chain(self) -> None:
        for before, after in zip(self.events, self.events[1:], strict=False):
            assert before.to_state is after.from_state
            assert after.generation > before.generation
        for event in self.events:
            assert event.from_state is not event.to_state


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
test_breaker_state_machine = BreakerMachine.TestCase
