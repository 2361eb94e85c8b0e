"""What a simulated vendor does to the next request: its mode, and scripted sequences.

Pure data and bookkeeping: the admin API sets a mode or queues a script; each request
takes the next fault. A script step lasts `times` requests; when the script runs out, the
vendor's mode applies again, so "fail 3 times, then succeed" is one step of `times: 3`.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Fault", "FaultError", "FaultPlan", "Malformed", "Mode"]


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
        if not isinstance(data, dict):
            raise FaultError("a fault must be a JSON object with a 'mode'")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise FaultError(f"unknown field {sorted(unknown)[0]!r}")
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
