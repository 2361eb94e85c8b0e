"""Server hints about when to come back: Retry-After and rate-limit reset headers.

Pure functions of header values and a reference time. Precedence (docs/resilience.md, "Throttling"):
`Retry-After` in either RFC 9110 form (delay-seconds or an HTTP-date), then, on a 429
only, the vendor's reset header (`X-RateLimit-Reset`, which SendGrid sends as Unix epoch
seconds, or the draft-standard `RateLimit-Reset` in seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["http_date", "parse_retry_after", "retry_hint"]

_NUMBER = re.compile(r"\d{1,15}(?:\.\d{1,9})?")
# Below this a reset value is a delay in seconds; above it, a Unix timestamp (2001 onwards).
_EPOCH_THRESHOLD = 1_000_000_000.0


def _number(value: str) -> float | None:
    value = value.strip()
    return float(value) if _NUMBER.fullmatch(value) else None


def http_date(value: str) -> float | None:
    """An HTTP-date (RFC 9110) as Unix seconds, or None if it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" means UTC with no claim about the zone
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_retry_after(value: str, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After value, or None if it is not valid.

    `now` is the reference for the HTTP-date form: the response's own `Date` when it has
    one, so that a skewed local clock does not stretch or shrink the wait.
    """
    seconds = _number(value)
    if seconds is not None:
        return seconds
    when = http_date(value)
    return None if when is None else max(0.0, when - now)


def retry_hint(headers: Mapping[str, str], *, now: float, throttled: bool) -> float | None:
    """The server's hint, in seconds from the response, or None when it gave none.

    `headers` must look names up case-insensitively (as `httpx.Headers` does) or hold
    lower-case names. Reset headers count only when `throttled`: SendGrid sends
    `X-RateLimit-Reset` on every response, and on a 503 it says nothing about the outage.
    """
    date = headers.get("date")
    reference = http_date(date) if date else None
    if reference is None:
        reference = now
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        hint = parse_retry_after(retry_after, now=reference)
        if hint is not None:
            return hint
    if not throttled:
        return None
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        raw = headers.get(name)
        reset = _number(raw) if raw is not None else None
        if reset is not None:
            return max(0.0, reset - reference) if reset >= _EPOCH_THRESHOLD else reset
    return None
