"""Where notices are said: one sink per file (Slack's Web API, a Slack webhook, the console).

A sink sends one message at a time and raises `SinkError` when it could not, saying why in
a closed set of reasons (the `reason` label of `breakerwatch_notification_failures_total`)
and whether trying again can help. Sinks that can edit (`edits = True`) also update a
message in place and reply in its thread; the others get each notice's standalone message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from alerts.messages import Message
from alerts.stamp import Stamp
from probes.hints import retry_hint

__all__ = [
    "LOOKUPS",
    "SLACK_API",
    "TIMEOUT",
    "FailureReason",
    "Lookup",
    "Reconciling",
    "Sink",
    "SinkError",
    "SinkStats",
    "retry_after",
]

SLACK_API = "https://slack.com/api/"  # the Web API's base URL, `[alerts.slack] base_url`
TIMEOUT = 10  # seconds per Slack request
MAX_RETRY_AFTER = 900.0  # the longest a Retry-After may pause a sink: a wild one cannot
# hold the alerts back for days


class FailureReason(enum.StrEnum):
    RATE_LIMITED = "rate_limited"  # 429: wait Retry-After
    SERVER_ERROR = "server_error"  # 5xx, internal_error, fatal_error, a non-JSON answer
    NETWORK = "network"  # connect, reset, timeout
    AUTH = "auth"  # the token or webhook was refused or revoked: fix the config
    CHANNEL = "channel"  # channel missing, archived, or the bot is not in it
    PAYLOAD = "payload"  # Slack refused this message (blocks, length)
    GONE = "gone"  # the message to edit no longer exists


LOOKUPS = ("found", "absent", "unsure", "adopted")  # the `outcome` label of the lookups


@dataclass
class SinkStats:
    """One sink's notification counters, read by /metrics from another thread."""

    sent: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    exactly_once: bool | None = None  # None: not known yet
    # Unsure resends looked up first, by what was found: "found" (it was there: adopted, not
    # sent again), "absent" (provably not: sent), "unsure" (could not tell: sent anyway);
    # and "adopted", an open incident's message from before a lost state taken up again.
    lookups: dict[str, int] = field(default_factory=dict)

    def failed(self, reason: FailureReason) -> None:
        self.failures = {**self.failures, reason.value: self.failures.get(reason.value, 0) + 1}

    def looked(self, outcome: str) -> None:
        self.lookups = {**self.lookups, outcome: self.lookups.get(outcome, 0) + 1}


class SinkError(Exception):
    """A send failed. `uncertain`: the request may have been acted on all the same (a
    timeout, a dropped connection or a 5xx after it was sent)."""

    def __init__(
        self,
        reason: FailureReason,
        message: str,
        retry_after: float | None = None,
        *,
        uncertain: bool = False,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.code = code  # the vendor's own error string, where it gave one


@dataclass(frozen=True, slots=True)
class Lookup:
    """What looking for a stamped message found: `where` it is, `(channel, ts)`; or None and
    `sure`, provably not there; or not `sure`: it could not be told (the reason in `why`)."""

    where: tuple[str, str] | None
    sure: bool = True
    why: str = ""


class Sink(Protocol):
    name: str  # the `channel` label of the notification metrics
    edits: bool

    async def post(
        self,
        message: Message,
        thread: tuple[str, str] | None = None,
        stamp: Stamp | None = None,
    ) -> tuple[str, str]:
        """Send `message` (into the thread `(channel, ts)` if given, carrying `stamp` where
        the sink can); its (channel, ts)."""
        ...

    async def update(
        self, where: tuple[str, str], message: Message, stamp: Stamp | None = None
    ) -> None:
        """Replace the message at `(channel, ts)` (and its stamp, if given)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Reconciling(Sink, Protocol):
    """A sink that can find what it sent (Slack with a bot token and the history scope):
    every message carries a stamp, and an unsure resend looks for it first."""

    identity: str  # the daemon's, in every stamp
    # Seconds after an unsure attempt began before it is looked up: a request Slack received
    # late, or holds, gets that long to show in the history before we decide it is absent.
    settle: float

    @property
    def exactly_once(self) -> bool | None:
        """Whether every unsure resend can be looked up; None until `prepare` has learned it."""
        ...

    @property
    def why_not(self) -> str:
        """What to add or fix, when not `exactly_once`."""
        ...

    async def prepare(self, since: float) -> list[tuple[Stamp, tuple[str, str]]]:
        """Learn the channel's ID and whether its history can be read; the open threads this
        daemon's stamps head in it since `since` (newest first). Raises `SinkError` when it
        could not find out (and should be asked again)."""
        ...

    async def find(
        self, stamp: Stamp, since: float, thread: tuple[str, str] | None = None
    ) -> Lookup:
        """Look for the message `stamp` marks, sent at `since` or later, in the channel (or
        in `thread`)."""
        ...


def retry_after(headers: Mapping[str, object], now: float) -> float | None:
    """Seconds from a response's Retry-After, in either form RFC 9110 allows (seconds, or
    an HTTP-date read against the response's own Date), at most `MAX_RETRY_AFTER`; None if
    it has none or it is not one."""
    plain = {
        name.lower(): value[0] if isinstance(value, list) and value else value
        for name, value in headers.items()
    }
    strings = {name: value for name, value in plain.items() if isinstance(value, str)}
    seconds = retry_hint(strings, now=now, throttled=False)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)
