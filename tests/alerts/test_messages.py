"""Message building: what an on-call engineer reads, in blocks and in the fallback text."""

from __future__ import annotations

import json

import pytest

from alerts.messages import MAX_LISTED, duration, render
from alerts.model import Facts, Failure, IncidentKind, Notice, NoticeKind

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
