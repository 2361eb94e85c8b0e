"""The alert policy, driven by a fake clock (plain numbers: the policy never reads a clock).

Every scenario runs through `Run`, which round-trips the policy state through JSON between
steps, as the outbox does; a policy that kept anything outside its state would fail here.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import (
    AlertSettings,
    Event,
    EventKind,
    Failure,
    IncidentKind,
    Notice,
    NoticeKind,
    Override,
    Slow,
    Verdict,
    VerdictKind,
)
from alerts.policy import Hold, Policy, PolicyState

T0 = 1_790_000_000.0
FAIL = Failure("http_5xx", 503, "HTTPStatusError", "HTTP 503 Service Unavailable")
AUTH = Failure("auth", 401, "HTTPStatusError", "HTTP 401 Unauthorized")
CONFIRMED = Verdict(VerdictKind.VENDOR, 'status.kit.com reports "API errors"', None, T0 - 60)
ONLY_US = Verdict(VerdictKind.US, "status.kit.com says All Systems Operational")


class Run:
    def __init__(
        self, silenced: dict[str, tuple[float, float]] | None = None, **settings: object
    ) -> None:
        self.policy = Policy(AlertSettings(**settings))  # type: ignore[arg-type]
        self.state = json.dumps(PolicyState().to_json())
        self.silences = silenced or {}
        self.told: list[Notice] = []

    def silenced(self, name: str, now: float) -> str | None:
        window = self.silences.get(name) or self.silences.get("*")
        return "deploy" if window and window[0] <= now < window[1] else None

    def step(self, now: float, *events: Event) -> list[Notice]:
        state = PolicyState.from_json(json.loads(self.state))
        notices = self.policy.step(state, list(events), now, self.silenced)
        self.state = json.dumps(state.to_json())
        for notice in notices:  # notices round-trip too: they are stored in the outbox
            assert Notice.from_json(json.loads(json.dumps(notice.to_json()))) == notice
        self.told += notices
        return notices

    @property
    def current(self) -> PolicyState:
        return PolicyState.from_json(json.loads(self.state))


def opened(name: str, at: float, failure: Failure = FAIL, **kw: object) -> Event:
    return Event(name, EventKind.OPENED, at, failure, 5, at + 30, **kw)  # type: ignore[arg-type]


def closed(name: str, at: float, **kw: object) -> Event:
    return Event(name, EventKind.CLOSED, at, **kw)  # type: ignore[arg-type]


def kinds(notices: list[Notice]) -> list[str]:
    return [n.kind.value for n in notices]


def test_open_then_close_is_one_thread_opened_then_resolved() -> None:
    run = Run()
    (first,) = run.step(T0, opened("mailchimp", T0))
    assert first.kind is NoticeKind.OPENED
    assert first.subject is not None
    assert first.subject.failed_probes == 5
    assert first.subject.next_trial_at == T0 + 30
    (last,) = run.step(T0 + 600, closed("mailchimp", T0 + 600))
    assert last.kind is NoticeKind.RESOLVED
    assert last.thread == first.thread
    assert last.subject is not None
    assert last.subject.closed_at == T0 + 600
    assert run.current.incidents == {}


def test_reopening_an_unresolved_incident_is_not_a_new_incident() -> None:
    run = Run()
    (first,) = run.step(T0, opened("hubspot", T0))
    # A restart: the breaker comes back open and opens again; the incident is the same one.
    assert run.step(T0 + 60, opened("hubspot", T0 + 60)) == []
    (resolved,) = run.step(T0 + 90, closed("hubspot", T0 + 90))
    assert resolved.thread == first.thread
    assert resolved.subject is not None
    assert resolved.subject.opened_at == T0


def test_a_failed_trial_is_quiet_unless_half_open_is_asked_for() -> None:
    run = Run()
    run.step(T0, opened("kit", T0))
    trial = Event("kit", EventKind.TRIAL, T0 + 30)
    failed = Event("kit", EventKind.TRIAL_FAILED, T0 + 31, FAIL, 6, T0 + 91)
    quiet = run.step(T0 + 31, trial, failed)
    assert [n.quiet for n in quiet] == [True, True]  # the message's facts refresh, nobody is pinged
    assert quiet[-1].subject is not None
    assert quiet[-1].subject.failed_probes == 6
    loud = Run(notify_on=frozenset({"open", "close", "half_open"}))
    loud.step(T0, opened("kit", T0))
    notices = loud.step(T0 + 31, trial, failed)
    assert [(n.change, n.quiet) for n in notices] == [("trial", False), ("trial_failed", False)]


def test_auth_failures_are_their_own_kind_of_incident() -> None:
    run = Run()
    (notice,) = run.step(T0, opened("sendgrid", T0, AUTH))
    assert notice.subject is not None
    assert notice.subject.kind is IncidentKind.AUTH


def test_long_throttling_is_an_incident_and_ends() -> None:
    run = Run()
    throttled = Failure("throttled", 429, None, "HTTP 429 Too Many Requests")
    (start,) = run.step(T0, Event("hubspot", EventKind.THROTTLED, T0 - 600, throttled))
    assert start.subject is not None
    assert start.subject.kind is IncidentKind.THROTTLED
    assert run.step(T0 + 1, Event("hubspot", EventKind.THROTTLED, T0 - 600, throttled)) == []
    (end,) = run.step(T0 + 60, Event("hubspot", EventKind.THROTTLE_ENDED, T0 + 60))
    assert end.kind is NoticeKind.RESOLVED
    assert end.thread == start.thread


def test_an_integration_no_longer_probed_ends_its_incidents_as_such() -> None:
    """Removed from the config (or moved to another shard) while failing and throttled:
    both threads end, marked retired; a second retirement, or one with nothing open, is
    nothing."""
    run = Run()
    throttled = Failure("throttled", 429, None, "HTTP 429 Too Many Requests")
    run.step(T0, opened("hubspot", T0), Event("hubspot", EventKind.THROTTLED, T0, throttled))
    ended = run.step(T0 + 60, Event("hubspot", EventKind.RETIRED, T0 + 60))
    assert kinds(ended) == ["resolved", "resolved"]
    assert all(n.subject is not None and n.subject.retired for n in ended)
    assert run.current.incidents == {}
    assert run.step(T0 + 61, Event("hubspot", EventKind.RETIRED, T0 + 61)) == []
    assert run.step(T0 + 62, Event("kit", EventKind.RETIRED, T0 + 62)) == []


def test_flapping_becomes_one_message_then_quiet_then_one_summary() -> None:
    run = Run(flap_window=900.0, flap_max_transitions=4)
    t = T0
    for i in range(4):  # open, close, open, close: told as usual
        run.step(t, opened("mailchimp", t) if i % 2 == 0 else closed("mailchimp", t))
        t += 60
    assert kinds(run.told) == ["opened", "resolved", "opened", "resolved"]
    (flapping,) = run.step(t, opened("mailchimp", t))  # the fifth within 15 minutes
    assert flapping.kind is NoticeKind.FLAPPING
    assert flapping.count == 5
    for i in range(6):  # keeps flapping: nothing said
        t += 60
        assert run.step(t, closed("mailchimp", t) if i % 2 == 0 else opened("mailchimp", t)) == []
    last = t
    assert run.step(last + 899) == []  # not yet stable for a whole window
    (stable,) = run.step(last + 900)
    assert stable.kind is NoticeKind.STABLE
    assert stable.thread == flapping.thread
    assert stable.count == 11
    assert stable.subject is not None
    assert stable.subject.closed_at is None  # it settled open: the incident goes on
    (resolved,) = run.step(last + 1000, closed("mailchimp", last + 1000))
    assert resolved.kind is NoticeKind.RESOLVED
    assert resolved.thread == flapping.thread


def test_a_storm_of_four_is_one_grouped_message_on_the_first_thread() -> None:
    run = Run(storm_window=30.0, storm_min_integrations=3)
    (first,) = run.step(T0, opened("mailchimp", T0))
    assert first.kind is NoticeKind.OPENED  # the first opening is told at once
    for i, name in enumerate(("hubspot", "kit", "sendgrid"), 1):
        assert run.step(T0 + i * 5, opened(name, T0 + i * 5)) == []  # held
    (storm,) = run.step(T0 + 31)
    assert storm.kind is NoticeKind.STORM
    assert storm.thread == first.thread
    assert [m.integration for m in storm.members] == ["mailchimp", "hubspot", "kit", "sendgrid"]
    recoveries = [run.step(T0 + 100 + i, closed(n, T0 + 100 + i)) for i, n in
                  enumerate(("hubspot", "kit", "mailchimp"))]  # fmt: skip
    assert all(n.quiet and n.change == "recovered" for (n,) in recoveries)
    (done,) = run.step(T0 + 200, closed("sendgrid", T0 + 200))
    assert done.kind is NoticeKind.RESOLVED
    assert done.thread == first.thread
    assert done.count == 4
    assert len({n.thread for n in run.told}) == 1  # one thread, one Slack message


def test_an_opening_during_a_storm_joins_it() -> None:
    run = Run(storm_window=30.0, storm_min_integrations=3)
    for i, name in enumerate(("a", "b", "c")):
        run.step(T0 + i, opened(name, T0 + i))
    (storm,) = run.step(T0 + 31)
    (joined,) = run.step(T0 + 40, opened("d", T0 + 40))
    assert joined.kind is NoticeKind.UPDATED
    assert joined.change == "joined"
    assert joined.thread == storm.thread
    assert joined.count == 4


def test_a_burst_below_the_storm_size_is_told_one_by_one() -> None:
    run = Run(storm_window=30.0, storm_min_integrations=3)
    run.step(T0, opened("a", T0))
    assert run.step(T0 + 10, opened("b", T0 + 10)) == []
    (late,) = run.step(T0 + 31)
    assert late.kind is NoticeKind.OPENED
    assert late.subject is not None
    assert late.subject.integration == "b"
    assert len({n.thread for n in run.told}) == 2


def test_egress_gating_holds_openings_behind_the_canary() -> None:
    run = Run()
    (canary,) = run.step(T0, opened("egress", T0, egress=True))
    assert canary.subject is not None
    assert canary.subject.egress
    held = run.step(T0 + 5, opened("hubspot", T0 + 5), opened("kit", T0 + 6))
    assert [(n.kind, n.quiet, n.thread) for n in held] == [
        (NoticeKind.HELD, True, canary.thread)
    ] * 2
    assert [m.integration for m in held[-1].members] == ["hubspot", "kit"]
    assert run.step(T0 + 50, closed("kit", T0 + 50)) == []  # recovered behind the canary
    notices = run.step(T0 + 60, closed("egress", T0 + 60))
    assert kinds(notices) == ["resolved", "opened"]
    assert [m.integration for m in notices[0].members] == ["hubspot", "kit"]
    assert notices[1].subject is not None
    assert notices[1].subject.integration == "hubspot"


def test_a_canary_that_closes_while_flapping_holds_nobody_back() -> None:
    """Found by the property test below: a canary whose close was taken by flap damping
    left its gate up, so every later opening waited behind a canary that was healthy."""
    run = Run(flap_max_transitions=3)
    run.step(T0, opened("egress", T0, egress=True))
    held = run.step(T0 + 1, opened("hubspot", T0 + 1))
    assert kinds(held) == ["held"]
    again = [opened("egress", T0 + 2, egress=True), opened("egress", T0 + 3, egress=True)]
    assert run.step(T0 + 3, *again) == []  # the same incident, told again after restarts
    (told, flapping) = run.step(T0 + 4, closed("egress", T0 + 4))  # the fourth transition
    assert kinds([told, flapping]) == ["opened", "flapping"]  # hubspot is still failing
    assert told.subject is not None
    assert told.subject.integration == "hubspot"
    assert run.current.gates == {}
    (later,) = run.step(T0 + 5, opened("kit", T0 + 5))
    assert later.kind is NoticeKind.OPENED  # on its own: nothing holds it back


def test_a_storm_never_takes_over_a_message_already_resolved() -> None:
    """Found by the property test below: the first opening of a burst recovered, and the
    storm was told on its resolved thread; and an opening that came after the window ended,
    before the clock's own turn, started a new burst and lost what the old one held."""
    run = Run(storm_min_integrations=2)
    (first,) = run.step(T0, opened("kit", T0))
    (resolved,) = run.step(T0 + 1, closed("kit", T0 + 1))
    assert resolved.thread == first.thread
    assert run.step(T0 + 2, opened("hubspot", T0 + 2)) == []  # held: inside the window
    storm, joined = run.step(T0 + 31, opened("kit", T0 + 31))
    assert (storm.kind, joined.kind) == (NoticeKind.STORM, NoticeKind.UPDATED)
    assert storm.thread != first.thread
    assert joined.thread == storm.thread
    assert [m.integration for m in storm.members] == ["kit", "hubspot"]
    assert not [i for i in run.current.incidents.values() if i.held is not None]


def test_a_silence_spanning_an_outage_sends_one_summary_when_it_ends() -> None:
    run = Run(silenced={"mailchimp": (T0, T0 + 3600)})
    assert run.step(T0 + 60, opened("mailchimp", T0 + 60)) == []
    assert run.step(T0 + 600, closed("mailchimp", T0 + 600)) == []
    assert run.step(T0 + 3599) == []
    (summary,) = run.step(T0 + 3600)
    assert summary.kind is NoticeKind.SILENCE_ENDED
    assert summary.count == 2
    assert summary.subject is not None
    assert summary.subject.closed_at == T0 + 600
    assert run.step(T0 + 3700) == []


def test_still_failing_when_the_silence_ends_opens_the_incident() -> None:
    run = Run(silenced={"*": (T0, T0 + 600)})
    run.step(T0 + 60, opened("kit", T0 + 60))
    (summary,) = run.step(T0 + 600)
    assert summary.kind is NoticeKind.SILENCE_ENDED
    assert summary.subject is not None
    assert summary.subject.closed_at is None
    (resolved,) = run.step(T0 + 700, closed("kit", T0 + 700))
    assert resolved.kind is NoticeKind.RESOLVED
    assert resolved.thread == summary.thread


def test_an_incident_told_before_a_silence_still_resolves_during_it() -> None:
    run = Run(silenced={"kit": (T0 + 100, T0 + 1000)})
    (first,) = run.step(T0, opened("kit", T0))
    (resolved,) = run.step(T0 + 200, closed("kit", T0 + 200))
    assert resolved.kind is NoticeKind.RESOLVED
    assert resolved.thread == first.thread


def test_reminders_every_repeat_interval_while_open() -> None:
    run = Run(repeat_interval=3600.0)
    run.step(T0, opened("hubspot", T0))
    assert run.step(T0 + 3599) == []
    (reminder,) = run.step(T0 + 3600)
    assert reminder.kind is NoticeKind.REMINDER
    assert run.step(T0 + 3601) == []
    assert kinds(run.step(T0 + 7200)) == ["reminder"]
    run.step(T0 + 7300, closed("hubspot", T0 + 7300))
    assert run.step(T0 + 20000) == []


def test_no_reminders_by_default() -> None:
    run = Run()
    run.step(T0, opened("hubspot", T0))
    assert run.step(T0 + 86400 * 7) == []


def test_same_state_events_and_time_decide_the_same() -> None:
    events = [opened("a", T0), opened("b", T0 + 1), opened("c", T0 + 2), closed("a", T0 + 50)]
    runs = [Run(), Run()]
    for run in runs:
        for event in events:
            run.step(event.at, event)
        run.step(T0 + 100)
    assert runs[0].told == runs[1].told


def held(name: str, at: float, mode: str = "disabled", by: str = "alice") -> Event:
    override = Override(mode, by, "their API is migrating")
    return Event(name, EventKind.OVERRIDDEN, at, cause=mode, override=override)


def let_go(name: str, at: float, by: str = "bob") -> Event:
    return Event(name, EventKind.OVERRIDE_ENDED, at, override=Override("", by, "done"))


def test_an_operator_hold_is_told_when_set_changed_and_let_go_whatever_else_happens() -> None:
    run = Run(silenced={"*": (T0 - 1, T0 + 10_000)}, repeat_interval=600.0)
    (told,) = run.step(T0, held("kit", T0))  # a silence holds back outages, not this
    assert told.kind is NoticeKind.OPENED
    assert told.subject is not None
    assert told.subject.kind is IncidentKind.OVERRIDE
    assert told.subject.override == Override("disabled", "alice", "their API is migrating")
    assert run.step(T0 + 5000) == []  # no reminders: the Prometheus rule says "held long"
    (changed,) = run.step(T0 + 5001, held("kit", T0 + 5001, "forced_open", "carol"))
    assert (changed.kind, changed.thread, changed.change) == (
        NoticeKind.UPDATED, told.thread, "overridden",
    )  # fmt: skip
    (ended,) = run.step(T0 + 7200, let_go("kit", T0 + 7200))
    assert (ended.kind, ended.thread) == (NoticeKind.RESOLVED, told.thread)
    assert ended.subject is not None
    assert ended.subject.override == Override(
        "forced_open", "carol", "their API is migrating", "bob", "done"
    )
    assert run.current.incidents == {}


def test_a_hold_and_an_outage_are_two_incidents() -> None:
    run = Run()
    (outage,) = run.step(T0, opened("kit", T0))
    (hold,) = run.step(T0 + 1, held("kit", T0 + 1))
    assert outage.thread != hold.thread
    assert sorted(run.current.incidents) == ["kit", "kit:override"]
    told = run.step(T0 + 2, Event("kit", EventKind.RETIRED, T0 + 2))
    assert sorted((n.kind.value, n.thread) for n in told) == sorted(
        [("resolved", outage.thread), ("resolved", hold.thread)]
    )
    assert all(n.subject is not None and n.subject.retired for n in told)


def test_our_own_trouble_is_told_once_and_when_it_ends() -> None:
    run = Run(storm_min_integrations=2, storm_window=30.0)
    emfile = Failure("local", None, "EMFILE", "this process has too many open files (EMFILE)")
    trouble = Event("breakerwatch", EventKind.LOCAL_TROUBLE, T0, emfile)
    (told,) = run.step(T0, trouble, opened("kit", T0 + 0.5))[:1]  # not part of a storm
    assert told.subject is not None
    assert told.subject.kind is IncidentKind.LOCAL
    again = run.step(T0 + 3, Event("breakerwatch", EventKind.LOCAL_TROUBLE, T0 + 3, emfile))
    assert [n.quiet for n in again] == [True]  # a refresh of the message, nothing sent
    (over,) = run.step(T0 + 90, Event("breakerwatch", EventKind.LOCAL_TROUBLE_ENDED, T0 + 90))
    assert (over.kind, over.thread) == (NoticeKind.RESOLVED, told.thread)


def test_a_credential_that_lacks_scopes_is_its_own_incident_whatever_else_happens() -> None:
    run = Run(silenced={"hubspot": (T0 - 10, T0 + 1000)}, storm_min_integrations=2)
    lacks = Event("hubspot", EventKind.SCOPES_MISSING, T0, scopes=("crm.objects.contacts.write",))
    (told,) = run.step(T0, lacks)  # a silence does not hold it back
    assert told.kind is NoticeKind.OPENED
    assert told.subject is not None
    assert (told.subject.kind, told.subject.scopes) == (
        IncidentKind.SCOPES, ("crm.objects.contacts.write",),
    )  # fmt: skip
    assert run.step(T0 + 5, Event("hubspot", EventKind.SCOPES_MISSING, T0 + 5,
                                  scopes=("crm.objects.contacts.write",))) == []  # fmt: skip
    more = ("crm.objects.contacts.write", "crm.objects.deals.write")
    (changed,) = run.step(T0 + 9, Event("hubspot", EventKind.SCOPES_MISSING, T0 + 9, scopes=more))
    assert (changed.kind, changed.thread, changed.change) == (
        NoticeKind.UPDATED, told.thread, "scopes_missing",
    )  # fmt: skip
    assert changed.subject is not None
    assert changed.subject.scopes == more
    # An outage of the same integration is an incident of its own, on its own thread.
    (outage,) = run.step(T0 + 2000, opened("hubspot", T0 + 2000))
    assert outage.thread != told.thread
    (over,) = run.step(T0 + 2100, Event("hubspot", EventKind.SCOPES_GRANTED, T0 + 2100))
    assert (over.kind, over.thread) == (NoticeKind.RESOLVED, told.thread)
    assert over.subject is not None
    assert not over.subject.retired
    assert run.step(T0 + 2200, Event("hubspot", EventKind.SCOPES_GRANTED, T0 + 2200)) == []


def test_a_retired_integration_ends_its_scopes_incident_as_no_longer_watched() -> None:
    run = Run()
    lacks = Event("grid", EventKind.SCOPES_MISSING, T0, scopes=("marketing_campaigns.update",))
    (told,) = run.step(T0, lacks)
    (ended,) = run.step(T0 + 60, Event("grid", EventKind.RETIRED, T0 + 60))
    assert (ended.kind, ended.thread) == (NoticeKind.RESOLVED, told.thread)
    assert ended.subject is not None
    assert ended.subject.retired


def test_slow_but_working_is_its_own_incident_unless_it_begins_in_a_silence() -> None:
    run = Run(silenced={"kit": (T0 - 10, T0 + 100)})
    slow = Slow(1.8, 0.44, 1.32)
    (told,) = run.step(T0, Event("hubspot", EventKind.DEGRADED, T0, slow=slow))
    assert told.subject is not None
    assert (told.kind, told.subject.kind, told.subject.slow) == (
        NoticeKind.OPENED, IncidentKind.DEGRADED, slow,
    )  # fmt: skip
    (outage,) = run.step(T0 + 60, opened("hubspot", T0 + 60))  # an outage is another incident
    assert outage.thread != told.thread
    back = Slow(0.4, 0.44, 1.32)
    (over,) = run.step(T0 + 900, Event("hubspot", EventKind.DEGRADED_ENDED, T0 + 900, slow=back))
    assert (over.kind, over.thread) == (NoticeKind.RESOLVED, told.thread)
    assert over.subject is not None
    assert over.subject.slow == back
    assert run.step(T0 + 50, Event("kit", EventKind.DEGRADED, T0 + 50, slow=slow)) == []
    assert run.step(T0 + 200, Event("kit", EventKind.DEGRADED_ENDED, T0 + 200, slow=back)) == []


def test_failing_writes_are_told_once_and_resolved() -> None:
    run = Run()
    failing = Event("sendgrid", EventKind.WRITES_FAILING, T0, FAIL)
    (told,) = run.step(T0, failing)
    assert told.subject is not None
    assert (told.kind, told.subject.kind) == (NoticeKind.OPENED, IncidentKind.WRITES)
    assert run.step(T0 + 60, Event("sendgrid", EventKind.WRITES_FAILING, T0 + 60, FAIL)) == []
    (over,) = run.step(T0 + 900, Event("sendgrid", EventKind.WRITES_RECOVERED, T0 + 900))
    assert (over.kind, over.thread) == (NoticeKind.RESOLVED, told.thread)
    assert run.step(T0 + 950, Event("sendgrid", EventKind.WRITES_RECOVERED, T0 + 950)) == []


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["kit", "hubspot", "mailchimp", "egress", "proxy"]),
        st.sampled_from([EventKind.OPENED, EventKind.CLOSED, EventKind.TRIAL,
                         EventKind.TRIAL_FAILED, EventKind.THROTTLED, EventKind.THROTTLE_ENDED,
                         EventKind.RETIRED, EventKind.OVERRIDDEN, EventKind.OVERRIDE_ENDED,
                         EventKind.VENDOR, EventKind.SCOPES_MISSING,
                         EventKind.SCOPES_GRANTED, EventKind.DEGRADED,
                         EventKind.DEGRADED_ENDED, EventKind.WRITES_FAILING,
                         EventKind.WRITES_RECOVERED]),
        st.floats(min_value=0.0, max_value=400.0),
        st.booleans(),
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_EVENTS)
def test_two_incidents_never_share_a_thread(
    events: list[tuple[str, EventKind, float, bool]],
) -> None:
    """Whatever happens, in any order: a live incident's thread is its own, and a thread
    that was resolved never opens again."""
    run = Run(silenced={"hubspot": (T0 + 50, T0 + 150)}, flap_max_transitions=3,
              storm_min_integrations=2, repeat_interval=60.0,
              notify_on=frozenset({"open", "close", "vendor_incident"}))  # fmt: skip
    now, resolved = T0, set()
    for name, kind, wait, auth in events:
        now += wait
        override = Override("disabled", "alice", "x") if "OVERRIDE" in kind.name else None
        verdict = CONFIRMED if auth else ONLY_US
        parents = ("proxy",) if name in ("kit", "hubspot") else ()
        event = Event(name, kind, now, AUTH if auth else FAIL, 3, now + 30,
                      egress=name == "egress", override=override, verdict=verdict,
                      parents=parents, gate=name == "proxy")  # fmt: skip
        for notice in run.step(now, event):
            if notice.kind in (NoticeKind.OPENED, NoticeKind.STORM, NoticeKind.FLAPPING):
                assert notice.thread not in resolved, notice
            if notice.kind is NoticeKind.RESOLVED:
                resolved.add(notice.thread)
        threads = [incident.thread for incident in run.current.incidents.values()]
        assert len(threads) == len(set(threads)), run.current.incidents
        state = run.current
        assert set(state.gates) <= set(state.incidents)  # no gate left behind
        waiting = {name for name, i in state.incidents.items() if i.held is Hold.BURST}
        assert waiting <= set(state.burst.held if state.burst else ()), waiting  # none lost
        for incident in state.incidents.values():  # held behind a parent: one that is open
            if incident.held is Hold.EGRESS:
                assert incident.group in state.groups, incident
            if incident.held is Hold.WAITING:
                assert incident.until <= now + 30.0, incident  # told by then


def test_throttling_becomes_an_incident_only_once_it_has_lasted() -> None:
    """The daemon says when 429s begin and end; the policy decides when that is news."""
    run = Run(throttled_after=600.0)
    throttled = Failure("throttled", 429, None, "HTTP 429 Too Many Requests")
    assert run.step(T0, Event("sendgrid", EventKind.THROTTLING, T0, throttled)) == []
    assert run.current.throttled("sendgrid")
    assert run.step(T0 + 599) == []
    (start,) = run.step(T0 + 600)
    assert start.subject is not None
    assert (start.kind, start.subject.kind, start.subject.opened_at) == (
        NoticeKind.OPENED, IncidentKind.THROTTLED, T0,
    )  # fmt: skip
    again = Event("sendgrid", EventKind.THROTTLING, T0 + 700, throttled)  # after a restart
    assert run.step(T0 + 700, again) == []
    (end,) = run.step(T0 + 900, Event("sendgrid", EventKind.THROTTLE_ENDED, T0 + 900))
    assert (end.kind, end.thread) == (NoticeKind.RESOLVED, start.thread)
    assert not run.current.throttled("sendgrid")
    brief = [Event("kit", EventKind.THROTTLING, T0 + 1000, throttled),
             Event("kit", EventKind.THROTTLE_ENDED, T0 + 1300)]  # fmt: skip
    assert run.step(T0 + 1300, *brief) == []
    assert run.step(T0 + 5000) == []  # a short spell of 429s is never told


def test_children_behind_an_open_parent_are_one_message_on_its_thread() -> None:
    """`depends_on`: while corp-proxy is open, its children's openings are held on its
    thread (quiet edits: "3 integrations behind corp-proxy"); the parent's resolution
    lists them, and those still failing then become incidents of their own."""
    run = Run()
    (parent,) = run.step(T0, opened("corp-proxy", T0, gate=True))
    assert parent.kind is NoticeKind.OPENED
    children = [opened(n, T0 + 5, parents=("corp-proxy",)) for n in ("hubspot", "kit", "sendgrid")]
    held = run.step(T0 + 5, *children)
    assert [(n.kind, n.quiet, n.thread) for n in held] == [
        (NoticeKind.HELD, True, parent.thread)
    ] * 3
    assert [m.integration for m in held[-1].members] == ["hubspot", "kit", "sendgrid"]
    assert (
        run.step(T0 + 40, closed("kit", T0 + 40)) == []
    )  # a child's close: never held, never told alone
    notices = run.step(T0 + 60, closed("corp-proxy", T0 + 60))
    assert kinds(notices) == ["resolved", "opened", "opened"]
    assert notices[0].thread == parent.thread
    assert [m.integration for m in notices[0].members] == ["hubspot", "kit", "sendgrid"]
    assert [n.subject.integration for n in notices[1:] if n.subject] == ["hubspot", "sendgrid"]


def test_a_child_opening_first_waits_for_a_parent_failing_at_the_same_moment() -> None:
    """A child that opens a moment before its parent is not told on its own: it waits up
    to the storm window, and the parent's opening takes it in: one message."""
    run = Run(storm_window=30.0)
    assert run.step(T0, opened("hubspot", T0, parents=("corp-proxy",))) == []
    notices = run.step(T0 + 8, opened("corp-proxy", T0 + 8, gate=True))
    assert kinds(notices) == ["opened", "held"]
    assert notices[1].thread == notices[0].thread
    assert run.step(T0 + 100) == []  # nothing told on its own later
    assert kinds(run.told) == ["opened", "held"]


def test_a_child_whose_parents_stay_healthy_is_told_at_the_end_of_the_window() -> None:
    run = Run(storm_window=30.0)
    assert run.step(T0, opened("hubspot", T0, parents=("corp-proxy",))) == []
    assert run.step(T0 + 29) == []
    (told,) = run.step(T0 + 30)
    assert told.kind is NoticeKind.OPENED
    assert told.subject is not None
    assert told.subject.integration == "hubspot"
    assert run.step(T0 + 31, closed("hubspot", T0 + 31))[0].kind is NoticeKind.RESOLVED


def test_a_child_that_recovers_while_waiting_is_never_told() -> None:
    run = Run(storm_window=30.0)
    run.step(T0, opened("hubspot", T0, parents=("corp-proxy",)))
    assert run.step(T0 + 10, closed("hubspot", T0 + 10)) == []
    assert run.step(T0 + 60) == []
    assert run.current.incidents == {}


def test_the_egress_canary_stays_the_implicit_parent_of_everything() -> None:
    run = Run()
    (canary,) = run.step(T0, opened("egress", T0, egress=True))
    (held,) = run.step(T0 + 1, opened("corp-proxy", T0 + 1, gate=True))
    assert (held.kind, held.thread) == (NoticeKind.HELD, canary.thread)
    (also,) = run.step(T0 + 2, opened("hubspot", T0 + 2, parents=("corp-proxy",)))
    assert (also.kind, also.thread) == (NoticeKind.HELD, canary.thread)
    notices = run.step(T0 + 60, closed("egress", T0 + 60))
    # corp-proxy is told now, and hubspot goes behind it: still one thread per cause.
    assert kinds(notices) == ["resolved", "opened", "held"]
    assert notices[2].thread == notices[1].thread
    assert notices[1].subject is not None
    assert notices[1].subject.integration == "corp-proxy"


def test_a_vendor_incident_posted_during_ours_updates_it_in_its_thread() -> None:
    run = Run()
    (first,) = run.step(T0, opened("kit", T0, verdict=ONLY_US))
    assert first.subject is not None
    assert first.subject.verdict == ONLY_US
    (update,) = run.step(T0 + 90, Event("kit", EventKind.VENDOR, T0 + 90, verdict=CONFIRMED))
    assert (update.kind, update.change, update.thread, update.quiet) == (
        NoticeKind.UPDATED, "vendor", first.thread, False,
    )  # fmt: skip
    assert update.subject is not None
    assert update.subject.verdict == CONFIRMED
    assert update.subject.first_verdict == "only_us_so_far"  # Alertmanager's label stays
    (resolved,) = run.step(T0 + 300, Event("kit", EventKind.VENDOR, T0 + 300, verdict=ONLY_US))
    assert (resolved.kind, resolved.change) == (NoticeKind.UPDATED, "vendor")
    (over,) = run.step(T0 + 400, closed("kit", T0 + 400))
    assert over.kind is NoticeKind.RESOLVED


def test_a_vendor_incident_with_our_breaker_closed_is_a_heads_up_only_when_asked() -> None:
    posted = Event("kit", EventKind.VENDOR, T0, verdict=CONFIRMED)
    over = Event("kit", EventKind.VENDOR, T0 + 600, verdict=ONLY_US)
    quiet = Run()
    assert quiet.step(T0, posted) == []
    assert quiet.step(T0 + 600, over) == []
    run = Run(notify_on=frozenset({"open", "close", "vendor_incident"}))
    (told,) = run.step(T0, posted)
    assert told.kind is NoticeKind.OPENED
    assert told.subject is not None
    assert told.subject.kind is IncidentKind.VENDOR
    (ended,) = run.step(T0 + 600, over)
    assert (ended.kind, ended.thread) == (NoticeKind.RESOLVED, told.thread)
    silenced = Run(
        silenced={"kit": (T0 - 1, T0 + 1)}, notify_on=frozenset({"open", "vendor_incident"})
    )
    assert silenced.step(T0, posted) == []


def test_a_parents_trial_keeps_those_held_behind_it_on_its_message() -> None:
    """Found by the end-to-end test: the parent's quiet edit on a failed trial rendered it
    alone, and the "held behind" note vanished from the message."""
    run = Run()
    (parent,) = run.step(T0, opened("corp-proxy", T0, gate=True))
    run.step(T0 + 1, opened("kit", T0 + 1, parents=("corp-proxy",)))
    trial = Event("corp-proxy", EventKind.TRIAL_FAILED, T0 + 30, FAIL, next_trial_at=T0 + 60)
    (update,) = run.step(T0 + 30, trial)
    assert update.thread == parent.thread
    assert [m.integration for m in update.members] == ["kit"]
    posted = Event("corp-proxy", EventKind.VENDOR, T0 + 40, verdict=CONFIRMED)
    (vendor,) = run.step(T0 + 40, posted)
    assert [m.integration for m in vendor.members] == ["kit"]
