"""The alert policy: what to say about breaker events, and when. Pure: no I/O, no clock.

`Policy.step(state, events, now, silenced)` consumes events and the passage of time and
returns the notices to send; `state` (a `PolicyState`) is everything the policy remembers,
and round-trips through JSON so the outbox can store it in the same transaction as the
notices it led to. Given the same state, events and time it always decides the same.

Rules (docs/alerts.md says why each is there):
- An incident starts when a breaker opens and ends when it closes. A breaker that opens
  again while its incident is unresolved (a restart, a failed trial) continues the incident.
- Flap damping: more than `flap_max_transitions` opens and closes within `flap_window`
  send one "flapping" notice, then nothing until none happened for `flap_window`, then one
  "stable" summary with the state it settled in.
- Storm grouping: the first opening is told at once; openings within `storm_window` of it
  are held until the window ends. If the burst reaches `storm_min_integrations`, the first
  opening's thread becomes one grouped storm message; otherwise each held opening is told
  on its own, late by at most the window. Openings while a storm is active join it.
- Parents: while an integration that others depend on is open (a parent named in their
  `depends_on`, or an `egress` canary, the "is it us?" integration every other one depends
  on), its children's openings are held on its thread ("3 integrations behind corp-proxy").
  When it closes, its resolution lists them; those still failing then become incidents of
  their own. A child that opens while its parents are healthy waits up to `storm_window`
  first, so a parent failing at the same moment takes it in; a child's close is never held.
- Vendor status: when the vendor's status page posts or resolves an incident, an incident
  told is updated (a thread reply); while the breaker is closed, a vendor incident is a
  heads-up of its own only with `vendor_incident` in `notify_on`.
- Silences and maintenance windows: openings are recorded, not told; a resolution of an
  incident told before the silence is still told (suppress creation, never resolution);
  when the silence ends, one summary, which opens the incident if it is still failing.
- Reminders every `repeat_interval` (0: none) while an incident is open.
- 401/403 (auth) and long 429 (throttled) incidents are their own kinds, for their wording.
  The daemon says when 429s begin and end; throttling becomes an incident once it has
  lasted `throttled_after`.
- An integration no longer probed here (removed from the config, or now another shard's)
  ends its incidents like a close, told as "no longer watched", never as a recovery.
- An operator's hold on a breaker (forced open, disabled), breakerwatch's own trouble
  (probes failing for want of our own file descriptors, ports or memory) and a credential
  that lacks scopes the application's writes need are incidents told when they start,
  change and end, whatever else is going on: no silence, storm, flap damping or parent
  holds them back, and no reminder repeats them. A scope check that finds what the
  incident already says (a restart, a reload) tells nothing.
- Slow but working (degraded) is an incident of its own the same way, except that one
  beginning during a silence is not told. So are canary writes failing while the reads
  succeed; told once, however often they fail again (a restart).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from alerts.model import (
    AlertSettings,
    Event,
    EventKind,
    Facts,
    Failure,
    IncidentKind,
    Notice,
    NoticeKind,
    VerdictKind,
)

__all__ = ["Hold", "Policy", "PolicyState", "Silenced", "incident_key"]

Silenced = Callable[[str, float], str | None]  # (integration, time) -> the silence's reason


class Hold(enum.StrEnum):
    """Why an incident is not told yet."""

    BURST = "burst"  # it opened within a storm window: told when the window ends
    EGRESS = "egress"  # a parent it depends on (an egress canary) is open: held on its thread
    WAITING = "parent"  # its parents are healthy, but one may open in a moment: told later
    SILENCE = "silence"  # a silence or maintenance window covers it


@dataclass
class Incident:
    facts: Facts
    thread: str
    told: bool = False  # a notice opened its thread
    held: Hold | None = None  # not told yet, and why
    group: str | None = None  # the storm or parent's thread it belongs to
    last_told: float = 0.0
    until: float = 0.0  # WAITING: when it is told if no parent has opened


@dataclass
class Group:
    """A storm, or the openings held behind an open parent; keyed by its thread."""

    members: dict[str, Facts] = field(default_factory=dict)
    last_join: float = 0.0
    storm: bool = False


@dataclass
class Burst:
    thread: str  # the first opening's thread, which becomes the storm's
    first: str
    deadline: float
    held: list[str] = field(default_factory=list)
    recovered: dict[str, Facts] = field(default_factory=dict)


@dataclass
class Flap:
    thread: str
    since: float
    last: float
    count: int


@dataclass
class PolicyState:
    next_id: int = 1
    incidents: dict[str, Incident] = field(default_factory=dict)  # by integration key
    transitions: dict[str, list[float]] = field(default_factory=dict)  # opens and closes
    flapping: dict[str, Flap] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)  # by thread
    storm: str | None = None  # the active storm's thread
    burst: Burst | None = None
    gates: dict[str, str] = field(default_factory=dict)  # open parent (canary) -> its thread
    silenced: dict[str, list[Facts]] = field(default_factory=dict)  # what a silence hid
    throttling: dict[str, Facts] = field(default_factory=dict)  # 429s since, not long yet

    def throttled(self, integration: str) -> bool:
        """Whether the policy knows `integration` as throttled (for long, or not yet)."""
        key = incident_key(integration, IncidentKind.THROTTLED)
        return integration in self.throttling or key in self.incidents

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyState:
        def facts(d: dict[str, Any]) -> Facts:
            return Facts.from_json(d)

        burst = data.get("burst")
        return cls(
            next_id=data["next_id"],
            incidents={
                k: Incident(
                    **{
                        **v,
                        "facts": facts(v["facts"]),
                        "held": Hold(v["held"]) if v["held"] else None,
                    }
                )
                for k, v in data["incidents"].items()
            },
            transitions=data["transitions"],
            flapping={k: Flap(**v) for k, v in data["flapping"].items()},
            groups={
                k: Group(**{**v, "members": {m: facts(f) for m, f in v["members"].items()}})
                for k, v in data["groups"].items()
            },
            storm=data.get("storm"),
            burst=None
            if burst is None
            else Burst(
                **{**burst, "recovered": {k: facts(v) for k, v in burst["recovered"].items()}}
            ),
            gates=data.get("gates", data.get("egress", {})),  # "egress" before depends_on
            silenced={k: [facts(f) for f in v] for k, v in data["silenced"].items()},
            throttling={k: facts(v) for k, v in data.get("throttling", {}).items()},
        )


# The events of incidents told on their own: (the incident's kind, whether it starts).
_STANDALONE = {
    EventKind.OVERRIDDEN: (IncidentKind.OVERRIDE, True),
    EventKind.OVERRIDE_ENDED: (IncidentKind.OVERRIDE, False),
    EventKind.LOCAL_TROUBLE: (IncidentKind.LOCAL, True),
    EventKind.LOCAL_TROUBLE_ENDED: (IncidentKind.LOCAL, False),
    EventKind.SCOPES_MISSING: (IncidentKind.SCOPES, True),
    EventKind.SCOPES_GRANTED: (IncidentKind.SCOPES, False),
    EventKind.DEGRADED: (IncidentKind.DEGRADED, True),
    EventKind.DEGRADED_ENDED: (IncidentKind.DEGRADED, False),
    EventKind.WRITES_FAILING: (IncidentKind.WRITES, True),
    EventKind.WRITES_RECOVERED: (IncidentKind.WRITES, False),
}
_REMINDED = (IncidentKind.OUTAGE, IncidentKind.AUTH, IncidentKind.THROTTLED)


def incident_key(integration: str, kind: IncidentKind) -> str:
    """The key of an integration's incident of `kind` in `PolicyState.incidents`: an
    integration has at most one of each (an outage or an auth failure share one)."""
    if kind in (IncidentKind.OUTAGE, IncidentKind.AUTH):
        return integration
    return f"{integration}:{kind.value}"


def _kind(failure: Failure | None, throttled: bool = False) -> IncidentKind:
    if throttled:
        return IncidentKind.THROTTLED
    if failure is not None and failure.reason == "auth":
        return IncidentKind.AUTH
    return IncidentKind.OUTAGE


class Policy:
    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings

    def step(
        self, state: PolicyState, events: list[Event], now: float, silenced: Silenced
    ) -> list[Notice]:
        """Apply `events` (oldest first), then whatever is due at `now`; the notices to send."""
        out: list[Notice] = []
        for event in events:
            self._event(state, event, silenced, out)
        self._tick(state, now, silenced, out)
        return out

    # -- events --------------------------------------------------------------------------

    def _event(
        self, state: PolicyState, event: Event, silenced: Silenced, out: list[Notice]
    ) -> None:
        self._end_burst(state, event.at, out)  # a window that ended before this event
        kind = event.kind
        if kind is EventKind.THROTTLING:  # told by `_tick` once it has lasted
            facts = Facts(event.integration, IncidentKind.THROTTLED, event.at, event.failure)
            state.throttling.setdefault(event.integration, facts)
            return
        if kind in (EventKind.THROTTLED, EventKind.THROTTLE_ENDED):
            self._throttle(state, event, silenced, out)
            return
        if kind is EventKind.DEGRADED and silenced(event.integration, event.at) is not None:
            return  # slow during a silence: not told (nor its end: no incident was opened)
        if kind in _STANDALONE:
            self._standalone(state, event, out)
            return
        if kind is EventKind.VENDOR:
            self._vendor(state, event, silenced, out)
            return
        if kind is EventKind.RETIRED:  # its incidents end, told as such: nobody watches it here
            state.throttling.pop(event.integration, None)
            self._closed(state, replace(event, kind=EventKind.CLOSED), out, retired=True)
            ended = replace(event, kind=EventKind.THROTTLE_ENDED)
            self._throttle(state, ended, silenced, out, retired=True)
            for ending in (EventKind.OVERRIDE_ENDED, EventKind.SCOPES_GRANTED,
                           EventKind.DEGRADED_ENDED, EventKind.WRITES_RECOVERED):  # fmt: skip
                self._standalone(state, replace(event, kind=ending), out, retired=True)
            return
        if kind in (EventKind.OPENED, EventKind.CLOSED) and self._flapping(state, event, out):
            return
        if kind is EventKind.OPENED:
            self._opened(state, event, silenced, out)
        elif kind is EventKind.CLOSED:
            self._closed(state, event, out)
        else:
            self._trial(state, event, out)

    def _new(self, state: PolicyState, facts: Facts) -> Incident:
        incident = Incident(facts, _mint(state, facts.integration))
        state.incidents[_key(facts)] = incident
        return incident

    def _tell(self, incident: Incident, out: list[Notice], at: float) -> None:
        incident.told, incident.held, incident.last_told = True, None, at
        out.append(Notice(NoticeKind.OPENED, incident.thread, at, incident.facts))

    def _opened(
        self, state: PolicyState, event: Event, silenced: Silenced, out: list[Notice]
    ) -> None:
        name = event.integration
        facts = _opened_facts(event)
        current = state.incidents.get(name)
        if current is not None:  # the same unresolved incident (a restart, a missed close)
            current.facts = replace(current.facts, failure=event.failure,
                                    failed_probes=event.failed_probes,
                                    next_trial_at=event.next_trial_at,
                                    verdict=event.verdict or current.facts.verdict)  # fmt: skip
            return
        incident = self._new(state, facts)
        reason = silenced(name, event.at)
        if reason is not None:
            incident.held = Hold.SILENCE
            state.silenced.setdefault(name, []).append(facts)
            return
        if self._behind(state, incident, event.at, out):
            return
        if facts.gate:
            self._open_gate(state, incident, event.at, out)
            return
        if facts.parents:  # a parent failing at the same moment may open in a moment
            incident.held, incident.until = Hold.WAITING, event.at + self.settings.storm_window
            return
        self._announce(state, incident, event.at, out)

    def _behind(self, state: PolicyState, incident: Incident, at: float, out: list[Notice]) -> bool:
        """Hold `incident` on the thread of an open parent of its (or an egress canary);
        whether it was."""
        facts = incident.facts
        name = facts.integration
        parent = next((p for p in facts.parents if p in state.gates), None)
        if parent is None and not facts.egress:
            parent = next((g for g in state.gates if _canary(state, g)), None)
        if parent is None or parent == name or parent not in state.incidents:
            return False
        thread = state.gates[parent]
        incident.held, incident.group = Hold.EGRESS, thread
        group = state.groups.setdefault(thread, Group())
        group.members[name] = facts
        out.append(Notice(NoticeKind.HELD, thread, at, state.incidents[parent].facts,
                          tuple(group.members.values()), quiet=True))  # fmt: skip
        return True

    def _open_gate(
        self, state: PolicyState, incident: Incident, at: float, out: list[Notice]
    ) -> None:
        """A parent opened: told at once, and its children waiting or held in a storm
        window join its thread."""
        name = incident.facts.integration
        state.gates[name] = incident.thread
        state.groups[incident.thread] = Group()
        self._tell(incident, out, at)
        waiting = [i for i in state.incidents.values()
                   if i.held in (Hold.WAITING, Hold.BURST) and name in i.facts.parents]  # fmt: skip
        for child in waiting:
            if child.held is Hold.BURST and state.burst is not None:
                state.burst.held.remove(child.facts.integration)
            self._behind(state, child, at, out)

    def _announce(
        self, state: PolicyState, incident: Incident, at: float, out: list[Notice]
    ) -> None:
        """Tell an opening now, or as part of a storm or a storm window."""
        name = incident.facts.integration
        window = self.settings.storm_window
        storm = state.groups.get(state.storm) if state.storm else None
        if storm is not None and state.storm and at - storm.last_join <= window:
            self._join_storm(state, state.storm, incident, at, out)
            return
        burst = state.burst
        if burst is not None and at <= burst.deadline:
            incident.held = Hold.BURST
            burst.held.append(name)
            return
        state.burst = Burst(incident.thread, name, at + window)
        self._tell(incident, out, at)

    def _join_storm(
        self, state: PolicyState, thread: str, incident: Incident, at: float, out: list[Notice]
    ) -> None:
        group = state.groups[thread]
        name = incident.facts.integration
        group.members[name] = incident.facts
        group.last_join = at
        incident.told, incident.held, incident.group, incident.last_told = True, None, thread, at
        out.append(Notice(NoticeKind.UPDATED, thread, at, incident.facts,
                          tuple(group.members.values()), change="joined",
                          count=len(group.members)))  # fmt: skip

    def _trial(self, state: PolicyState, event: Event, out: list[Notice]) -> None:
        incident = state.incidents.get(event.integration)
        if incident is None:
            return
        facts = incident.facts
        if event.kind is EventKind.TRIAL_FAILED:
            facts = replace(facts, failure=event.failure or facts.failure,
                            failed_probes=facts.failed_probes + 1,
                            next_trial_at=event.next_trial_at,
                            verdict=event.verdict or facts.verdict)  # fmt: skip
        incident.facts = facts
        if incident.group in state.groups:
            state.groups[incident.group].members[event.integration] = facts
        if not incident.told or event.integration in state.flapping:
            return
        loud = "half_open" in self.settings.notify_on
        thread = incident.group or incident.thread
        out.append(Notice(NoticeKind.UPDATED, thread, event.at, facts, _members(state, incident),
                          change=event.kind.value, quiet=not loud))  # fmt: skip

    def _closed(
        self, state: PolicyState, event: Event, out: list[Notice], *, retired: bool = False
    ) -> None:
        name = event.integration
        incident = state.incidents.pop(name, None)
        if incident is None:
            return
        facts = replace(incident.facts, closed_at=event.at, retired=retired)
        if incident.held is Hold.SILENCE:
            state.silenced.setdefault(name, []).append(facts)
            return
        if incident.held is Hold.BURST and state.burst is not None:
            state.burst.held.remove(name)
            state.burst.recovered[name] = facts
            return
        if incident.held is Hold.WAITING:  # over before it was told
            return
        if incident.held is Hold.EGRESS:
            group = state.groups.get(incident.group or "")
            if group is not None:
                group.members[name] = facts
            return
        if name in state.gates:
            self._canary_closed(state, incident, facts, event.at, out)
            return
        if incident.group is not None and incident.group in state.groups:
            self._member_closed(state, incident.group, facts, event.at, out)
            return
        if state.burst is not None and state.burst.first == name:
            state.burst.recovered[name] = facts
        if incident.told and "close" in self.settings.notify_on:
            out.append(Notice(NoticeKind.RESOLVED, incident.thread, event.at, facts))

    def _member_closed(
        self, state: PolicyState, thread: str, facts: Facts, at: float, out: list[Notice]
    ) -> None:
        group = state.groups[thread]
        group.members[facts.integration] = facts
        members = tuple(group.members.values())
        if any(m.closed_at is None for m in members):
            out.append(Notice(NoticeKind.UPDATED, thread, at, facts, members,
                              change="recovered", count=len(members), quiet=True))  # fmt: skip
            return
        del state.groups[thread]
        if state.storm == thread:
            state.storm = None
        if "close" in self.settings.notify_on:
            out.append(Notice(NoticeKind.RESOLVED, thread, at, None, members, count=len(members)))

    def _canary_closed(
        self, state: PolicyState, incident: Incident, facts: Facts, at: float, out: list[Notice]
    ) -> None:
        thread = state.gates.pop(facts.integration)
        members = tuple(state.groups.pop(thread, Group()).members.values())
        if "close" in self.settings.notify_on:
            out.append(Notice(NoticeKind.RESOLVED, incident.thread, at, facts, members))
        self._release(state, members, at, out)

    def _release(
        self, state: PolicyState, members: tuple[Facts, ...], at: float, out: list[Notice]
    ) -> None:
        """The openings a parent held back, still failing with the parent back: real
        incidents now (or held behind another parent still open)."""
        for member in members:
            held = state.incidents.get(member.integration)
            if held is not None and held.held is Hold.EGRESS:
                held.held, held.group = None, None
                if self._behind(state, held, at, out):
                    continue
                if held.facts.gate:
                    self._open_gate(state, held, at, out)
                else:
                    self._tell(held, out, at)

    def _throttle(
        self,
        state: PolicyState,
        event: Event,
        silenced: Silenced,
        out: list[Notice],
        *,
        retired: bool = False,
    ) -> None:
        key = incident_key(event.integration, IncidentKind.THROTTLED)
        if event.kind is EventKind.THROTTLED:
            if key in state.incidents:
                return
            facts = Facts(event.integration, IncidentKind.THROTTLED, event.at, event.failure)
            incident = self._new(state, facts)
            if silenced(event.integration, event.at) is not None:
                incident.held = Hold.SILENCE
                state.silenced.setdefault(event.integration, []).append(facts)
            else:
                self._tell(incident, out, event.at)
            return
        state.throttling.pop(event.integration, None)
        ended = state.incidents.pop(key, None)
        if ended is None:
            return
        facts = replace(ended.facts, closed_at=event.at, retired=retired)
        if ended.held is Hold.SILENCE:
            state.silenced.setdefault(event.integration, []).append(facts)
        elif ended.told and "close" in self.settings.notify_on:
            out.append(Notice(NoticeKind.RESOLVED, ended.thread, event.at, facts))

    def _standalone(
        self, state: PolicyState, event: Event, out: list[Notice], *, retired: bool = False
    ) -> None:
        kind, starts = _STANDALONE[event.kind]
        key = incident_key(event.integration, kind)
        incident = state.incidents.get(key)
        if starts:
            facts = Facts(event.integration, kind, event.at, event.failure,
                          override=event.override, scopes=event.scopes,
                          slow=event.slow)  # fmt: skip
            if incident is None:
                self._tell(self._new(state, facts), out, event.at)
                return
            if kind is IncidentKind.SCOPES and incident.facts.scopes == event.scopes:
                return  # checked again (a restart, a reload): nothing new to tell
            if kind is IncidentKind.WRITES:
                return  # still failing (after a restart): the message already says so
            incident.facts = replace(incident.facts, failure=event.failure,
                                     override=event.override, scopes=event.scopes)  # fmt: skip
            out.append(Notice(NoticeKind.UPDATED, incident.thread, event.at, incident.facts,
                              change=event.kind.value,
                              quiet=kind is IncidentKind.LOCAL))  # fmt: skip
            return
        ended = state.incidents.pop(key, None)
        if ended is None:
            return
        held = ended.facts.override
        if held is not None and event.override is not None:
            held = replace(held, ended_by=event.override.by, ended_reason=event.override.reason)
        slow = event.slow or ended.facts.slow
        facts = replace(ended.facts, closed_at=event.at, retired=retired, override=held, slow=slow)
        out.append(Notice(NoticeKind.RESOLVED, ended.thread, event.at, facts))

    def _vendor(
        self, state: PolicyState, event: Event, silenced: Silenced, out: list[Notice]
    ) -> None:
        """The vendor's status page posted or resolved an incident: an incident of ours
        learns the new verdict (told in its thread); with our breaker closed, a heads-up."""
        name, verdict = event.integration, event.verdict
        incident = state.incidents.get(name)
        if incident is not None:
            incident.facts = replace(incident.facts, verdict=verdict)
            group = state.groups.get(incident.group or "")
            if group is not None:
                group.members[name] = incident.facts
            if incident.told and name not in state.flapping:
                out.append(Notice(NoticeKind.UPDATED, incident.group or incident.thread,
                                  event.at, incident.facts, _members(state, incident),
                                  change="vendor"))  # fmt: skip
            return
        key = incident_key(name, IncidentKind.VENDOR)
        current = state.incidents.get(key)
        confirms = verdict is not None and verdict.kind is VerdictKind.VENDOR
        if current is not None and confirms:
            current.facts = replace(current.facts, verdict=verdict)
            out.append(Notice(NoticeKind.UPDATED, current.thread, event.at, current.facts,
                              change="vendor"))  # fmt: skip
        elif current is not None:
            del state.incidents[key]
            facts = replace(current.facts, closed_at=event.at, verdict=verdict)
            out.append(Notice(NoticeKind.RESOLVED, current.thread, event.at, facts))
        elif confirms and self._heads_up(name, event.at, silenced):
            facts = Facts(name, IncidentKind.VENDOR, event.at, verdict=verdict)
            self._tell(self._new(state, facts), out, event.at)

    def _heads_up(self, name: str, at: float, silenced: Silenced) -> bool:
        """Whether a vendor incident with our breaker closed is told at all."""
        return "vendor_incident" in self.settings.notify_on and silenced(name, at) is None

    def _flapping(self, state: PolicyState, event: Event, out: list[Notice]) -> bool:
        """Count the transition; True if flap damping takes the event (nothing else to do)."""
        name, window = event.integration, self.settings.flap_window
        recent = [t for t in state.transitions.get(name, []) if event.at - t < window]
        recent.append(event.at)
        state.transitions[name] = recent
        flap = state.flapping.get(name)
        if flap is not None:
            flap.count += 1
            flap.last = event.at
            self._track_quietly(state, event, out)
            return True
        if len(recent) <= self.settings.flap_max_transitions:
            return False
        incident = state.incidents.get(name)
        if incident is not None and incident.told and incident.group is None:
            thread = incident.thread
        else:
            thread = _mint(state, name)
        state.flapping[name] = Flap(thread, recent[0], event.at, len(recent))
        self._track_quietly(state, event, out)
        current = state.incidents.get(name)
        if current is not None:
            current.thread, current.told, current.held, current.group = thread, True, None, None
        facts = current.facts if current else Facts(name, IncidentKind.OUTAGE, event.at)
        out.append(Notice(NoticeKind.FLAPPING, thread, event.at, facts, count=len(recent)))
        return True

    def _track_quietly(self, state: PolicyState, event: Event, out: list[Notice]) -> None:
        """Keep the incident's existence in step with the breaker while flapping. A canary
        that closes while flapping holds nobody back any more."""
        name = event.integration
        if event.kind is EventKind.OPENED:
            facts = _opened_facts(event)
            incident = state.incidents.get(name)
            if incident is None:
                flap = state.flapping.get(name)
                thread = flap.thread if flap else _mint(state, name)
                state.incidents[name] = Incident(facts, thread, told=True)
            else:
                incident.facts = facts
        else:
            state.incidents.pop(name, None)
            gate = state.gates.pop(name, None)
            if gate is not None:
                members = tuple(state.groups.pop(gate, Group()).members.values())
                self._release(state, members, event.at, out)

    # -- time ----------------------------------------------------------------------------

    def _tick(self, state: PolicyState, now: float, silenced: Silenced, out: list[Notice]) -> None:
        for waiting in list(state.incidents.values()):
            if waiting.held is Hold.WAITING and now >= waiting.until:
                waiting.held = None  # no parent opened meanwhile: on its own
                self._announce(state, waiting, now, out)
        for name, begun in list(state.throttling.items()):
            if now - begun.opened_at >= self.settings.throttled_after:
                del state.throttling[name]
                long = Event(name, EventKind.THROTTLED, begun.opened_at, begun.failure)
                self._throttle(state, long, silenced, out)
        self._end_burst(state, now, out)
        for name, flap in list(state.flapping.items()):
            if now - flap.last >= self.settings.flap_window:
                del state.flapping[name]
                state.transitions.pop(name, None)
                incident = state.incidents.get(name)
                facts = (
                    incident.facts
                    if incident
                    else Facts(name, IncidentKind.OUTAGE, flap.since, closed_at=flap.last)
                )
                if incident is not None:
                    incident.last_told = now
                out.append(Notice(NoticeKind.STABLE, flap.thread, now, facts, count=flap.count))
        for name, hidden in list(state.silenced.items()):
            reason = silenced(name, now)
            if reason is not None:
                continue
            del state.silenced[name]
            self._silence_ended(state, name, hidden, now, out)
        repeat = self.settings.repeat_interval
        if repeat > 0:
            for incident in state.incidents.values():
                if (
                    incident.told
                    and incident.group is None
                    and incident.facts.kind in _REMINDED
                    and incident.facts.integration not in state.flapping
                    and now - incident.last_told >= repeat
                ):
                    incident.last_told = now
                    out.append(Notice(NoticeKind.REMINDER, incident.thread, now, incident.facts))

    def _end_burst(self, state: PolicyState, now: float, out: list[Notice]) -> None:
        """Tell what a storm window held once it is over."""
        burst = state.burst
        if burst is not None and now > burst.deadline:
            state.burst = None
            self._burst_ended(state, burst, now, out)

    def _burst_ended(self, state: PolicyState, burst: Burst, now: float, out: list[Notice]) -> None:
        first = state.incidents.get(burst.first)
        if first is not None and first.thread != burst.thread:
            first = None  # the first closed and opened again: a later incident, not this one
        everyone: dict[str, Facts] = dict(burst.recovered)
        if first is not None:
            everyone[burst.first] = first.facts
        held = [state.incidents[n] for n in burst.held if n in state.incidents]
        for incident in held:
            everyone[incident.facts.integration] = incident.facts
        if len(everyone) < self.settings.storm_min_integrations:
            for incident in held:
                self._tell(incident, out, now)
            return
        # The storm takes over the first opening's message, unless that one is resolved.
        thread = burst.thread if first is not None else _mint(state, burst.first)
        group = Group(dict(sorted(everyone.items(), key=lambda kv: kv[1].opened_at)), now, True)
        state.groups[thread] = group
        state.storm = thread
        for incident in [first, *held] if first is not None else held:
            if incident is not None:
                incident.told, incident.held, incident.group = True, None, thread
                incident.last_told = now
        members = tuple(group.members.values())
        if all(m.closed_at is not None for m in members):  # over before it was grouped
            del state.groups[thread]
            state.storm = None
            out.append(Notice(NoticeKind.RESOLVED, thread, now, None, members,
                              count=len(members)))  # fmt: skip
            return
        out.append(Notice(NoticeKind.STORM, thread, now, None, members, count=len(members)))

    def _silence_ended(
        self, state: PolicyState, name: str, hidden: list[Facts], now: float, out: list[Notice]
    ) -> None:
        still = [
            state.incidents[key]
            for key in (name, incident_key(name, IncidentKind.THROTTLED))
            if key in state.incidents and state.incidents[key].held is Hold.SILENCE
        ]
        for incident in still:  # still failing: the summary opens the incident
            incident.told, incident.held, incident.last_told = True, None, now
            out.append(Notice(NoticeKind.SILENCE_ENDED, incident.thread, now, incident.facts,
                              tuple(hidden), count=len(hidden)))  # fmt: skip
        if not still:
            thread = _mint(state, name)
            last = hidden[-1]
            out.append(Notice(NoticeKind.SILENCE_ENDED, thread, now, last, tuple(hidden),
                              count=len(hidden)))  # fmt: skip


def _members(state: PolicyState, incident: Incident) -> tuple[Facts, ...]:
    """Who shares `incident`'s message: its storm's members, or those held behind it."""
    name = incident.facts.integration
    group = state.groups.get(incident.group or state.gates.get(name) or "")
    return tuple(group.members.values()) if group else ()


def _canary(state: PolicyState, name: str) -> bool:
    incident = state.incidents.get(name)
    return incident is not None and incident.facts.egress


def _key(facts: Facts) -> str:
    return incident_key(facts.integration, facts.kind)


def _mint(state: PolicyState, integration: str) -> str:
    """A new thread id, never given before: the one place ids are made."""
    thread = f"{integration}#{state.next_id}"
    state.next_id += 1
    return thread


def _opened_facts(event: Event) -> Facts:
    """The facts of the incident an OPENED event starts."""
    return Facts(event.integration, _kind(event.failure), event.at, event.failure,
                 event.failed_probes, event.next_trial_at, egress=event.egress,
                 verdict=event.verdict, parents=event.parents,
                 gate=event.gate or event.egress)  # fmt: skip
