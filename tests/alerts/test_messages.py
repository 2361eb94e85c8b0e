"""Message building: what an on-call engineer reads, in blocks and in the fallback text."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from alerts.messages import MAX_LISTED, TEXT_LIMIT, Message, describe, duration, render
from alerts.model import (
    Facts,
    Failure,
    IncidentKind,
    Notice,
    NoticeKind,
    Override,
    Slow,
    Verdict,
    VerdictKind,
)
from alerts.verdict import judge
from probes.statuspage import VendorIncident, VendorStatus
from tests.support import texts

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
FAIL = Failure("http_5xx", 503, "HTTPStatusError", "HTTP 503 Service Unavailable")


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "integration": "mailchimp", "kind": IncidentKind.OUTAGE, "opened_at": T0,
        "failure": FAIL, "failed_probes": 5, "next_trial_at": T0 + 30,
    }  # fmt: skip
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def blocks_text(message: object) -> str:
    return json.dumps(message.blocks)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m"), (724, "12m 4s"), (7500, "2h 5m"), (3600, "1h"),
     (86400 * 3 + 3600 * 4, "3d 4h")],
)  # fmt: skip
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_an_opened_incident_says_what_since_how_many_and_next_trial() -> None:
    rendered = render(Notice(NoticeKind.OPENED, "mailchimp#1", T0 + 5, facts()))
    assert rendered.parent == rendered.standalone
    assert rendered.reply is None
    text = rendered.parent.text if rendered.parent else ""
    assert text.startswith("mailchimp is failing: breaker open")
    for expected in ("HTTP 503 server error: HTTP 503 Service Unavailable",
                     "Since: 2026-09-21 14:13:20 UTC", "Failed probes: 5",
                     "Next trial: 2026-09-21 14:13:50 UTC"):  # fmt: skip
        assert expected in text
    blocks = blocks_text(rendered.parent)
    assert f"<!date^{int(T0)}^" in blocks  # each reader's own time zone
    assert rendered.parent is not None
    assert rendered.parent.blocks[0]["type"] == "header"


def test_credentials_and_throttling_have_their_own_words() -> None:
    auth = render(Notice(NoticeKind.OPENED, "t", T0, facts(kind=IncidentKind.AUTH))).parent
    assert auth is not None
    assert "credentials were refused (the vendor is up" in auth.text
    throttled = facts(kind=IncidentKind.THROTTLED)
    slow = render(Notice(NoticeKind.OPENED, "t", T0, throttled)).parent
    assert slow is not None
    assert "throttled (HTTP 429)" in slow.text
    assert "vendor is up" in slow.text
    assert "Failed probes" not in slow.text


def test_resolved_turns_the_message_and_replies_with_the_duration() -> None:
    done = facts(closed_at=T0 + 724)
    rendered = render(Notice(NoticeKind.RESOLVED, "mailchimp#1", T0 + 724, done))
    assert rendered.parent is not None
    assert rendered.reply is not None
    assert rendered.parent.text.startswith("mailchimp recovered: breaker closed after 12m 4s")
    assert rendered.reply.text == "Recovered after 12m 4s."
    assert "Next trial" not in rendered.parent.text


def test_an_integration_no_longer_watched_is_not_said_to_have_recovered() -> None:
    done = facts(closed_at=T0 + 60, retired=True)
    rendered = render(Notice(NoticeKind.RESOLVED, "mailchimp#1", T0 + 60, done))
    assert rendered.parent is not None
    assert rendered.reply is not None
    assert rendered.parent.text.startswith(
        "mailchimp: no longer watched here (removed from the configuration, or now another "
        "replica's shard) after 1m; no recovery was seen"
    )
    assert "recovered" not in rendered.parent.text
    assert rendered.reply.text == "No longer watched here after 1m."


def test_the_dashboard_link_goes_to_the_integration() -> None:
    link = "https://grafana.example.com/d/breakerwatch-integration/x?orgId=1"
    message = render(Notice(NoticeKind.OPENED, "t", T0, facts()), link).parent
    assert message is not None
    assert f"{link}&var-integration=mailchimp" in message.text
    assert message.blocks[-1]["type"] == "context"
    bare = render(Notice(NoticeKind.OPENED, "t", T0, facts())).parent
    assert bare is not None
    assert "Dashboard" not in bare.text


def test_vendor_text_cannot_inject_slack_markup() -> None:
    evil = Failure("http_5xx", 500, None, "<!channel> <https://evil.example|click> & more")
    message = render(Notice(NoticeKind.OPENED, "t", T0, facts(failure=evil))).parent
    assert message is not None
    assert "<!channel>" not in blocks_text(message)
    assert "&lt;!channel&gt;" in blocks_text(message)


def test_a_long_detail_is_cut() -> None:
    long = Failure("invalid_response", 200, None, "x" * 5000)
    message = render(Notice(NoticeKind.OPENED, "t", T0, facts(failure=long))).parent
    assert message is not None
    assert len(message.text) < 1000


def test_a_storm_lists_members_within_slack_limits() -> None:
    members = tuple(facts(integration=f"customer-{i}") for i in range(200))
    rendered = render(Notice(NoticeKind.STORM, "t", T0 + 30, None, members, count=200))
    message = rendered.parent
    assert message is not None
    assert rendered.standalone == message
    assert message.text.startswith("200 integrations started failing together")
    assert f"and {200 - MAX_LISTED} more" in message.text
    assert len(message.blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message.blocks)


def test_quiet_notices_only_refresh_the_message() -> None:
    members = (facts(), facts(integration="kit", closed_at=T0 + 60))
    rendered = render(
        Notice(NoticeKind.UPDATED, "t", T0 + 60, members[1], members, change="recovered",
               count=2, quiet=True)
    )  # fmt: skip
    assert rendered.parent is not None
    assert rendered.standalone is None
    assert "kit: HTTP 503" in rendered.parent.text
    assert "recovered after 1m" in rendered.parent.text


def test_every_notice_kind_renders() -> None:
    subject = facts()
    for kind in NoticeKind:
        notice = Notice(kind, "t", T0 + 60, subject, (subject,), change="trial", count=1)
        rendered = render(notice)
        assert (rendered.parent or rendered.standalone or rendered.reply) is not None


# -- hostile text and Slack's limits -------------------------------------------------------

HOSTILE = (
    "<!channel> <!here> <@U123> <https://evil.example|click here> & \x1b[2J\x1b[31mred\x1b[0m"
    "\nForged: 2026-01-01T00:00:00Z INFO breakerwatch: all good\r\u202eevil"
)


# What we write in Slack's markup ourselves: date tokens and the dashboard link.
SLACK_TOKENS = (
    r"<!date\^\d+\^[^|<>]*\|[^<>]*>|<https://grafana\.example\.com[^<>|]*\|Grafana dashboard>"
    r"|<https://status\.example\.com/[^<>| ]*\|their (incident|status page)>"
)


def slack_valid(message: Message) -> None:
    """What Slack would refuse or misread, checked with slack-sdk's own models: each block's
    limits (3,000 per section text, 10 fields, 150 per header), 2,000 per field, 50 blocks,
    and a fallback text within 3,000 with no bare control character of Slack's."""
    payload = message.payload()
    assert 0 < len(payload["text"]) <= TEXT_LIMIT
    assert "<" not in payload["text"]
    assert ">" not in payload["text"]
    blocks = payload.get("blocks", [])
    assert len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()  # raises SlackObjectFormationError past a limit
        for field in block.get("fields", ()):
            assert len(field["text"]) <= 2000
    for text in texts(blocks):
        bare = re.sub(SLACK_TOKENS, "", text)
        assert "<" not in bare, text
        assert ">" not in bare, text
        assert "\x1b" not in text


def hostile_notices() -> list[Notice]:
    evil = Failure("http_5xx", 500, "HTTPStatusError", HOSTILE * 40)
    said = Verdict(VerdictKind.VENDOR, HOSTILE * 10, "https://evil.example/<!channel>|x", T0)
    subject = facts(failure=evil, verdict=said)
    posted = Verdict(VerdictKind.VENDOR, HOSTILE, "https://status.example.com/i&d", T0)
    vendor = facts(kind=IncidentKind.VENDOR, failure=None, verdict=posted)
    closed = facts(failure=evil, closed_at=T0 + 90)
    crowd = tuple(facts(integration=f"customer-{i:04d}", failure=evil) for i in range(500))
    held = Override("disabled", "alice", HOSTILE * 10, "bob", HOSTILE)
    override = facts(kind=IncidentKind.OVERRIDE, failure=None, override=held)
    local = facts(kind=IncidentKind.LOCAL, integration="breakerwatch",
                  failure=Failure("local", None, "EMFILE", HOSTILE))  # fmt: skip
    notices = []
    for kind in NoticeKind:
        for chosen in (subject, closed, override, local, vendor):
            for change in ("trial", "vendor"):
                notices.append(Notice(kind, "t", T0 + 60, chosen, crowd, change=change,
                                      count=len(crowd), reason=HOSTILE))  # fmt: skip
    notices.append(Notice(NoticeKind.RESOLVED, "t", T0 + 60, None, crowd, count=500))
    notices.append(Notice(NoticeKind.UPDATED, "t", T0, subject, crowd, change="joined"))
    return notices


@pytest.mark.parametrize("link", [None, "https://grafana.example.com/d/bw?orgId=1"])
def test_every_notice_is_valid_slack_whatever_the_vendor_sent(link: str | None) -> None:
    for notice in hostile_notices():
        rendered = render(notice, link)
        for message in (rendered.parent, rendered.reply, rendered.standalone):
            if message is not None:
                slack_valid(message)
                slack_valid(Message(message.text))  # the plain-text retry too


def test_the_fallback_text_is_escaped_where_slack_reads_it() -> None:
    evil = Failure("http_5xx", 500, None, "<!channel> call us & <https://evil.example|now>")
    message = render(Notice(NoticeKind.OPENED, "t", T0, facts(failure=evil))).parent
    assert message is not None
    assert "<!channel>" in message.text  # the console shows what the vendor said
    text = message.payload()["text"]
    assert "&lt;!channel&gt; call us &amp; &lt;https://evil.example|now&gt;" in text


def test_a_long_list_ends_with_how_many_more() -> None:
    evil = Failure("http_5xx", 500, None, "x" * 280)
    crowd = tuple(facts(integration=f"customer-{i:04d}", failure=evil) for i in range(500))
    message = render(Notice(NoticeKind.STORM, "t", T0, None, crowd, count=500)).parent
    assert message is not None
    body = message.blocks[1]["text"]["text"]
    listed = body.count("• customer-")
    assert 0 < listed <= MAX_LISTED
    assert body.endswith(f"• …and {500 - listed} more")
    summary = render(Notice(NoticeKind.SILENCE_ENDED, "t", T0, crowd[0], crowd, count=500))
    assert summary.parent is not None
    assert re.search(r"…and \d+ more\.$", summary.parent.blocks[2]["text"]["text"])


def test_an_operator_hold_says_who_and_why() -> None:
    held = Override("forced_open", "alice", "their API is migrating")
    hold = facts(kind=IncidentKind.OVERRIDE, failure=None, override=held)
    rendered = render(Notice(NoticeKind.OPENED, "kit#1", T0, hold))
    assert rendered.parent is not None
    text = rendered.parent.text
    assert text.startswith(
        "mailchimp: breaker forced open by alice: no probes go out until it is reset"
    )
    assert "Reason: their API is migrating" in text
    assert "By: alice" in text
    assert "Failed probes" not in text
    disabled = facts(kind=IncidentKind.OVERRIDE, failure=None,
                     override=Override("disabled", "local", "noisy vendor"))  # fmt: skip
    said = render(Notice(NoticeKind.OPENED, "t", T0, disabled)).parent
    assert said is not None
    assert said.text.startswith("mailchimp: breaker disabled by local: it cannot open")
    ended = replace(hold, closed_at=T0 + 7200,
                    override=replace(held, ended_by="bob", ended_reason="done"))  # fmt: skip
    resolved = render(Notice(NoticeKind.RESOLVED, "kit#1", T0 + 7200, ended))
    assert resolved.parent is not None
    assert resolved.reply is not None
    assert resolved.parent.text.startswith(
        "mailchimp: breaker back in service, reset by bob after 2h forced open"
    )
    assert "Reset by: bob: done" in resolved.parent.text
    assert resolved.reply.text == "Reset by bob after 2h."
    changed = render(
        Notice(
            NoticeKind.UPDATED,
            "kit#1",
            T0,
            replace(hold, override=Override("disabled", "bob", "keep probing")),
            change="overridden",
        )
    )
    assert changed.reply is not None
    assert changed.reply.text == "Now disabled by bob: keep probing"


def test_our_own_trouble_is_not_a_vendor_outage() -> None:
    trouble = facts(
        integration="breakerwatch", kind=IncidentKind.LOCAL,
        failure=Failure("local", None, "EMFILE", "this process has too many open files (EMFILE)"),
    )  # fmt: skip
    opened = render(Notice(NoticeKind.OPENED, "t", T0, trouble)).parent
    assert opened is not None
    assert opened.text.startswith("breakerwatch itself is in trouble: probes failing for want")
    assert "this process has too many open files (EMFILE)" in opened.text
    over = render(Notice(NoticeKind.RESOLVED, "t", T0 + 95, replace(trouble, closed_at=T0 + 95)))
    assert over.parent is not None
    assert over.reply is not None
    assert over.parent.text.startswith("breakerwatch is out of trouble after 1m 35s")
    assert over.reply.text == "Out of trouble after 1m 35s."


def test_the_verdict_is_the_first_line_under_the_headline() -> None:
    """What on-call reads first, in the notification and in the message: is it them or us."""
    said = Verdict(VerdictKind.VENDOR, 'status.kit.com reports "Elevated API errors" (major, '
                   "investigating)", "https://stspg.io/abc", T0 - 120)  # fmt: skip
    message = render(Notice(NoticeKind.OPENED, "t", T0, facts(verdict=said))).parent
    assert message is not None
    lines = message.text.splitlines()
    assert lines[0] == "mailchimp is failing: breaker open"
    assert lines[1] == (
        'The vendor confirms: status.kit.com reports "Elevated API errors" (major, '
        "investigating), since 2026-09-21 14:11 UTC https://stspg.io/abc"
    )
    section = message.blocks[1]["text"]["text"]
    assert section.startswith("*The vendor confirms*: status.kit.com reports")
    assert f"<!date^{int(T0 - 120)}^" in section
    assert section.endswith("<https://stspg.io/abc|their incident>")
    resolved = render(
        Notice(NoticeKind.RESOLVED, "t", T0 + 60, facts(verdict=said, closed_at=T0 + 60))
    )
    assert resolved.parent is not None
    assert "The vendor confirms" not in resolved.parent.text  # over: the headline says so


def test_a_vendor_posting_or_resolving_is_an_edit_and_a_thread_reply() -> None:
    said = Verdict(VerdictKind.VENDOR, 'status.kit.com reports "API errors" (major, identified)')
    posted = render(Notice(NoticeKind.UPDATED, "t", T0, facts(verdict=said), change="vendor"))
    assert posted.parent is not None
    assert "The vendor confirms" in posted.parent.text
    assert posted.reply is not None
    assert posted.reply.text.startswith("mailchimp: the vendor's status page now confirms it.")
    cleared = Verdict(VerdictKind.US, "status.kit.com says All Systems Operational")
    gone = render(Notice(NoticeKind.UPDATED, "t", T0, facts(verdict=cleared), change="vendor"))
    assert gone.reply is not None
    assert gone.reply.text.startswith(
        "mailchimp: the vendor's status page no longer shows an incident. Only us so far"
    )


def test_a_vendor_heads_up_and_its_end() -> None:
    said = Verdict(VerdictKind.VENDOR, 'status.kit.com reports "Delays" (minor, investigating)')
    heads_up = facts(kind=IncidentKind.VENDOR, failure=None, verdict=said)
    told = render(Notice(NoticeKind.OPENED, "t", T0, heads_up)).parent
    assert told is not None
    assert told.text.startswith(
        "mailchimp: heads-up: the vendor reports an incident; our probes still succeed\n"
        "The vendor confirms"
    )
    assert "What failed" not in told.text
    over = render(Notice(NoticeKind.RESOLVED, "t", T0 + 600, replace(heads_up, closed_at=T0 + 600)))
    assert over.parent is not None
    assert over.parent.text.startswith("mailchimp: the vendor's incident is over, after 10m")


def test_children_held_behind_a_parent_are_counted_on_its_message() -> None:
    parent = facts(integration="corp-proxy", gate=True)
    children = tuple(facts(integration=n) for n in ("hubspot", "kit", "sendgrid"))
    held = render(Notice(NoticeKind.HELD, "t", T0, parent, children, quiet=True))
    assert held.parent is not None
    assert (
        "3 integrations behind corp-proxy, told here, not on their own: hubspot, kit, sendgrid."
        in held.parent.text
    )
    assert held.standalone is None  # a quiet edit
    over = render(
        Notice(NoticeKind.RESOLVED, "t", T0 + 60, replace(parent, closed_at=T0 + 60), children)
    )
    assert over.parent is not None
    assert "While corp-proxy was failing, 3 integrations behind it failed too" in over.parent.text


def test_docs_alerts_shows_each_verdict_as_it_renders() -> None:
    """docs/alerts.md, "The verdict": each example is what `render` says, to the letter."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    page = "https://status.hubspot.com"
    posted = VendorIncident("Elevated error rates on CRM APIs", "major", "investigating",
                            T0 - 240, "https://stspg.io/abc123")  # fmt: skip
    calm = VendorStatus("none", "All Systems Operational")
    for verdict in (
        judge(page=page, vendor=VendorStatus("major", "Partial System Outage", (), (posted,))),
        judge(page=page, vendor=calm, host="api.hubapi.com", peers=[("hubspot-forms", True)]),
        judge(failing_parents=["corp-proxy"], page=page),
        judge(page=page, problem="timeout: no answer within 10s"),
    ):
        subject = facts(integration="hubspot", verdict=verdict)
        message = render(Notice(NoticeKind.OPENED, "t", T0 + 60, subject)).parent
        assert message is not None
        shown = "\n".join(message.text.splitlines()[:2])
        assert f"```text\n{shown}\n```" in docs, shown


def test_a_parents_update_keeps_the_held_note() -> None:
    parent = facts(integration="corp-proxy", gate=True)
    children = (facts(integration="kit"),)
    for change in ("trial_failed", "vendor"):
        update = render(Notice(NoticeKind.UPDATED, "t", T0, parent, children, change=change))
        assert update.parent is not None
        assert update.parent.text.startswith("corp-proxy is failing: breaker open")
        assert "1 integration behind corp-proxy, told here, not on their own: kit." in (
            update.parent.text
        )


def test_a_credential_that_lacks_scopes_says_which_and_what_it_means() -> None:
    lacks = facts(integration="hubspot", kind=IncidentKind.SCOPES, failure=None,
                  scopes=("crm.objects.contacts.write",))  # fmt: skip
    told = render(Notice(NoticeKind.OPENED, "t", T0, lacks)).parent
    assert told is not None
    assert told.text.startswith(
        "hubspot: the credential lacks crm.objects.contacts.write; writes will be refused\n"
    )
    assert "Missing scopes: crm.objects.contacts.write" in told.text
    assert "What failed" not in told.text
    assert "Failed probes" not in told.text
    many = replace(lacks, scopes=("a.write", "b.write", "c.write", "d.write", "<!channel>"))
    shown = render(Notice(NoticeKind.OPENED, "t", T0, many)).parent
    assert shown is not None
    assert shown.text.startswith(
        "hubspot: the credential lacks a.write, b.write, c.write and 2 more"
    )
    assert "<!channel>" not in json.dumps(shown.payload())  # a scope name is escaped too
    over = render(Notice(NoticeKind.RESOLVED, "t", T0 + 300, replace(lacks, closed_at=T0 + 300)))
    assert over.parent is not None
    assert over.parent.text.startswith(
        "hubspot: the credential has every scope it needs again, after 5m"
    )
    assert over.reply is not None
    assert over.reply.text == "Every scope granted after 5m."


def test_slow_but_working_says_how_slow_against_its_usual() -> None:
    slow = facts(integration="hubspot", kind=IncidentKind.DEGRADED, failure=None,
                 slow=Slow(1.8, 0.44, 1.32))  # fmt: skip
    told = render(Notice(NoticeKind.OPENED, "t", T0, slow)).parent
    assert told is not None
    assert told.text.startswith(
        "hubspot: slow but working: its p95 is 1.8 s, 4.1x its usual 440 ms\n"
    )
    for row in ("Recent p95: 1.8 s", "Usual (baseline): 440 ms", "Degraded above: 1.3 s"):
        assert row in told.text
    assert "What failed" not in told.text
    summary, description = describe(slow)
    assert summary.startswith("hubspot: slow but working")
    assert "Recent p95: 1.8 s" in description
    over = render(Notice(NoticeKind.RESOLVED, "t", T0 + 1500, replace(slow, closed_at=T0 + 1500)))
    assert over.parent is not None
    assert over.parent.text.startswith("hubspot: back to its usual speed, after 25m")
    assert over.reply is not None
    assert over.reply.text == "Back to its usual speed after 25m."


def test_writes_failing_while_reads_succeed_have_their_own_words() -> None:
    bad_gateway = Failure("http_5xx", 502, "HTTP 502", "HTTP 502 Bad Gateway")
    failing = facts(integration="sendgrid", kind=IncidentKind.WRITES, failure=bad_gateway)
    told = render(Notice(NoticeKind.OPENED, "t", T0, failing)).parent
    assert told is not None
    assert told.text.startswith(
        "sendgrid: writes are failing while reads succeed (the canary write)\n"
    )
    assert "What failed: HTTP 502 server error: HTTP 502 Bad Gateway" in told.text
    over = render(Notice(NoticeKind.RESOLVED, "t", T0 + 900, replace(failing, closed_at=T0 + 900)))
    assert over.parent is not None
    assert over.parent.text.startswith("sendgrid: writes succeed again, after 15m")
    assert over.reply is not None
    assert over.reply.text == "Writes succeed again after 15m."
