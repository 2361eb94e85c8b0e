"""The circuit breaker: a state machine over an injected monotonic clock.

Semantics (docs/resilience.md, "The breaker", with its sources):

- CLOSED admits every call. It trips to OPEN on `failure_threshold` consecutive failures,
  or once `min_calls` outcomes are in the last `window` and their failure rate (or, when
  slow calls are counted, their slow rate) reaches its threshold. The rule is evaluated
  after every outcome, successes included. Outcomes older than `window_max_age` age out.
- OPEN rejects until `open_until`, then the next `try_acquire` moves it to HALF_OPEN.
  The open period is `reset_timeout * backoff_multiplier**(n-1)`, capped at
  `max_reset_timeout`, shortened by up to `open_jitter` of itself, and never shorter than
  the server's Retry-After hint; `n` (the trip streak) grows with every trip and decays
  by one per `decay_interval` of continuous CLOSED health.
- HALF_OPEN admits at most `half_open_permits` trials at a time, each under a lease.
  `success_threshold` consecutive successes close it; any failure, or a lease that
  expires, re-opens it with `n + 1`.
- FORCED_OPEN rejects everything and DISABLED admits everything; both are operator intent
  and only `reset()` leaves them.

Every permit carries the generation it was issued in; the generation changes on every
transition, so a late outcome from an older generation never drives a transition.
THROTTLED outcomes are neutral: they release a permit, leave the failure count alone and
start a cooldown during which calls are rejected without counting as failures.

The breaker is safe under threads and asyncio: a short lock guards each decision and is
never held across the protected call, and the closed path takes no lock to admit.
Transition events reach listeners after the state is committed, outside the lock, in
order; a listener's exception is logged and never changes the state.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field, fields
from types import SimpleNamespace
from typing import Any

from probes._settings import DURATION, SETTING, Checks, InvalidSetting
from probes.outcome import Kind, Outcome, Reason
from probes.retry import capped_exponential

__all__ = [
    "Breaker",
    "BreakerConfig",
    "BreakerOpen",
    "BreakerSnapshot",
    "Cause",
    "Clock",
    "Permit",
    "Rejection",
    "State",
    "Transition",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


class Cause(enum.StrEnum):
    """Why a transition happened."""

    CONSECUTIVE_FAILURES = "consecutive_failures"
    FAILURE_RATE = "failure_rate"
    SLOW_CALL_RATE = "slow_call_rate"
    OPEN_ELAPSED = "open_elapsed"
    TRIAL_FAILED = "trial_failed"
    LEASE_EXPIRED = "lease_expired"
    TRIAL_SUCCEEDED = "trial_succeeded"
    MANUAL = "manual"


class Rejection(enum.StrEnum):
    """Why a call was not admitted."""

    OPEN = "open"
    FORCED_OPEN = "forced_open"
    HALF_OPEN_FULL = "half_open_full"
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Breaker settings; durations in seconds. Invalid values raise `InvalidSetting`."""

    failure_threshold: int = field(default=5, metadata=SETTING)
    reset_timeout: float = field(default=30.0, metadata=DURATION)
    max_reset_timeout: float = field(default=1800.0, metadata=DURATION)
    backoff_multiplier: float = field(default=2.0, metadata=SETTING)
    open_jitter: float = 0.2
    success_threshold: int = field(default=1, metadata=SETTING)
    half_open_permits: int = field(default=1, metadata=SETTING)
    failure_rate_threshold: float = field(default=0.5, metadata=SETTING)
    window: int = field(default=10, metadata=SETTING)
    min_calls: int = field(default=5, metadata=SETTING)
    window_max_age: float = 3600.0
    slow_call_threshold: float = field(default=0.0, metadata=DURATION)
    slow_call_rate_threshold: float = 1.0
    decay_interval: float = 600.0
    lease_timeout: float = 60.0
    max_cooldown: float = 900.0

    def __post_init__(self) -> None:
        _check_breaker(self).raise_first()

    @classmethod
    def problems(cls, **settings: Any) -> list[InvalidSetting]:
        """Every invalid setting among `settings` (the others at their defaults)."""
        values = {f.name: f.default for f in fields(cls)} | settings
        return _check_breaker(SimpleNamespace(**values)).problems

    @property
    def fingerprint(self) -> str:
        """A short stable digest of the settings, stored with snapshots."""
        return hashlib.sha256(repr(astuple(self)).encode()).hexdigest()[:16]


def _check_breaker(values: Any) -> Checks:
    c = Checks(values)
    c.at_least("failure_threshold", 1, integer=True, maximum=_MAX_COUNT)
    reset = c.greater_than("reset_timeout", 0, maximum=_DAY)
    maximum = c.number("max_reset_timeout") and c.at_most("max_reset_timeout", 7 * _DAY)
    c.not_below("max_reset_timeout", "reset_timeout", valid=maximum and reset)
    c.at_least("backoff_multiplier", 1, maximum=100)
    c.fraction("open_jitter", allow_zero=True, allow_one=False)
    c.at_least("success_threshold", 1, integer=True, maximum=_MAX_COUNT)
    c.at_least("half_open_permits", 1, integer=True, maximum=_MAX_COUNT)
    c.fraction("failure_rate_threshold", allow_zero=False, allow_one=True)
    window = c.at_least("window", 1, integer=True, maximum=_MAX_WINDOW)
    min_calls = c.at_least("min_calls", 1, integer=True, maximum=_MAX_WINDOW)
    c.not_below("window", "min_calls", valid=window and min_calls)
    c.greater_than("window_max_age", 0, maximum=7 * _DAY)
    c.at_least("slow_call_threshold", 0, maximum=_DAY)
    c.fraction("slow_call_rate_threshold", allow_zero=False, allow_one=True)
    c.greater_than("decay_interval", 0, maximum=7 * _DAY)
    c.greater_than("lease_timeout", 0, maximum=_DAY)
    c.at_least("max_cooldown", 1, maximum=7 * _DAY)
    return c


_DAY = 86400.0
_MAX_COUNT = 1000  # consecutive failures, successes, permits
_MAX_WINDOW = 10_000  # outcomes kept per breaker


class Permit:
    """Admission to make one call. Hand it back with `Breaker.record`."""

    __slots__ = ("deadline", "generation", "lease")

    def __init__(self, generation: int, lease: int = 0, deadline: float = math.inf) -> None:
        self.generation = generation
        self.lease = lease  # 0: not a half-open trial
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"Permit(generation={self.generation}, lease={self.lease})"


@dataclass(frozen=True, slots=True)
class Transition:
    """A committed state change. Times: `at` is wall clock, `at_monotonic` the breaker clock."""

    breaker: str
    from_state: State
    to_state: State
    cause: Cause
    generation: int
    at: float
    at_monotonic: float
    open_for: float | None
    trip_streak: int
    consecutive_failures: int
    failure_rate: float
    last_failure: Outcome | None

    @property
    def open_until(self) -> float | None:
        """Wall-clock end of the open period, for display."""
        return None if self.open_for is None else self.at + self.open_for


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What survives a restart (wall-clock times). See `Breaker.restore` for the rules."""

    state: State
    trip_streak: int
    consecutive_failures: int
    since: float
    opened_at: float | None
    open_until: float | None
    open_for: float | None
    cooldown_until: float | None
    last_failure: Outcome | None
    config_fingerprint: str


class BreakerOpen(Exception):
    """Raised by `Breaker.acquire` when a call is not admitted.

    `retry_after` is the number of seconds until a call may be admitted (None while
    forced open), `reason` why it was refused, `last_failure` the outcome that tripped
    or last failed it.
    """

    def __init__(
        self,
        breaker: str,
        state: State,
        reason: Rejection,
        retry_after: float | None,
        last_failure: Outcome | None,
        opened_at: float | None,
    ) -> None:
        self.breaker = breaker
        self.state = state
        self.reason = reason
        self.retry_after = retry_after
        self.last_failure = last_failure
        self.opened_at = opened_at
        super().__init__(breaker, reason)

    def __str__(self) -> str:  # formatted only when shown, so refusing stays cheap
        text = f"breaker {self.breaker!r} rejected the call ({self.reason})"
        if self.last_failure is not None and self.last_failure.detail:
            text += f"; last failure: {self.last_failure.detail}"
        if self.retry_after is not None:
            text += f"; retry in {self.retry_after:.1f}s"
        return text


def _wall_clock() -> float:
    return time.time()  # looked up per call, so freezegun can steer display times


_LEASE_EXPIRED = Outcome(
    Kind.FAILURE, Reason.TIMEOUT, error="LeaseExpired", detail="the trial call never finished"
)


_CLOSED, _OPEN, _HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
_FORCED_OPEN, _DISABLED = State.FORCED_OPEN, State.DISABLED
_SUCCESS = Kind.SUCCESS


class _Window:
    """The last `size` outcomes since `since`, no older than `max_age`.

    A ring: outcome number `seq` goes to slot `seq % size`. Successes are written without
    the breaker's lock (`next` on the counter and a list item's assignment are each one
    atomic step, so two writers take two slots), so the healthy path never contends;
    failures and slow calls are written under it. Entries are a time (success), a
    `(time, failed)` pair (failure, or slow success) or None (no outcome yet). `counts` skips
    entries from before `since`, so a late write from an earlier closed period cannot
    pollute this one. A list of 10 takes 136 bytes where a deque took 760.
    """

    __slots__ = ("entries", "last_bad", "last_bad_at", "max_age", "seq", "since", "size")

    def __init__(self, size: int, max_age: float, now: float) -> None:
        self.size = size
        self.max_age = max_age
        self.entries: list[float | tuple[float, bool] | None] = [None] * size
        self.seq = itertools.count()  # next() is atomic: orders writes across threads
        self.last_bad = -size
        self.last_bad_at = -math.inf
        self.since = now

    def add_success(self, now: float) -> bool:
        """Write a success; True when a failure or slow call may still be in the window."""
        seq = next(self.seq)
        self.entries[seq % self.size] = now
        return seq - self.last_bad < self.size and now - self.last_bad_at <= self.max_age

    def add_bad(self, now: float, failed: bool) -> None:
        seq = next(self.seq)
        self.entries[seq % self.size] = (now, failed)
        self.last_bad, self.last_bad_at = seq, now

    def restart(self, now: float) -> None:
        self.entries = [None] * self.size
        self.since = now

    def counts(self, now: float) -> tuple[int, int, int]:
        """(outcomes, failures, slow successes) in the window at `now`."""
        horizon = max(self.since, now - self.max_age)
        count = failures = slows = 0
        for entry in self.entries[:]:
            if entry is None:
                continue
            if isinstance(entry, tuple):
                at, failed = entry
                if at >= horizon:
                    count += 1
                    failures += failed
                    slows += not failed
            elif entry >= horizon:
                count += 1
        return count, failures, slows

    def failure_rate(self, now: float) -> float:
        count, failures, _ = self.counts(now)
        return failures / count if count else 0.0


class Breaker:
    """A circuit breaker for one integration.

    Admit with `try_acquire()` (returns a `Permit` or None) or `acquire()` (raises
    `BreakerOpen`), make the call without holding anything, then hand the outcome back
    with `record(permit, outcome, duration)`. `clock` is monotonic seconds, `wall` Unix
    seconds (display and persistence only), `random` returns floats in [0, 1) for jitter.
    """

    __slots__ = (
        "_clock", "_closed_since", "_consecutive_failures", "_consecutive_successes",
        "_cooldown_until", "_delivering", "_generation", "_last_failure", "_leases", "_listeners",
        "_lock", "_next_lease", "_open_for", "_open_until", "_opened_at", "_pending", "_permit",
        "_random", "_since", "_slow_after", "_state", "_steady", "_throttle_streak",
        "_trip_streak", "_wall", "_window", "config", "name"
    )  # fmt: skip

    def __init__(
        self,
        name: str = "breaker",
        config: BreakerConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        wall: Clock = _wall_clock,
        random: Callable[[], float] = random.random,
        listeners: Iterable[Callable[[Transition], object]] = (),
    ) -> None:
        self.name = name
        self.config = config = config or BreakerConfig()
        self._clock = clock
        self._wall = wall
        self._random = random
        self._listeners = tuple(listeners)
        self._lock = threading.Lock()
        self._pending: list[Transition] = []  # a list: 56 bytes where a deque takes 760
        self._delivering = threading.Lock()
        self._slow_after = config.slow_call_threshold or math.inf

        now = clock()
        self._state = _CLOSED
        self._generation = 0
        self._permit = Permit(0)  # shared by every call admitted while CLOSED or DISABLED
        self._window = _Window(config.window, config.window_max_age, now)
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._throttle_streak = 0
        self._steady = True  # CLOSED with no failure or throttle streak: the lock-free path
        self._trip_streak = 0
        self._closed_since = now
        self._since = wall()
        self._opened_at: float | None = None
        self._open_until = 0.0
        self._open_for: float | None = None
        self._leases: dict[int, float] = {}
        self._next_lease = 1
        self._cooldown_until = 0.0
        self._last_failure: Outcome | None = None

    def __repr__(self) -> str:
        return f"<Breaker {self.name!r} {self._state}>"

    # -- admission -----------------------------------------------------------------------

    def try_acquire(self, lease: float | None = None) -> Permit | None:
        """A permit to make one call, or None if the call must not be made.

        `lease` bounds how long a half-open trial may take before it counts as failed
        (default `config.lease_timeout`); pass the call's deadline plus a little grace.
        """
        state = self._state
        if state is _CLOSED and not self._cooldown_until:
            return self._permit
        if state is _FORCED_OPEN or (state is _OPEN and self._clock() < self._open_until):
            return None  # refused without the lock: `_open_until` is set before the state
        decision = self._admit(lease)
        return decision if isinstance(decision, Permit) else None

    def acquire(self, lease: float | None = None) -> Permit:
        """Like `try_acquire`, but raises `BreakerOpen` instead of returning None."""
        if self._state is _CLOSED and not self._cooldown_until:
            return self._permit
        decision = self._admit(lease)
        if isinstance(decision, Permit):
            return decision
        raise self._rejection(decision)

    def allows_retry(self, permit: Permit) -> bool:
        """Whether the call holding `permit` may make another attempt.

        Not once the breaker has moved on (any transition since the permit was issued),
        and never for a half-open trial: a trial is one attempt, so a failing vendor sees
        exactly `half_open_permits` requests per open period.
        """
        return not permit.lease and permit.generation == self._generation

    def _rejection(self, reason: Rejection) -> BreakerOpen:
        with self._lock:
            now = self._clock()
            retry_after: float | None
            if reason is Rejection.FORCED_OPEN:
                retry_after = None
            elif reason is Rejection.HALF_OPEN_FULL:
                retry_after = min(self._leases.values(), default=now) - now
            else:
                retry_after = max(self._open_until, self._cooldown_until) - now
            return BreakerOpen(
                self.name,
                self._state,
                reason,
                None if retry_after is None else max(0.0, retry_after),
                self._last_failure,
                self._opened_at,
            )

    def _admit(self, lease: float | None) -> Permit | Rejection:
        events: list[Transition] = []
        with self._lock:
            decision = self._decide(self._clock(), lease, events)
        if events:
            self._publish(events)
        return decision

    def _decide(
        self, now: float, lease: float | None, events: list[Transition]
    ) -> Permit | Rejection:
        self._expire_leases(now, events)
        state = self._state
        if state is _DISABLED:
            return self._permit
        if state is _FORCED_OPEN:
            return Rejection.FORCED_OPEN
        if state is _OPEN and now < self._open_until:
            return Rejection.OPEN
        if self._cooldown_until:
            if now < self._cooldown_until:
                return Rejection.THROTTLED
            self._cooldown_until = 0.0
        if state is _CLOSED:
            return self._permit
        if state is _OPEN:
            self._transition(_HALF_OPEN, Cause.OPEN_ELAPSED, now, events)
        if len(self._leases) >= self.config.half_open_permits:
            return Rejection.HALF_OPEN_FULL
        lease_id = self._next_lease
        self._next_lease += 1
        deadline = now + (self.config.lease_timeout if lease is None else lease)
        self._leases[lease_id] = deadline
        return Permit(self._generation, lease_id, deadline)

    # -- outcomes ------------------------------------------------------------------------

    def record(self, permit: Permit, outcome: Outcome, duration: float | None = None) -> None:
        """Hand back `permit` with the call's outcome and, for slow-call counting, duration."""
        now = self._clock()  # read first: `_Window.since` fences appends that lose a race
        if (
            permit is self._permit
            and outcome.kind is _SUCCESS
            and self._steady
            and (duration is None or duration <= self._slow_after)
        ):
            # The healthy path: no lock unless a failure is still in the window.
            if not self._window.add_success(now):
                return
            events: list[Transition] = []
            with self._lock:
                if permit is self._permit and self._state is _CLOSED:
                    self._check_trip(None, now, events)
        else:
            events = []
            with self._lock:
                self._expire_leases(now, events)
                if permit.generation == self._generation:
                    if permit.lease:
                        self._leases.pop(permit.lease, None)
                    self._apply(outcome, duration, now, events)
        if events:
            self._publish(events)

    def _apply(
        self, outcome: Outcome, duration: float | None, now: float, events: list[Transition]
    ) -> None:
        kind = outcome.kind
        state = self._state
        if state is _DISABLED:
            return
        if kind is _SUCCESS:
            self._throttle_streak = 0
            self._consecutive_failures = 0
            self._steady = state is _CLOSED
            if state is _HALF_OPEN:
                self._consecutive_successes += 1
                if self._consecutive_successes >= self.config.success_threshold:
                    self._transition(_CLOSED, Cause.TRIAL_SUCCEEDED, now, events)
            elif duration is not None and duration > self._slow_after:
                self._window.add_bad(now, failed=False)
                self._check_trip(None, now, events)
            elif self._window.add_success(now):
                self._check_trip(None, now, events)
        elif kind is Kind.FAILURE:
            self._throttle_streak = 0
            self._fail(outcome, now, events)
        elif kind is Kind.THROTTLED:
            self._throttle_streak += 1
            self._steady = False
            cap = self.config.max_cooldown
            hint = outcome.retry_after
            if hint is None:  # no word from the server: back off 1 s, 2 s, 4 s ...
                hint = capped_exponential(1.0, 2.0, self._throttle_streak - 1, cap)
            self._cooldown_until = now + min(max(hint, 1.0), cap)
        # IGNORED, LOCAL and REJECTED only release the permit.

    def _fail(self, outcome: Outcome, now: float, events: list[Transition]) -> None:
        self._last_failure = outcome
        self._consecutive_failures += 1
        self._steady = False
        if self._state is _HALF_OPEN:
            cause = Cause.LEASE_EXPIRED if outcome is _LEASE_EXPIRED else Cause.TRIAL_FAILED
            self._trip(cause, outcome.retry_after, now, events)
        elif self._state is _CLOSED:
            self._window.add_bad(now, failed=True)
            self._check_trip(outcome.retry_after, now, events)

    def _check_trip(self, hint: float | None, now: float, events: list[Transition]) -> None:
        config = self.config
        cause: Cause | None = None
        if self._consecutive_failures >= config.failure_threshold:
            cause = Cause.CONSECUTIVE_FAILURES
        else:
            count, failures, slows = self._window.counts(now)
            if count >= config.min_calls:
                if failures / count >= config.failure_rate_threshold:
                    cause = Cause.FAILURE_RATE
                elif slows and slows / count >= config.slow_call_rate_threshold:
                    cause = Cause.SLOW_CALL_RATE
        if cause is not None:
            self._trip(cause, hint, now, events)

    def _expire_leases(self, now: float, events: list[Transition]) -> None:
        if self._leases and min(self._leases.values()) <= now:
            self._fail(_LEASE_EXPIRED, now, events)

    # -- transitions ---------------------------------------------------------------------

    def _streak(self, now: float) -> int:
        """The trip streak, after decay for the time spent healthy in CLOSED."""
        if self._state is not _CLOSED or not self._trip_streak:
            return self._trip_streak
        healthy = int((now - self._closed_since) // self.config.decay_interval)
        return max(0, self._trip_streak - healthy)

    def _trip(self, cause: Cause, hint: float | None, now: float, events: list[Transition]) -> None:
        config = self.config
        streak = self._streak(now) + 1
        self._trip_streak = streak
        base = capped_exponential(
            config.reset_timeout, config.backoff_multiplier, streak - 1, config.max_reset_timeout
        )
        open_for = base * (1.0 - config.open_jitter * self._random())
        if hint is not None and hint > open_for:
            open_for = min(hint, config.max_reset_timeout)
        self._open_for = open_for
        self._open_until = now + open_for
        if self._state is _CLOSED:
            self._opened_at = self._wall()
        self._transition(_OPEN, cause, now, events)

    def _transition(
        self, to_state: State, cause: Cause, now: float, events: list[Transition]
    ) -> None:
        from_state = self._state
        failure_rate = self._window.failure_rate(now) if from_state is _CLOSED else 0.0
        self._state = to_state
        self._steady = False  # until _clear_counters says otherwise
        self._generation += 1
        self._since = self._wall()
        self._leases.clear()
        self._consecutive_successes = 0
        if to_state is _CLOSED:
            self._clear_counters(now)
        if to_state in (_CLOSED, _DISABLED):
            self._permit = Permit(self._generation)
            self._opened_at = None
        if to_state not in (_OPEN, _HALF_OPEN):
            self._open_for = None
            self._open_until = 0.0
        events.append(
            Transition(
                breaker=self.name,
                from_state=from_state,
                to_state=to_state,
                cause=cause,
                generation=self._generation,
                at=self._since,
                at_monotonic=now,
                open_for=self._open_for if to_state is _OPEN else None,
                trip_streak=self._trip_streak,
                consecutive_failures=self._consecutive_failures,
                failure_rate=failure_rate,
                last_failure=self._last_failure,
            )
        )

    def _clear_counters(self, now: float) -> None:
        self._window.restart(now)
        self._consecutive_failures = 0
        self._steady = self._state is _CLOSED and not self._throttle_streak
        self._closed_since = now

    def _publish(self, events: list[Transition]) -> None:
        """Deliver events in commit order, outside the state lock, one deliverer at a time."""
        self._pending.extend(events)
        while self._pending:
            if not self._delivering.acquire(blocking=False):
                return  # the thread holding it will deliver ours too
            try:
                while self._pending:
                    event = self._pending.pop(0)
                    for listener in self._listeners:
                        try:
                            listener(event)
                        except Exception:
                            logger.exception(
                                "breaker %r: a transition listener failed; the state stands",
                                self.name,
                            )
            finally:
                self._delivering.release()

    # -- operator controls ---------------------------------------------------------------

    def force_open(self) -> None:
        """Reject every call until `reset()`."""
        self._manual(_FORCED_OPEN)

    def disable(self) -> None:
        """Admit every call and never trip, until `reset()`."""
        self._manual(_DISABLED)

    def reset(self) -> None:
        """Back to CLOSED with every counter, the trip streak and any cooldown cleared."""
        self._manual(_CLOSED)

    def _manual(self, to_state: State) -> None:
        events: list[Transition] = []
        with self._lock:
            now = self._clock()
            if to_state is _CLOSED:
                self._trip_streak = 0
                self._cooldown_until = 0.0
                self._throttle_streak = 0
                self._last_failure = None
                self._clear_counters(now)
            elif to_state is _FORCED_OPEN and self._opened_at is None:
                self._opened_at = self._wall()
            if to_state is not self._state:
                self._transition(to_state, Cause.MANUAL, now, events)
        self._publish(events)

    # -- observation ---------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (an expired half-open lease is noticed here too)."""
        if self._leases:
            events: list[Transition] = []
            with self._lock:
                self._expire_leases(self._clock(), events)
            self._publish(events)
        return self._state

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def open_until(self) -> float | None:
        """When OPEN, the monotonic time the next trial may start; plan the trial for then."""
        return self._open_until if self._state is _OPEN else None

    @property
    def open_remaining(self) -> float | None:
        """When OPEN, the seconds until the next trial may start (0 once it may)."""
        if self._state is not _OPEN:
            return None
        return max(0.0, self._open_until - self._clock())

    @property
    def cooldown_until(self) -> float | None:
        """Monotonic end of a throttling cooldown, if one is running."""
        return self._cooldown_until or None

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    @property
    def failure_rate(self) -> float:
        """Failure rate over the outcomes in the window (0 when it is empty)."""
        return self._window.failure_rate(self._clock())

    @property
    def trip_streak(self) -> int:
        return self._streak(self._clock())

    @property
    def since(self) -> float:
        """Wall-clock time of the last transition."""
        return self._since

    @property
    def opened_at(self) -> float | None:
        """Wall-clock time this incident began (the trip out of CLOSED), while not closed."""
        return self._opened_at

    @property
    def last_failure(self) -> Outcome | None:
        return self._last_failure

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> BreakerSnapshot:
        """The state to persist, with deadlines converted to wall-clock time."""
        with self._lock:
            now, wall = self._clock(), self._wall()

            def to_wall(deadline: float) -> float | None:
                return wall + (deadline - now) if deadline else None

            return BreakerSnapshot(
                state=self._state,
                trip_streak=self._streak(now),
                consecutive_failures=self._consecutive_failures,
                since=self._since,
                opened_at=self._opened_at,
                open_until=to_wall(self._open_until) if self._open_for is not None else None,
                open_for=self._open_for,
                cooldown_until=to_wall(self._cooldown_until),
                last_failure=self._last_failure,
                config_fingerprint=self.config.fingerprint,
            )

    def restore(self, snapshot: BreakerSnapshot) -> None:
        """Resume from `snapshot` without publishing a transition (docs/resilience.md).

        OPEN keeps its remaining time, clamped to [0, open_for] so a clock that went back
        while we were down cannot stretch it; HALF_OPEN comes back as OPEN with nothing
        remaining (its trials died with the process); FORCED_OPEN and DISABLED persist.
        Counters are kept only when the configuration fingerprint is unchanged.
        """
        with self._lock:
            now, wall = self._clock(), self._wall()
            state = snapshot.state
            self._leases.clear()
            self._window.restart(now)
            self._consecutive_successes = 0
            self._throttle_streak = 0
            self._generation += 1
            self._trip_streak = max(0, snapshot.trip_streak)
            same_config = snapshot.config_fingerprint == self.config.fingerprint
            self._consecutive_failures = snapshot.consecutive_failures if same_config else 0
            self._last_failure = snapshot.last_failure
            self._since = snapshot.since
            self._opened_at = snapshot.opened_at
            self._open_for = None
            self._open_until = 0.0
            if state in (_OPEN, _HALF_OPEN):
                open_for = snapshot.open_for or 0.0
                remaining = 0.0
                if state is _OPEN and snapshot.open_until is not None:
                    remaining = min(max(snapshot.open_until - wall, 0.0), open_for)
                self._open_for = open_for
                self._open_until = now + remaining
                state = _OPEN
                self._trip_streak = max(1, self._trip_streak)
            elif state is _CLOSED:
                self._opened_at = None
                self._closed_since = now
            self._state = state
            self._steady = state is _CLOSED and not self._consecutive_failures
            self._permit = Permit(self._generation)
            self._cooldown_until = 0.0
            if snapshot.cooldown_until is not None:
                remaining = min(max(snapshot.cooldown_until - wall, 0.0), self.config.max_cooldown)
                if remaining:
                    self._cooldown_until = now + remaining
