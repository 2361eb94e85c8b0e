"""What a simulated vendor does to the next request: its mode, scripted sequences, and
how long a healthy answer takes.

Pure data and bookkeeping: the admin API sets a mode or queues a script; each request
takes the next fault. A script step lasts `times` requests; when the script runs out, the
vendor's mode applies again, so "fail 3 times, then succeed" is one step of `times: 3`.
A latency profile (normal, degrading, spike) slows the healthy answers, as a vendor that
is slow but working does.
"""

from __future__ import annotations

import enum
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Fault", "FaultError", "FaultPlan", "LatencyPlan", "LatencyProfile", "Malformed", "Mode",
]  # fmt: skip


class Mode(enum.StrEnum):
    HEALTHY = "healthy"
    ERROR = "5xx"  # a server error with the vendor's body (or an edge's HTML page)
    UNAVAILABLE = "503"  # 503 with Retry-After
    THROTTLED = "429"  # the vendor's own throttling answer and headers
    UNAUTHORIZED = "401"  # the vendor's exact answer to a refused credential
    SLOW = "slow"  # answer normally after `delay_ms`
    DRIP = "drip"  # answer normally, one body byte every `delay_ms`
    RESET = "reset"  # a TCP reset instead of an answer
    RESET_MID_BODY = "reset_mid_body"  # half the body, then a TCP reset
    MALFORMED = "malformed"  # 200 with a broken body (see `Malformed`)


class Malformed(enum.StrEnum):
    TRUNCATED = "truncated"  # the JSON cut in half
    HTML = "html"  # an HTML page labelled as JSON
    EMPTY = "empty"  # an empty 200


class FaultError(ValueError):
    """An admin request described an impossible fault; the message says which field."""


@dataclass(frozen=True, slots=True)
class Fault:
    mode: Mode = Mode.HEALTHY
    status: int = 500  # for 5xx
    html: bool = False  # for 5xx: an HTML error page, as CDN edges send
    retry_after: int | None = None  # for 503 (default 30) and 429 (default: vendor's own)
    delay_ms: int = 0  # for slow and drip
    body: Malformed = Malformed.TRUNCATED  # for malformed
    times: int = 1  # in a script: how many requests this step lasts
    # For 5xx: the text in the vendor's own error body, as a hostile or careless vendor
    # might send (markup, escape sequences, newlines); "{credential}" in it becomes the
    # credential the request presented, as a vendor that echoes it would.
    message: str | None = None

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Build from an admin API object, e.g. {"mode": "5xx", "status": 502}."""
        data = _fields(data, cls, "a fault must be a JSON object with a 'mode'")
        try:
            fault = cls(
                mode=Mode(data.get("mode", "healthy")),
                status=_int(data, "status", 500),
                html=bool(data.get("html", False)),
                retry_after=_int(data, "retry_after", None),
                delay_ms=_int(data, "delay_ms", 0),
                body=Malformed(data.get("body", "truncated")),
                times=_int(data, "times", 1),
                message=_text(data, "message"),
            )
        except ValueError as error:
            if isinstance(error, FaultError):
                raise
            choices = ", ".join(m.value for m in Mode) + " (body: truncated, html, empty)"
            raise FaultError(f"unknown mode or body; expected one of {choices}") from None
        if fault.mode is Mode.ERROR and not 500 <= fault.status <= 599:
            raise FaultError(f"status must be a 5xx code (got {fault.status})")
        if fault.times < 1:
            raise FaultError(f"times must be >= 1 (got {fault.times})")
        if fault.delay_ms < 0:
            raise FaultError(f"delay_ms must be >= 0 (got {fault.delay_ms})")
        return fault

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _fields(data: object, kind: type, problem: str) -> dict[str, Any]:
    """`data` as an admin API object of `kind`'s fields, or FaultError: `problem`, or the
    first field it does not have."""
    if not isinstance(data, dict):
        raise FaultError(problem)
    unknown = set(data) - set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise FaultError(f"unknown field {sorted(unknown)[0]!r}")
    return data


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise FaultError(f"{key} must be a string (got {value!r})")
    return value


def _int(data: dict[str, Any], key: str, default: int | None) -> Any:
    value = data.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise FaultError(f"{key} must be a whole number (got {value!r})")
    return value


class FaultPlan:
    """A vendor's standing mode plus a queue of scripted steps; safe across threads."""

    def __init__(self) -> None:
        self.mode = Fault()
        self._script: deque[list[Any]] = deque()  # [fault, requests left]
        self._lock = threading.Lock()

    def set_mode(self, fault: Fault) -> None:
        with self._lock:
            self.mode = fault
            self._script.clear()

    def play(self, steps: list[Fault]) -> None:
        """Replace the script: each step lasts its `times` requests, then the mode resumes."""
        with self._lock:
            self._script = deque([step, step.times] for step in steps)

    def next(self) -> Fault:
        with self._lock:
            if not self._script:
                return self.mode
            step = self._script[0]
            step[1] -= 1
            if step[1] == 0:
                self._script.popleft()
            fault: Fault = step[0]
            return fault

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self.mode.to_json(),
                "script": [{**f.to_json(), "times": left} for f, left in self._script],
            }


_PROFILES = ("normal", "degrading", "spike")


@dataclass(frozen=True)
class LatencyProfile:
    """How long a healthy answer takes (the admin API's `latency`), in milliseconds:
    `normal` takes `ms` give or take `jitter_ms`; `degrading` adds `per_second` for every
    second since it was set (a vendor slowly getting worse); `spike` takes `spike_ms` for
    the next `times` answers, then `ms` again."""

    profile: str = "normal"
    ms: int = 0
    jitter_ms: int = 0
    per_second: float = 0.0
    spike_ms: int = 0
    times: int = 0

    @classmethod
    def from_json(cls, data: Any) -> LatencyProfile:
        data = _fields(data, cls, "a latency profile must be a JSON object with a 'profile'")
        profile = data.get("profile", "normal")
        if profile not in _PROFILES:
            raise FaultError(f"unknown profile {profile!r}; expected one of {', '.join(_PROFILES)}")
        per_second = data.get("per_second", 0.0)
        if isinstance(per_second, bool) or not isinstance(per_second, int | float):
            raise FaultError(f"per_second must be a number (got {per_second!r})")
        ms, jitter, spike = (_int(data, key, 0) for key in ("ms", "jitter_ms", "spike_ms"))
        latency = cls(profile, ms, jitter, float(per_second), spike, _int(data, "times", 0))
        if min(latency.ms, latency.jitter_ms, latency.spike_ms, latency.times) < 0:
            raise FaultError("ms, jitter_ms, spike_ms and times must be >= 0")
        if latency.jitter_ms > latency.ms:
            raise FaultError("jitter_ms must be <= ms")
        return latency


class LatencyPlan:
    """A vendor's latency profile at work; safe across threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._random = random.Random(0)  # the same jitter every run
        self.set(LatencyProfile())

    def set(self, profile: LatencyProfile) -> None:
        with self._lock:
            self.profile, self._since, self._spikes = profile, self._clock(), profile.times

    def next(self) -> float:
        """Seconds the next healthy answer takes."""
        with self._lock:
            latency = self.profile
            if latency.profile == "spike" and self._spikes > 0:
                self._spikes -= 1
                return latency.spike_ms / 1000
            ms = latency.ms + self._random.uniform(-latency.jitter_ms, latency.jitter_ms)
            if latency.profile == "degrading":
                ms += latency.per_second * (self._clock() - self._since)
            return max(0.0, ms) / 1000

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {**asdict(self.profile), "spikes_left": self._spikes}
