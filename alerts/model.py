"""What flows through alerting: events in (from breaker transitions), notices out (to sinks).

Both are plain frozen data with a JSON form, because both are stored in the outbox: an event
is written in the same transaction as its transition, a notice in the same transaction as
the policy decision that produced it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any

from probes import State, Transition

__all__ = [
    "AlertSettings",
    "Event",
    "EventKind",
    "Facts",
    "Failure",
    "IncidentKind",
    "Notice",
    "NoticeKind",
    "Override",
    "Slow",
    "Verdict",
    "VerdictKind",
    "event_from_transition",
]


class EventKind(enum.StrEnum):
    OPENED = "opened"  # closed -> open: an incident starts
    TRIAL = "trial"  # open -> half_open: a trial probe is running
    TRIAL_FAILED = "trial_failed"  # half_open -> open: still failing
    CLOSED = "closed"  # -> closed: the incident ends
    THROTTLING = "throttling"  # 429s began: an incident once they last `throttled_after`
    THROTTLED = "throttled"  # 429s for longer than the threshold: an incident now
    THROTTLE_ENDED = "throttle_ended"
    RETIRED = "retired"  # no longer probed here: removed from the config, or another shard's
    OVERRIDDEN = "overridden"  # an operator forced the breaker open or disabled it
    OVERRIDE_ENDED = "override_ended"  # an operator reset it
    LOCAL_TROUBLE = "local_trouble"  # probes fail for want of our own resources
    LOCAL_TROUBLE_ENDED = "local_trouble_ended"
    VENDOR = "vendor"  # the vendor posted or resolved an incident on its status page
    SCOPES_MISSING = "scopes_missing"  # the vendor says the credential lacks `scopes`
    SCOPES_GRANTED = "scopes_granted"  # it now has every scope it needs
    DEGRADED = "degraded"  # slow but working: far above its usual latency, for a while
    DEGRADED_ENDED = "degraded_ended"  # back to its usual speed
    WRITES_FAILING = "writes_failing"  # the canary writes fail while the reads succeed
    WRITES_RECOVERED = "writes_recovered"  # the canary writes succeed again


class IncidentKind(enum.StrEnum):
    OUTAGE = "outage"  # 5xx, timeouts, connection errors, bad responses
    AUTH = "auth"  # 401/403: our credential was refused; the vendor is up
    THROTTLED = "throttled"  # 429 for long: the vendor is up and limiting us
    OVERRIDE = "override"  # an operator holds the breaker (forced open or disabled)
    LOCAL = "local"  # breakerwatch itself is in trouble (file descriptors, ports, memory)
    VENDOR = "vendor"  # the vendor has an incident while our breaker is closed: a heads-up
    SCOPES = "scopes"  # the credential lacks scopes the application's writes need
    DEGRADED = "degraded"  # slow but working
    WRITES = "writes"  # the canary writes fail while the reads (the probes) succeed


class VerdictKind(enum.StrEnum):
    """Is it them or us? The values are the `verdict` label in Alertmanager."""

    VENDOR = "vendor_confirms"  # their status page shows an incident or a component down
    US = "only_us_so_far"  # their page says all is well
    OURS = "our_side"  # our network, a parent integration, or our credential
    UNKNOWN = "unknown"  # their page could not be read, or there is none


@dataclass(frozen=True, slots=True)
class Verdict:
    """One line's worth of "is it them or us", from what the daemon knew when it said it:
    `detail` is plain printable text (what makes it so), `link` the vendor's incident or
    status page, `since` when the vendor's incident began."""

    kind: VerdictKind
    detail: str
    link: str | None = None
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Slow:
    """How slow a degraded integration is: its recent p95 latency, its usual (baseline)
    latency, and the line the p95 crossed, in seconds."""

    p95: float
    baseline: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Failure:
    """The last failure, as the classifier saw it (the detail is already redacted)."""

    reason: str | None = None
    status: int | None = None
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Override:
    """An operator's hold on a breaker: which, who, why; and who ended it."""

    mode: str  # "forced_open" or "disabled"
    by: str  # an admin token's label, a user, or "local"
    reason: str
    ended_by: str = ""
    ended_reason: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    integration: str
    kind: EventKind
    at: float  # wall clock
    failure: Failure | None = None
    failed_probes: int = 0
    next_trial_at: float | None = None
    egress: bool = False
    cause: str = ""
    override: Override | None = None
    verdict: Verdict | None = None
    parents: tuple[str, ...] = ()  # the integrations it depends on (`depends_on`, transitively)
    gate: bool = False  # other integrations depend on it: their openings wait behind its own
    scopes: tuple[str, ...] = ()  # SCOPES_MISSING: the scopes the credential lacks
    slow: Slow | None = None  # DEGRADED and DEGRADED_ENDED: how slow

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(**{**data, "kind": EventKind(data["kind"]), **_nested(data)})


def _nested(data: dict[str, Any]) -> dict[str, Any]:
    """The nested records of an event's or a facts' JSON form, rebuilt."""
    failure, override, verdict = data.get("failure"), data.get("override"), data.get("verdict")
    return {
        "failure": Failure(**failure) if failure else None,
        "override": Override(**override) if override else None,
        "verdict": Verdict(**{**verdict, "kind": VerdictKind(verdict["kind"])})
        if verdict
        else None,
        "parents": tuple(data.get("parents", ())),
        "scopes": tuple(data.get("scopes", ())),
        "slow": Slow(**data["slow"]) if data.get("slow") else None,
    }


def event_from_transition(
    transition: Transition,
    *,
    egress: bool = False,
    parents: tuple[str, ...] = (),
    gate: bool = False,
    verdict: Verdict | None = None,
) -> Event | None:
    """The alert event of a breaker transition, or None for operator states."""
    before, after = transition.from_state, transition.to_state
    if after is State.OPEN:
        kind = EventKind.TRIAL_FAILED if before is State.HALF_OPEN else EventKind.OPENED
    elif after is State.HALF_OPEN:
        kind = EventKind.TRIAL
    elif after is State.CLOSED:
        kind = EventKind.CLOSED
    else:
        return None  # forced_open / disabled: the operator did it and knows
    outcome = transition.last_failure
    failure = None
    if outcome is not None and after is not State.CLOSED:
        failure = Failure(
            reason=outcome.reason.value if outcome.reason else None,
            status=outcome.status,
            error=outcome.error,
            detail=outcome.detail,
        )
    return Event(
        integration=transition.breaker,
        kind=kind,
        at=transition.at,
        failure=failure,
        failed_probes=transition.consecutive_failures,
        next_trial_at=transition.open_until,
        egress=egress,
        cause=transition.cause.value,
        verdict=verdict if after is not State.CLOSED else None,
        parents=parents,
        gate=gate or egress,
    )


@dataclass(frozen=True, slots=True)
class Facts:
    """One integration's incident, as a message shows it."""

    integration: str
    kind: IncidentKind
    opened_at: float
    failure: Failure | None = None
    failed_probes: int = 0
    next_trial_at: float | None = None
    closed_at: float | None = None
    egress: bool = False
    # The failure's reason when the incident began: kept while `failure` follows the latest
    # (it is part of the incident's identity in Alertmanager, the `reason` label).
    first_reason: str | None = None
    retired: bool = False  # closed because it is no longer probed here, not because it recovered
    override: Override | None = None  # an OVERRIDE incident's hold
    verdict: Verdict | None = None  # is it them or us, as last judged
    # The verdict's kind when the incident began: Alertmanager's `verdict` label, which is
    # part of the alert's identity and so never changes within an incident.
    first_verdict: str | None = None
    parents: tuple[str, ...] = ()
    gate: bool = False
    scopes: tuple[str, ...] = ()  # a SCOPES incident's missing scopes
    slow: Slow | None = None  # a DEGRADED incident's latency, as last told

    def __post_init__(self) -> None:
        if self.first_reason is None and self.failure is not None:
            object.__setattr__(self, "first_reason", self.failure.reason)
        if self.first_verdict is None and self.verdict is not None:
            object.__setattr__(self, "first_verdict", self.verdict.kind.value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        return cls(**{**data, "kind": IncidentKind(data["kind"]), **_nested(data)})


class NoticeKind(enum.StrEnum):
    OPENED = "opened"  # a new incident message
    UPDATED = "updated"  # the incident changed (trial, failed trial, a storm member joined)
    RESOLVED = "resolved"  # the incident is over
    REMINDER = "reminder"  # still open after repeat_interval
    FLAPPING = "flapping"  # too many transitions: one message, then quiet until stable
    STABLE = "stable"  # flapping ended; the summary
    STORM = "storm"  # several integrations opened together: one grouped message
    HELD = "held"  # openings held while a parent (an egress canary) is down (quiet edit)
    SILENCE_ENDED = "silence_ended"  # what happened during a silence or maintenance window
    TEST = "test"  # `breakerwatch test-alert`


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell people about one thread (an incident, a storm, a summary).

    `subject` is the incident the thread is about; `members` the integrations grouped in it
    (a storm, the openings held behind a parent or an egress canary, the transitions of a
    silence);
    `change` names what an UPDATED notice reports; `quiet` notices only refresh the thread's
    message where a sink can edit (Slack with a bot token) and are not sent elsewhere.
    """

    kind: NoticeKind
    thread: str
    at: float
    subject: Facts | None = None
    members: tuple[Facts, ...] = ()
    change: str = ""
    count: int = 0  # transitions (flapping, silence) or members (storm)
    reason: str = ""  # the silence's reason
    quiet: bool = False

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["subject"] = self.subject.to_json() if self.subject else None
        data["members"] = [m.to_json() for m in self.members]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        subject = data.get("subject")
        return cls(
            **{**data, "kind": NoticeKind(data["kind"]),
               "subject": Facts.from_json(subject) if subject else None,
               "members": tuple(Facts.from_json(m) for m in data.get("members", ()))}
        )  # fmt: skip


@dataclass(frozen=True)
class AlertSettings:
    """`[alerts]` of config.toml (docs/alerts.md); durations in seconds."""

    notify_on: frozenset[str] = frozenset({"open", "close"})
    flap_window: float = 900.0
    flap_max_transitions: int = 4
    storm_window: float = 30.0
    storm_min_integrations: int = 3
    repeat_interval: float = 0.0
    throttled_after: float = 600.0
    dashboard_url: str | None = None
    max_silence: float = 7 * 86400.0  # the longest silence an operator may set
