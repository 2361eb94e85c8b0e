"""The outbox and the sender against the fake Slack: a real SQLite file, real sockets, the
real slack-sdk clients; the wall clock is injected so backoff is driven, not waited for."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import EventKind
from alerts.sinks.slack import SlackSink
from alerts.sinks.webhook import WebhookSink
from tests.alerts.world import TOKEN, World
from tests.fakes.slack import FakeSlack


def bot(slack: FakeSlack) -> SlackSink:
    return SlackSink(TOKEN, "#integrations", slack.api_url)


def test_open_then_close_is_one_message_updated_plus_one_thread_reply(
    tmp_path: Path, slack: FakeSlack
) -> None:
    world = World(tmp_path, [bot(slack)])
    world.event(EventKind.OPENED)
    world.step()
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("mailchimp is failing")
    world.event(EventKind.CLOSED, after=724)
    world.step()
    (message,) = slack.top_level()  # still one message in the channel
    assert message.text is not None
    assert message.text.startswith("mailchimp recovered")
    assert "12m 4s" in message.text
    assert len(message.edits) == 1
    (reply,) = slack.replies(message.ts)
    assert reply.text == "Recovered after 12m 4s."
    assert [r.method for r in slack.requests] == [
        "conversations.list",  # once, at the start: the channel's ID
        "conversations.history",  # once: can it be read, and what open incidents it shows
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",  # nothing looked up on the happy path
    ]
    assert world.rows("SELECT ts FROM threads") == [(message.ts,)]
    assert world.rows("SELECT COUNT(*) FROM deliveries WHERE done_at IS NULL") == [(0,)]
    assert world.alerter.stats["slack"].sent == 2


def test_the_thread_survives_a_restart(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [bot(slack)])
    world.event(EventKind.OPENED)
    world.step()
    world.restart()
    world.event(EventKind.OPENED)  # the restored breaker opens again: the same incident
    world.step(60)
    world.event(EventKind.CLOSED)
    world.step(60)
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("mailchimp recovered")
    assert len(slack.replies(message.ts)) == 1


def test_slack_down_then_back_delivers_everything_once_in_order(
    tmp_path: Path, slack: FakeSlack
) -> None:
    world = World(tmp_path, [bot(slack)])
    slack.mode = "down"
    for name in ("hubspot", "kit"):
        world.event(EventKind.OPENED, name)
        world.step(100)  # far apart: no storm
    world.event(EventKind.CLOSED, "hubspot")
    for _ in range(3):
        world.step(1)
    assert slack.top_level() == []
    assert world.alerter.stats["slack"].depth == 3
    assert world.alerter.stats["slack"].failures["server_error"] >= 1
    slack.mode = "healthy"
    world.step(0.5)  # still backing off: nothing is hammered
    assert slack.top_level() == []
    for _ in range(3):
        world.step(120)
    hubspot, kit = slack.top_level()
    assert hubspot.text is not None
    assert hubspot.text.startswith("hubspot recovered")
    assert kit.text is not None
    assert kit.text.startswith("kit is failing")
    assert len(slack.replies(hubspot.ts)) == 1
    assert len(hubspot.edits) == 1
    assert not kit.edits
    assert world.alerter.stats["slack"].depth == 0


def test_rate_limits_pause_the_sink_for_retry_after(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [bot(slack)])
    world.step()  # the sink learns the channel first
    slack.retry_after = 1
    slack.fail_next("ratelimited", "ratelimited")  # the SDK retries once itself, then gives up
    world.event(EventKind.OPENED)
    world.step()
    assert slack.top_level() == []
    assert world.alerter.stats["slack"].failures["rate_limited"] == 1
    world.step(0.5)  # within Retry-After: not even tried
    assert len(slack.calls("chat.postMessage")) == 2
    world.step(0.6)
    assert len(slack.top_level()) == 1


def test_a_refused_message_is_retried_as_plain_text(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [bot(slack)])
    original = slack._post

    def no_blocks(payload: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
        if payload.get("blocks"):
            return (
                200,
                {"Content-Type": "application/json"},
                b'{"ok":false,"error":"invalid_blocks"}',
            )
        return original(payload)

    slack._post = no_blocks  # type: ignore[method-assign]
    world.event(EventKind.OPENED)
    world.step()
    world.step()
    (message,) = slack.top_level()
    assert message.blocks is None
    assert message.text is not None
    assert world.alerter.stats["slack"].failures["payload"] == 1


def test_a_bad_token_keeps_the_alert_until_it_is_fixed(
    tmp_path: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path, [SlackSink("xoxb-revoked", "#integrations", slack.api_url)])
    world.event(EventKind.OPENED)
    world.step()
    assert world.alerter.stats["slack"].failures["auth"] == 1
    assert "check the token or webhook URL" in caplog.text
    assert "xoxb-revoked" not in caplog.text
    slack.tokens.add("xoxb-revoked")  # someone fixes it at Slack's end
    world.step(400)
    assert len(slack.top_level()) == 1


def test_a_deleted_message_starts_the_thread_again(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [bot(slack)])
    world.event(EventKind.OPENED)
    world.step()
    slack.messages.clear()  # someone deleted it
    world.event(EventKind.CLOSED)
    world.step(60)
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("mailchimp recovered")


def test_webhook_mode_is_one_message_per_event(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [WebhookSink(slack.webhook_url())])
    world.event(EventKind.OPENED)
    world.step()
    world.event(EventKind.CLOSED)
    world.step(60)
    texts = [m.text or "" for m in slack.top_level()]
    assert [t.split(":")[0] for t in texts] == ["mailchimp is failing", "mailchimp recovered"]
    assert all(not m.edits for m in slack.top_level())


def test_webhook_revoked_keeps_the_alert(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [WebhookSink(slack.webhook_url("T0/B0/revoked"))])
    world.event(EventKind.OPENED)
    world.step()
    assert world.alerter.stats["slack"].failures["auth"] == 1
    assert world.alerter.stats["slack"].depth == 1


def test_a_storm_of_four_is_one_slack_message(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path, [bot(slack)])
    for name in ("mailchimp", "hubspot", "kit", "sendgrid"):
        world.event(EventKind.OPENED, name)
        world.step(2)
    world.step(31)
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("4 integrations started failing together")
    for name in ("mailchimp", "hubspot", "kit", "sendgrid"):
        assert name in message.text
