"""Retries: full-jitter backoff, server hints, a per-call deadline and a retry budget.

- `RetryPolicy.backoff` is the pure maths: Full Jitter with the cap applied before the
  jitter, `U(0, min(max_delay, base_delay * backoff_factor**(n-1)))` for retry n.
- `RetryPolicy.delay` adds the server's hint: never retry sooner than it asks, and give up
  at once when the hint, or the backoff, would end past the deadline.
- `RetryBudget` is a gRPC-style token bucket per integration: a failed attempt costs a
  token, a success earns back `token_ratio`, retries happen only while more than half the
  tokens remain, with a floor of one retry per `floor_interval` so a probe that runs once
  a minute can still retry.
- `Retrier.run` is the loop: it never sleeps past the deadline and stops the moment its
  `proceed` check (the breaker's) says no.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

from probes._settings import DURATION, SETTING, Checks, InvalidSetting
from probes.outcome import Kind, Outcome

__all__ = ["Retrier", "RetryBudget", "RetryPolicy", "Stop", "capped_exponential"]


def capped_exponential(base: float, factor: float, exponent: int, cap: float) -> float:
    """`min(cap, base * factor**exponent)`, without overflow for any exponent."""
    if factor > 1 and exponent > math.log(cap / base, factor):
        return cap
    return min(cap, base * factor**exponent)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry one call; durations in seconds."""

    max_attempts: int = field(default=3, metadata=SETTING)  # including the first
    base_delay: float = field(default=1.0, metadata=DURATION)
    max_delay: float = field(default=10.0, metadata=DURATION)
    backoff_factor: float = field(default=2.0, metadata=SETTING)
    jitter: bool = field(default=True, metadata=SETTING)

    def __post_init__(self) -> None:
        _check_retry(self).raise_first()

    @classmethod
    def problems(cls, **settings: Any) -> list[InvalidSetting]:
        """Every invalid setting among `settings` (the others at their defaults)."""
        values = {f.name: f.default for f in fields(cls)} | settings
        return _check_retry(SimpleNamespace(**values)).problems

    def backoff(self, retry: int, random: Callable[[], float]) -> float:
        """The delay before retry number `retry` (1 for the first retry)."""
        capped = capped_exponential(self.base_delay, self.backoff_factor, retry - 1, self.max_delay)
        return capped * random() if self.jitter else capped

    def delay(
        self, retry: int, hint: float | None, remaining: float, random: Callable[[], float]
    ) -> float | None:
        """Seconds to wait before retry `retry`, or None to give up.

        `hint` is the server's Retry-After in seconds; the wait is never shorter. Gives up
        when the wait would end at or past `remaining`, the time left before the deadline.
        """
        wait = self.backoff(retry, random)
        if hint is not None:
            wait = max(wait, hint)
        return wait if wait < remaining else None


def _check_retry(values: Any) -> Checks:
    c = Checks(values)
    c.at_least("max_attempts", 1, integer=True, maximum=100)
    base = c.greater_than("base_delay", 0, maximum=3600)
    maximum = c.number("max_delay") and c.at_most("max_delay", 3600)
    c.not_below("max_delay", "base_delay", valid=maximum and base)
    c.at_least("backoff_factor", 1, maximum=100)
    if not isinstance(values.jitter, bool):
        c.problems.append(InvalidSetting("jitter", "must be true or false", values.jitter))
    return c


_BUDGET_DEFAULTS = (10.0, 0.1, 60.0)  # valid: not checked again for each of 10,000 budgets


class RetryBudget:
    """A token bucket limiting retries for one integration; safe under threads."""

    __slots__ = (
        "_clock", "_floor_used_at", "_lock", "_tokens", "floor_interval", "max_tokens",
        "token_ratio"
    )  # fmt: skip

    def __init__(
        self,
        max_tokens: float = _BUDGET_DEFAULTS[0],
        token_ratio: float = _BUDGET_DEFAULTS[1],
        floor_interval: float = _BUDGET_DEFAULTS[2],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (max_tokens, token_ratio, floor_interval) != _BUDGET_DEFAULTS:  # those are valid
            values = SimpleNamespace(
                max_tokens=max_tokens, token_ratio=token_ratio, floor_interval=floor_interval
            )
            checks = Checks(values)
            for setting in ("max_tokens", "token_ratio", "floor_interval"):
                checks.greater_than(setting, 0)
            checks.raise_first()
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.floor_interval = floor_interval
        self._clock = clock
        self._tokens = max_tokens
        self._floor_used_at = -math.inf
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        return self._tokens

    def record(self, outcome: Outcome) -> None:
        """Account for one attempt's outcome: failures cost, successes earn."""
        with self._lock:
            if outcome.kind is Kind.SUCCESS:
                self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)
            elif outcome.kind in (Kind.FAILURE, Kind.THROTTLED):
                self._tokens = max(0.0, self._tokens - 1.0)

    def try_spend(self) -> bool:
        """Whether one more retry may be made now."""
        with self._lock:
            if self._tokens > self.max_tokens / 2:
                return True
            now = self._clock()
            if now - self._floor_used_at >= self.floor_interval:
                self._floor_used_at = now
                return True
            return False


class Stop(enum.StrEnum):
    """Why the retry loop ended."""

    DONE = "done"  # success, or an outcome that is not retried
    ATTEMPTS = "attempts"  # max_attempts reached
    DEADLINE = "deadline"  # the next wait would end past the deadline
    BUDGET = "budget"  # the retry budget is spent
    REJECTED = "rejected"  # the breaker no longer admits this call


class _HasOutcome(Protocol):
    @property
    def outcome(self) -> Outcome: ...


T = TypeVar("T", bound=_HasOutcome)


class Retrier:
    """Runs an attempt function until it succeeds or a retry would be wrong."""

    __slots__ = ("_clock", "_random", "_sleep", "budget", "policy")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.budget = budget
        self._clock = clock
        self._sleep = sleep
        self._random = random

    async def run(
        self,
        attempt: Callable[[int, float], Awaitable[T]],
        *,
        deadline: float,
        proceed: Callable[[], bool] = lambda: True,
    ) -> tuple[T, Stop]:
        """Call `attempt(number, remaining_seconds)` until done; return the last result.

        `deadline` is on this retrier's clock. `proceed` is asked before every retry;
        when it says no (the breaker moved on), the loop stops at once.
        """
        number = 1
        while True:
            result = await attempt(number, deadline - self._clock())
            outcome = result.outcome
            if self.budget is not None:
                self.budget.record(outcome)
            if not outcome.retryable:
                return result, Stop.DONE
            if number >= self.policy.max_attempts:
                return result, Stop.ATTEMPTS
            if not proceed():
                return result, Stop.REJECTED
            wait = self.policy.delay(
                number, outcome.retry_after, deadline - self._clock(), self._random
            )
            if wait is None:
                return result, Stop.DEADLINE
            if self.budget is not None and not self.budget.try_spend():
                return result, Stop.BUDGET
            await self._sleep(wait)
            if not proceed():
                return result, Stop.REJECTED
            number += 1
