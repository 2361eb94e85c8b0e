"""Message building: a notice becomes Slack Block Kit with a plain-text fallback. Pure.

`render(notice, dashboard_url)` gives up to three messages: `parent`, what the thread's
top message says from now on (posted the first time, edited in place after that); `reply`,
a line in the thread; `standalone`, what a sink that cannot edit (a webhook, the console)
sends instead, or None for quiet notices. Every message names the integration, what failed
(class, status, the redacted detail), since when, how many probes failed and when the next
trial is. Times in blocks use Slack's `<!date>` so each reader sees their own time zone;
the fallback text says UTC.

Nothing a vendor or an operator wrote can act in Slack: `&`, `<` and `>`, Slack's control
characters, are escaped in every field, the top-level `text` included (where `<!channel>`
would notify a whole channel), and control characters never get this far
(`probes.text.printable`). Every text stays within Slack's limits: 3,000 characters for a
section and for the fallback, 2,000 for a field, 150 for a header, 50 blocks; a list that
does not fit ends in a visible "…and N more".
(https://api.slack.com/reference/surfaces/formatting#escaping,
https://api.slack.com/reference/block-kit/blocks)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts.model import Facts, IncidentKind, Notice, NoticeKind, Slow, Verdict, VerdictKind
from alerts.verdict import HEADLINES
from alerts.verdict import line as verdict_line
from probes.text import clip, printable

__all__ = ["Message", "Rendered", "describe", "duration", "orphaned", "render"]

MAX_DETAIL = 300  # characters of a failure's detail
MAX_LISTED = 20  # integrations named in a grouped message; the rest are counted
TEXT_LIMIT = 3000  # a section's text, and the fallback text (Slack's section limit)
FIELD_LIMIT = 2000  # a section field's text
HEADER_LIMIT = 150  # a header's plain text
_MODES = {"forced_open": "forced open", "disabled": "disabled"}
_REASONS = {
    "timeout": "timeout",
    "connect_error": "connection failed",
    "http_5xx": "server error",
    "auth": "credentials refused",
    "client_error": "client error",
    "invalid_response": "invalid response",
    "assertion": "assertion failed",
}


@dataclass(frozen=True)
class Message:
    text: str  # the fallback: notifications, screen readers, and sinks without blocks
    blocks: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        """The message as Slack takes it: the fallback escaped too, since Slack reads it
        for notifications (a bare `<!channel>` there would notify everyone)."""
        text = _fit(self.text, TEXT_LIMIT)
        return {"text": text, "blocks": list(self.blocks)} if self.blocks else {"text": text}


@dataclass(frozen=True)
class Rendered:
    parent: Message | None
    reply: Message | None
    standalone: Message | None


def duration(seconds: float) -> str:
    """`"45s"`, `"12m 4s"`, `"2h 5m"`, `"3d 4h"`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m" if s % 3600 // 60 else f"{s // 3600}h"
    return f"{s // 86400}d {s % 86400 // 3600}h" if s % 86400 // 3600 else f"{s // 86400}d"


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _date(epoch: float) -> str:
    """A Slack date token: the reader's local time, with the UTC text as its fallback."""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time_secs}}|{_utc(epoch)}>"


def what_failed(facts: Facts) -> str:
    failure = facts.failure
    if failure is None:
        return "no failure recorded"
    parts = []
    if failure.status is not None:
        parts.append(f"HTTP {failure.status}")
    if failure.reason is not None:
        parts.append(_REASONS.get(failure.reason, failure.reason))
    head = " ".join(parts) or (failure.error or "failure")
    detail = clip(printable(failure.detail).strip(), MAX_DETAIL)
    return f"{head}: {detail}" if detail and detail != head else head


def describe(facts: Facts) -> tuple[str, str]:
    """An open incident in plain text, as (summary, description): a headline, then what
    failed, since when, and the breaker's counts. Nothing in it changes with the clock
    alone, so re-sending it (to Alertmanager) changes nothing."""
    rows = [("Since", _utc(facts.opened_at))]
    if facts.kind is IncidentKind.SCOPES:
        rows.insert(0, ("Missing scopes", printable(", ".join(facts.scopes))))
    elif facts.kind is IncidentKind.DEGRADED and facts.slow is not None:
        rows[:0] = _slowness(facts.slow)
    elif facts.kind is not IncidentKind.VENDOR:
        rows.insert(0, ("What failed", what_failed(facts)))
    if facts.verdict is not None:
        rows.insert(0, ("Verdict", verdict_line(facts.verdict)))
    if facts.kind in (IncidentKind.OUTAGE, IncidentKind.AUTH):
        rows.append(("Failed probes", str(facts.failed_probes)))
    if facts.next_trial_at is not None:
        rows.append(("Next trial", _utc(facts.next_trial_at)))
    return _headline(facts), "\n".join(f"{label}: {text}" for label, text in rows)


def _headline(facts: Facts) -> str:
    name = facts.integration
    held = facts.override
    if facts.kind is IncidentKind.OVERRIDE and held is not None:
        if held.mode == "forced_open":
            return f"{name}: breaker forced open by {held.by}: no probes go out until it is reset"
        return (
            f"{name}: breaker disabled by {held.by}: it cannot open, so no alert comes for "
            f"{name} until it is reset"
        )
    if facts.kind is IncidentKind.LOCAL:
        return (
            "breakerwatch itself is in trouble: probes failing for want of its own resources "
            "do not count against any vendor"
        )
    if facts.egress:
        return f"{name} (egress canary) is failing: probably our own network, not the vendors"
    if facts.kind is IncidentKind.VENDOR:
        return f"{name}: heads-up: the vendor reports an incident; our probes still succeed"
    if facts.kind is IncidentKind.SCOPES:
        return f"{name}: the credential lacks {_scopes(facts)}; writes will be refused"
    if facts.kind is IncidentKind.WRITES:
        return f"{name}: writes are failing while reads succeed (the canary write)"
    if facts.kind is IncidentKind.DEGRADED and facts.slow is not None:
        slow = facts.slow
        return (
            f"{name}: slow but working: its p95 is {_ms(slow.p95)}, "
            f"{slow.p95 / slow.baseline:.1f}x its usual {_ms(slow.baseline)}"
        )
    if facts.kind is IncidentKind.AUTH:
        return f"{name}: our credentials were refused (the vendor is up; check the key or token)"
    if facts.kind is IncidentKind.THROTTLED:
        return (
            f"{name}: throttled (HTTP 429) for a long time: the vendor is up and limiting our key"
        )
    return f"{name} is failing: breaker open"


def _ms(seconds: float) -> str:
    """`"840 ms"`, `"1.8 s"`."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _slowness(slow: Slow) -> list[tuple[str, str]]:
    return [
        ("Recent p95", _ms(slow.p95)),
        ("Usual (baseline)", _ms(slow.baseline)),
        ("Degraded above", _ms(slow.threshold)),
    ]


def _scopes(facts: Facts) -> str:
    """The missing scopes for a headline: the first three, then how many more."""
    shown = ", ".join(printable(scope) for scope in facts.scopes[:3])
    more = len(facts.scopes) - 3
    return f"{shown} and {more} more" if more > 0 else shown


def _resolved_headline(facts: Facts) -> str:
    name = facts.integration
    took = duration((facts.closed_at or facts.opened_at) - facts.opened_at)
    held = facts.override
    if facts.kind is IncidentKind.OVERRIDE and held is not None and not facts.retired:
        by = held.ended_by or "an operator"
        return f"{name}: breaker back in service, reset by {by} after {took} {_MODES[held.mode]}"
    if facts.kind is IncidentKind.LOCAL:
        return f"breakerwatch is out of trouble after {took}: probes count again"
    if facts.retired:
        return (
            f"{name}: no longer watched here (removed from the configuration, or now another "
            f"replica's shard) after {took}; no recovery was seen"
        )
    if facts.kind is IncidentKind.THROTTLED:
        return f"{name}: no longer throttled, after {took}"
    if facts.kind is IncidentKind.VENDOR:
        return f"{name}: the vendor's incident is over, after {took}"
    if facts.kind is IncidentKind.DEGRADED:
        return f"{name}: back to its usual speed, after {took}"
    if facts.kind is IncidentKind.WRITES:
        return f"{name}: writes succeed again, after {took}"
    if facts.kind is IncidentKind.SCOPES:
        return f"{name}: the credential has every scope it needs again, after {took}"
    if facts.kind is IncidentKind.AUTH:
        return f"{name}: credentials accepted again, after {took}"
    return f"{name} recovered: breaker closed after {took}"


def _fields(facts: Facts, now: float) -> list[tuple[str, str, str]]:
    """(label, block text, fallback text) for one incident."""
    held = facts.override
    if held is not None:
        reason = printable(held.reason)
        rows = [("Reason", _escape(reason), reason), ("By", _escape(held.by), held.by)]
        if held.ended_by and facts.closed_at is not None:
            said = f"{held.ended_by}" + (
                f": {printable(held.ended_reason)}" if held.ended_reason else ""
            )
            rows.append(("Reset by", _escape(said), said))
    elif facts.kind is IncidentKind.VENDOR:
        rows = []
    elif facts.kind is IncidentKind.SCOPES:
        missing = printable(", ".join(facts.scopes))
        rows = [("Missing scopes", _escape(missing), missing)]
    elif facts.kind is IncidentKind.DEGRADED and facts.slow is not None:
        rows = [(label, text, text) for label, text in _slowness(facts.slow)]
    else:
        failed = what_failed(facts)
        rows = [("What failed", _escape(failed), failed)]
    rows.append(("Since", _date(facts.opened_at), _utc(facts.opened_at)))
    if facts.closed_at is not None:
        took = duration(facts.closed_at - facts.opened_at)
        rows.append(
            ("Resolved", f"{_date(facts.closed_at)} ({took})", f"{_utc(facts.closed_at)} ({took})")
        )
    elif now - facts.opened_at >= 1:
        rows.append(("Open for", duration(now - facts.opened_at), duration(now - facts.opened_at)))
    if facts.kind in (IncidentKind.OUTAGE, IncidentKind.AUTH):
        rows.append(("Failed probes", str(facts.failed_probes), str(facts.failed_probes)))
    if facts.closed_at is None and facts.next_trial_at is not None:
        rows.append(("Next trial", _date(facts.next_trial_at), _utc(facts.next_trial_at)))
    return rows


def _incident(title: str, facts: Facts, now: float, link: str | None, note: str = "") -> Message:
    rows = _fields(facts, now)
    text = title + "\n" + "\n".join(f"{label}: {plain}" for label, _, plain in rows)
    blocks: list[dict[str, Any]] = [_header(title)]
    if facts.verdict is not None and facts.closed_at is None:  # the first thing on-call reads
        plain = verdict_line(facts.verdict)
        text = f"{title}\n{plain}\n" + text.partition("\n")[2]
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _verdict(facts.verdict)}}
        )
    blocks += [
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", FIELD_LIMIT)}
            for label, value, _ in rows
        ]},
    ]  # fmt: skip
    if note:
        text += "\n" + note
        blocks.append(_section(note))
    return _with_link(Message(text, tuple(blocks)), link, facts.integration)


def _verdict(verdict: Verdict) -> str:
    """The verdict in Slack's markup: the reader's own time, the vendor's link."""
    text = f"*{HEADLINES[verdict.kind]}*: {_escape(clip(printable(verdict.detail), MAX_DETAIL))}"
    if verdict.since is not None:
        text += f", since {_date(verdict.since)}"
    link = verdict.link
    if link and link.startswith(("https://", "http://")) and not any(c in link for c in " <>|"):
        label = "their incident" if verdict.since is not None else "their status page"
        text += f" · <{_escape(link)}|{label}>"
    return text


def _group(
    title: str, members: tuple[Facts, ...], now: float, link: str | None, note: str = ""
) -> Message:
    lines = []
    for member in members:
        if member.closed_at is not None:
            state = f"recovered after {duration(member.closed_at - member.opened_at)}"
        else:
            state = f"failing for {duration(now - member.opened_at)}"
        lines.append(f"• {member.integration}: {what_failed(member)} ({state})")
    body = _listed(lines, lambda n: f"• …and {n} more")
    text = f"{title}\n{body}" + (f"\n{note}" if note else "")
    blocks = [_header(title), _section(body)]
    if note:
        blocks.append(_section(note))
    return _with_link(Message(text, tuple(blocks)), link, None)


def _header(title: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(title, HEADER_LIMIT)}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, TEXT_LIMIT)}}


def _listed(items: list[str], more: Callable[[int], str], separator: str = "\n") -> str:
    """At most `MAX_LISTED` of `items`, fewer if their escaped text would pass a section's
    limit; the rest counted by `more`."""
    shown: list[str] = []
    room = TEXT_LIMIT - 200  # for the "and N more" and what surrounds the list
    for item in items[:MAX_LISTED]:
        room -= len(_escape(item)) + len(separator)
        if room < 0:
            break
        shown.append(item)
    if len(shown) < len(items):
        shown.append(more(len(items) - len(shown)))
    return separator.join(shown)


def _fit(text: str, limit: int) -> str:
    """`text` escaped for Slack, cut (at a character of the text, never inside an escape)
    so the escaped form is at most `limit` characters."""
    escaped = _escape(text)
    while len(escaped) > limit:
        text = text[: len(text) - (len(escaped) - limit) - 1]
        escaped = _escape(text) + "…"
    return escaped


def _with_link(message: Message, link: str | None, integration: str | None) -> Message:
    if not link:
        return message
    url = (
        link
        if integration is None
        else f"{link}{'&' if '?' in link else '?'}var-integration={integration}"
    )
    block = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"<{url}|Grafana dashboard>"}],
    }
    return Message(message.text + f"\nDashboard: {url}", (*message.blocks, block))


def orphaned(subject: str, kind: str) -> Message:
    """The edit that closes an open incident's message whose record was lost with the state
    and that no notice took up again after the restart (`subject` and `kind` come from
    Slack: made printable here, escaped by the section)."""
    what = f"{printable(subject)}'s {printable(kind)} incident" if kind else printable(subject)
    return _line(
        f"{what}: no longer followed. breakerwatch lost its record of this incident with its "
        "state and has not seen it again since it restarted; the dashboard shows where things "
        "stand now."
    )


def _line(text: str) -> Message:
    return Message(text, (_section(text),))


def _escape(text: str) -> str:
    """Slack's three control characters, so a vendor's text cannot inject links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(notice: Notice, dashboard_url: str | None = None) -> Rendered:
    """The messages for `notice` (see the module docstring)."""
    now, link, subject, members = notice.at, dashboard_url, notice.subject, notice.members
    kind = notice.kind
    if kind is NoticeKind.TEST:
        message = _line("breakerwatch test alert: this sink works.")
        return Rendered(message, None, message)
    if kind is NoticeKind.OPENED and subject is not None:
        message = _incident(_headline(subject), subject, now, link)
        return Rendered(message, None, message)
    if kind is NoticeKind.REMINDER and subject is not None:
        took = duration(now - subject.opened_at)
        parent = _incident(_headline(subject), subject, now, link)
        reply = _line(f"Still failing after {took}; {subject.failed_probes} failed probes.")
        standalone = _incident(f"Reminder: {_headline(subject)} (for {took})", subject, now, link)
        return Rendered(parent, reply, standalone)
    if kind is NoticeKind.RESOLVED:
        return _resolved(notice, link)
    if kind is NoticeKind.UPDATED and subject is not None and subject.override is not None:
        held = subject.override
        parent = _incident(_headline(subject), subject, now, link)
        line = _line(f"Now {_MODES[held.mode]} by {held.by}: {printable(held.reason)}")
        return Rendered(parent, line, line)
    if kind is NoticeKind.UPDATED and subject is not None:
        return _updated(notice, subject, link)
    if kind is NoticeKind.HELD and subject is not None:
        note = _held_note(subject, members, now)
        return Rendered(_incident(_headline(subject), subject, now, link, note), None, None)
    if kind is NoticeKind.STORM:
        title = f"{notice.count} integrations started failing together: probably one shared cause"
        message = _group(title, members, now, link)
        reply = _line(f"Grouped {notice.count} breakers that opened within moments of each other.")
        return Rendered(message, reply, message)
    if kind is NoticeKind.FLAPPING and subject is not None:
        title = (
            f"{subject.integration} is flapping: {notice.count} opens and closes in a short time"
        )
        note = "Quiet from now until it is stable; then one summary."
        message = _incident(title, subject, now, link, note)
        return Rendered(message, _line(note), message)
    if kind is NoticeKind.STABLE and subject is not None:
        return _stable(notice, subject, link)
    if kind is NoticeKind.SILENCE_ENDED and subject is not None:
        return _silence_ended(notice, subject, link)
    raise ValueError(f"cannot render a {kind} notice without its subject")


def _resolved(notice: Notice, link: str | None) -> Rendered:
    now, subject, members = notice.at, notice.subject, notice.members
    if subject is None:  # a storm, all recovered
        title = f"Resolved: all {len(members)} integrations of the storm recovered"
        message = _group(title, members, now, link)
        return Rendered(message, _line(title), message)
    note = _held_note(subject, members, now, closed=True) if subject.gate or subject.egress else ""
    title = _resolved_headline(subject)
    message = _incident(title, subject, now, link, note)
    took = duration((subject.closed_at or now) - subject.opened_at)
    said = "No longer watched here" if subject.retired else "Recovered"
    if subject.kind is IncidentKind.OVERRIDE and not subject.retired:
        said = f"Reset by {subject.override.ended_by if subject.override else 'an operator'}"
    elif subject.kind is IncidentKind.LOCAL:
        said = "Out of trouble"
    elif subject.kind is IncidentKind.SCOPES and not subject.retired:
        said = "Every scope granted"
    elif subject.kind is IncidentKind.DEGRADED and not subject.retired:
        said = "Back to its usual speed"
    elif subject.kind is IncidentKind.WRITES and not subject.retired:
        said = "Writes succeed again"
    return Rendered(message, _line(f"{said} after {took}."), message)


def _updated(notice: Notice, subject: Facts, link: str | None) -> Rendered:
    now, members, change = notice.at, notice.members, notice.change
    name = subject.integration
    if change in ("joined", "recovered"):
        title = f"{len(members)} integrations failing together: probably one shared cause"
        parent = _group(title, members, now, link)
        if change == "joined":
            line = f"{name} also started failing: {what_failed(subject)}."
        else:
            took = duration((subject.closed_at or now) - subject.opened_at)
            line = f"{name} recovered after {took}."
        return Rendered(parent, _line(line), None if notice.quiet else _line(line))
    if members and (subject.gate or subject.egress):  # a parent, and those held behind it
        parent = _incident(_headline(subject), subject, now, link,
                           _held_note(subject, members, now))  # fmt: skip
    elif members:
        parent = _group(f"{len(members)} integrations failing together", members, now, link)
    else:
        parent = _incident(_headline(subject), subject, now, link)
    if change == "vendor":
        verdict = subject.verdict
        if verdict is not None and verdict.kind is VerdictKind.VENDOR:
            line = f"{name}: the vendor's status page now confirms it. {verdict_line(verdict)}"
        else:
            said = verdict_line(verdict) if verdict is not None else "nothing"
            line = f"{name}: the vendor's status page no longer shows an incident. {said}"
        return Rendered(parent, _line(line), _line(line))
    if change == "trial":
        line = f"{name}: trial probe running."
    else:
        nxt = f"; next trial {_utc(subject.next_trial_at)}" if subject.next_trial_at else ""
        line = f"{name}: trial failed ({what_failed(subject)}){nxt}."
    if notice.quiet:
        return Rendered(parent, None, None)
    return Rendered(parent, _line(line), _line(line))


def _held_note(
    parent: Facts, members: tuple[Facts, ...], now: float, *, closed: bool = False
) -> str:
    if not members:
        return ""
    names = _listed(
        [
            f"{m.integration} ({'recovered' if m.closed_at else 'still failing'})"
            if closed
            else m.integration
            for m in members
        ],
        lambda n: f"…and {n} more",
        ", ",
    )
    if not parent.egress:
        count = f"{len(members)} integration{'s' if len(members) > 1 else ''}"
        if closed:
            return (
                f"While {parent.integration} was failing, {count} behind it failed too: "
                f"{names}. Those still failing now get their own alert."
            )
        return f"{count} behind {parent.integration}, told here, not on their own: {names}."
    if closed:
        return (
            f"While our network was suspect, these also failed: {names}."
            " Those still failing now get their own alert."
        )
    return f"Held as probably our own network: {names}."


def _stable(notice: Notice, subject: Facts, link: str | None) -> Rendered:
    open_now = subject.closed_at is None
    state = "still failing (breaker open)" if open_now else "healthy (breaker closed)"
    title = f"{subject.integration} stopped flapping: {state}"
    note = f"{notice.count} opens and closes while flapping."
    message = _incident(title, subject, notice.at, link, note)
    return Rendered(message, _line(f"Stable again: {state}. {note}"), message)


def _silence_ended(notice: Notice, subject: Facts, link: str | None) -> Rendered:
    events = []
    for facts in notice.members:
        if facts.closed_at is not None:
            events.append(f"recovered {_utc(facts.closed_at)}")
        else:
            events.append(f"failed {_utc(facts.opened_at)} ({what_failed(facts)})")
    happened = _listed(events, lambda n: f"…and {n} more", "; ") or "nothing"
    open_now = subject.closed_at is None
    if open_now:
        title = f"Silence over: {_headline(subject)}"
    else:
        title = f"Silence over for {subject.integration}: healthy now"
    note = f"During the silence: {happened}."
    message = _incident(title, subject, notice.at, link, note)
    return Rendered(message, None, message)
