"""The fake Slack against the vendor facts (docs/integrations.md, "Slack"), through
slack-sdk's own clients where the sheet speaks of what the SDK sees, raw HTTP elsewhere."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


def client(slack: FakeSlack, token: str | None = TOKEN) -> WebClient:
    return WebClient(token=token, base_url=slack.api_url, retry_handlers=[])


def test_post_message_returns_a_ts_and_stores_the_message(slack: FakeSlack) -> None:
    response = client(slack).chat_postMessage(channel="#integrations", text="hello")
    assert response.status_code == 200
    assert response["ok"] is True
    assert response["channel"].startswith("C")
    ts = response["ts"]
    seconds, seq = ts.split(".")
    assert seconds.isdigit()
    assert len(seq) == 6
    assert response["message"]["ts"] == ts
    (request,) = slack.calls("chat.postMessage")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    assert [m.text for m in slack.top_level()] == ["hello"]


def test_ts_is_monotonic_and_threads_and_updates_are_kept(slack: FakeSlack) -> None:
    web = client(slack)
    parent = web.chat_postMessage(channel="#integrations", text="open")["ts"]
    reply = web.chat_postMessage(channel="#integrations", text="more", thread_ts=parent)["ts"]
    assert reply > parent
    updated = web.chat_update(channel="#integrations", ts=parent, text="resolved")
    assert updated["ok"]
    assert updated["ts"] == parent
    assert updated["text"] == "resolved"
    (message,) = slack.top_level()
    assert message.text == "resolved"
    assert message.edits == [{"text": "open", "blocks": None}]
    assert [m.text for m in slack.replies(parent)] == ["more"]


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
def test_auth_errors_are_http_200_with_ok_false(
    slack: FakeSlack, token: str | None, error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client(slack, token).chat_postMessage(channel="#integrations", text="x")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_platform_errors(slack: FakeSlack) -> None:
    slack.not_member.add("#integrations")
    web = client(slack)
    cases = [
        ({"channel": "#nowhere", "text": "x"}, "channel_not_found"),
        ({"channel": "#integrations", "text": "x"}, "not_in_channel"),
    ]
    for kwargs, error in cases:
        with pytest.raises(SlackApiError) as raised:
            web.chat_postMessage(**kwargs)
        assert raised.value.response["error"] == error
    slack.not_member.clear()
    with pytest.raises(SlackApiError) as raised:
        web.api_call("chat.postMessage", json={"channel": "#integrations"})
    assert raised.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as raised:
        web.chat_postMessage(channel="#integrations", text="x", blocks=[{"no": "type"}] * 2)
    assert raised.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as raised:
        web.chat_update(channel="#integrations", ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"


def test_form_bodies_with_a_token_field_are_accepted(slack: FakeSlack) -> None:
    answer = httpx.post(
        slack.api_url + "chat.postMessage",
        data={"token": TOKEN, "channel": "#integrations", "text": "form"},
    )
    assert answer.status_code == 200
    assert answer.json()["ok"] is True


def test_rate_limit_is_429_with_an_integer_retry_after(slack: FakeSlack) -> None:
    slack.burst, slack.rate = 2, 0.01
    web = client(slack)
    web.chat_postMessage(channel="#integrations", text="1")
    web.chat_postMessage(channel="#integrations", text="2")
    with pytest.raises(SlackApiError) as raised:
        web.chat_postMessage(channel="#integrations", text="3")
    response = raised.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert int(response.headers["Retry-After"]) >= 1  # an integer: the SDK int()s it
    assert response.headers["Content-Type"].startswith("application/json")


def test_server_errors_are_slacks_html_page(slack: FakeSlack) -> None:
    slack.fail_next("down")
    with pytest.raises(SlackApiError) as raised:
        client(slack).chat_postMessage(channel="#integrations", text="x")
    assert raised.value.response.status_code == 503
    assert raised.value.response["error"].startswith("Received a response in a non-JSON format")


def test_fatal_error_and_disconnect(slack: FakeSlack) -> None:
    slack.fail_next("fatal_error", "disconnect")
    with pytest.raises(SlackApiError) as raised:
        client(slack).chat_postMessage(channel="#integrations", text="x")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "fatal_error"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(slack.api_url + "chat.postMessage", json={})


def test_hold_acts_on_the_request_and_delays_the_answer(slack: FakeSlack) -> None:
    slack.fail_next("hold")
    answers: list[int] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                slack.api_url + "chat.postMessage",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"channel": "#integrations", "text": "held"},
                timeout=10,
            ).status_code
        )
    )
    thread.start()
    thread.join(0.5)
    assert answers == []
    assert slack.held == 1
    assert [m.text for m in slack.top_level()] == ["held"]  # Slack posted it already
    slack.release()
    thread.join(5)
    assert answers == [200]


def test_webhook_success_is_plain_text_ok(slack: FakeSlack) -> None:
    response = WebhookClient(slack.webhook_url()).send(text="hi", blocks=[{"type": "divider"}])
    assert (response.status_code, response.body) == (200, "ok")
    assert response.headers["content-type"].startswith("text/plain")
    (message,) = slack.top_level()
    assert message.text == "hi"
    assert message.blocks == [{"type": "divider"}]


def test_webhook_takes_legacy_attachments(slack: FakeSlack) -> None:
    """Slack's webhook docs: a body may carry attachments instead of text (what
    Alertmanager's Slack receiver sends); an attachment that says nothing is refused."""
    attachment = {"title": "[FIRING:1] kit", "fallback": "[FIRING:1] kit", "color": "danger"}
    response = WebhookClient(slack.webhook_url()).send(attachments=[attachment])
    assert (response.status_code, response.body) == (200, "ok")
    (message,) = slack.top_level()
    assert message.attachments == [attachment]
    empty = WebhookClient(slack.webhook_url()).send(attachments=[{"color": "good"}])
    assert (empty.status_code, empty.body) == (400, "missing_text_or_fallback_or_attachments")
    assert len(slack.top_level()) == 1


def test_webhook_errors_are_statuses_with_short_text(slack: FakeSlack) -> None:
    unknown = WebhookClient(slack.webhook_url("T1/B1/unknown")).send(text="x")
    assert (unknown.status_code, unknown.body) == (404, "no_service")
    raw = httpx.post(
        slack.webhook_url(), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (raw.status_code, raw.text) == (400, "invalid_payload")
    slack.archived.add("#integrations")
    archived = WebhookClient(slack.webhook_url()).send(text="x")
    assert (archived.status_code, archived.body) == (410, "channel_is_archived")


def test_webhook_429_has_retry_after_1_and_no_body(slack: FakeSlack) -> None:
    slack.fail_next("ratelimited")
    slack.retry_after = 1
    response = WebhookClient(slack.webhook_url()).send(text="x")
    assert response.status_code == 429
    assert response.body == ""
    assert response.headers["retry-after"] == "1"


def test_webhook_5xx_can_be_an_html_page(slack: FakeSlack) -> None:
    slack.fail_next("down")
    response = WebhookClient(slack.webhook_url()).send(text="x")
    assert response.status_code == 503
    assert "Server Error | Slack" in response.body


def test_every_request_is_recorded(slack: FakeSlack) -> None:
    client(slack).chat_postMessage(channel="#integrations", text="a")
    WebhookClient(slack.webhook_url()).send(text="b")
    assert [r.method for r in slack.requests] == ["chat.postMessage", "webhook"]
    assert json.loads(slack.requests[1].body)["text"] == "b"


def test_history_pages_newest_first_with_metadata_only_when_asked(slack: FakeSlack) -> None:
    web = client(slack)
    stamp = {"event_type": "breakerwatch_incident", "event_payload": {"incident": "kit#1"}}
    posted = [web.chat_postMessage(channel="#integrations", text=f"m{i}", metadata=stamp)
              for i in range(5)]  # fmt: skip
    web.chat_postMessage(channel="#integrations", text="reply", thread_ts=posted[0]["ts"])
    channel = posted[0]["channel"]
    first = web.conversations_history(channel=channel, limit=2, include_all_metadata=True)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]  # newest first, no reply
    assert first["messages"][0]["metadata"] == stamp
    assert first["has_more"] is True
    rest = web.conversations_history(channel=channel, limit=10,
                                     cursor=first["response_metadata"]["next_cursor"])  # fmt: skip
    assert [m["text"] for m in rest["messages"]] == ["m2", "m1", "m0"]
    assert rest["has_more"] is False
    assert "metadata" not in rest["messages"][0]  # not asked for
    since = web.conversations_history(channel=channel, oldest=posted[2]["ts"])
    assert [m["text"] for m in since["messages"]] == ["m4", "m3"]  # strictly after
    inclusive = web.conversations_history(channel=channel, oldest=posted[2]["ts"], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2"]


def test_history_needs_the_scope_the_channel_id_and_membership() -> None:
    with FakeSlack(history_scope=False) as bare:
        channel = client(bare).chat_postMessage(channel="#integrations", text="x")["channel"]
        with pytest.raises(SlackApiError) as raised:
            client(bare).conversations_history(channel=channel)
        assert raised.value.response["error"] == "missing_scope"
        assert raised.value.response["needed"] == "channels:history"
    with FakeSlack(channels=("#integrations", "#other"), not_member=("#other",)) as slack:
        with pytest.raises(SlackApiError) as by_name:
            client(slack).conversations_history(channel="#integrations")
        assert by_name.value.response["error"] == "channel_not_found"  # an ID, not a name
        with pytest.raises(SlackApiError) as outside:
            client(slack).conversations_history(channel=slack.channels["#other"])
        assert outside.value.response["error"] == "not_in_channel"


@pytest.mark.parametrize("mode", ["acted_disconnect", "acted_5xx", "acted_stall"])
def test_acted_modes_post_and_then_let_the_client_down(slack: FakeSlack, mode: str) -> None:
    """The client learns of no success (a dropped connection, a 503, a timeout), yet the
    message is in the channel: the window that only reading the history can close."""
    slack.fail_next(mode)
    failures: list[BaseException] = []
    posting = threading.Thread(target=_post, args=(slack, failures))
    posting.start()
    if mode == "acted_stall":
        _release_after_the_timeout(slack)
    posting.join(10)
    assert len(failures) == 1
    assert isinstance(failures[0], SlackApiError | OSError), failures
    history = client(slack).conversations_history(channel=slack.channels["#integrations"])
    assert [m["text"] for m in history["messages"]] == ["posted, not acknowledged"]


def _post(slack: FakeSlack, failures: list[BaseException]) -> None:
    web = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[], timeout=1)
    try:
        web.chat_postMessage(channel="#integrations", text="posted, not acknowledged")
    except (SlackApiError, OSError) as failure:
        failures.append(failure)


def _release_after_the_timeout(slack: FakeSlack) -> None:
    pause = threading.Event()
    while slack.held == 0 and not pause.wait(0.01):
        pass
    pause.wait(1.2)  # past the client's 1 s timeout
    slack.release()


def test_read_methods_answer_get_with_a_query_as_slack_sdk_sends_them(slack: FakeSlack) -> None:
    async def read() -> dict[str, Any]:
        web = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
        posted = await web.chat_postMessage(channel="#integrations", text="x")
        history = await web.conversations_history(channel=posted["channel"], limit=5)
        return dict(history.data) if isinstance(history.data, dict) else {}

    assert [m["text"] for m in asyncio.run(read())["messages"]] == ["x"]
    (request,) = slack.calls("conversations.history")
    assert request.payload["limit"] == "5"  # from the query string


def test_replies_are_the_parent_then_its_thread_oldest_first(slack: FakeSlack) -> None:
    web = client(slack)
    stamp = {"event_type": "breakerwatch_alert", "event_payload": {"id": "r1"}}
    parent = web.chat_postMessage(channel="#integrations", text="parent")
    for text in ("one", "two"):
        web.chat_postMessage(channel="#integrations", text=text, thread_ts=parent["ts"],
                             metadata=stamp)  # fmt: skip
    channel = parent["channel"]
    thread = web.conversations_replies(channel=channel, ts=parent["ts"], include_all_metadata=True)
    assert [m["text"] for m in thread["messages"]] == ["parent", "one", "two"]
    assert thread["messages"][1]["metadata"] == stamp
    bare = web.conversations_replies(channel=channel, ts=parent["ts"], limit=2)
    assert "metadata" not in bare["messages"][1]
    assert bare["has_more"] is True
    with pytest.raises(SlackApiError) as missing:
        web.conversations_replies(channel=channel, ts="1.000001")
    assert missing.value.response["error"] == "thread_not_found"


def test_replies_can_be_refused_to_a_bot_token() -> None:
    with FakeSlack(replies_scope=False) as slack:
        web = client(slack)
        parent = web.chat_postMessage(channel="#integrations", text="parent")
        with pytest.raises(SlackApiError) as refused:
            web.conversations_replies(channel=parent["channel"], ts=parent["ts"])
        assert refused.value.response["error"] == "missing_scope"
        assert web.conversations_history(channel=parent["channel"])["ok"] is True


def test_list_pages_channels_by_type_without_archived_when_asked() -> None:
    names = ("#integrations", "#ops", "#secret", "#old")
    with FakeSlack(channels=names, private=("#secret",), archived=("#old",)) as slack:
        web = client(slack)
        public = web.conversations_list()
        assert [c["name"] for c in public["channels"]] == ["integrations", "ops", "old"]
        both = web.conversations_list(types="public_channel,private_channel",
                                      exclude_archived=True, limit=2)  # fmt: skip
        assert [c["name"] for c in both["channels"]] == ["integrations", "ops"]
        rest = web.conversations_list(types="public_channel,private_channel",
                                      exclude_archived=True,
                                      cursor=both["response_metadata"]["next_cursor"])  # fmt: skip
        assert [(c["name"], c["is_private"]) for c in rest["channels"]] == [("secret", True)]
        assert rest["response_metadata"]["next_cursor"] == ""
    with FakeSlack(list_scope=False) as bare:
        with pytest.raises(SlackApiError) as missing:
            client(bare).conversations_list()
        assert missing.value.response["needed"] == "channels:read"


def test_an_update_keeps_the_metadata_unless_it_brings_its_own(slack: FakeSlack) -> None:
    web = client(slack)
    first = {"event_type": "breakerwatch_alert", "event_payload": {"open": True}}
    posted = web.chat_postMessage(channel="#integrations", text="a", metadata=first)
    web.chat_update(channel=posted["channel"], ts=posted["ts"], text="b")
    (message,) = slack.top_level()
    assert message.metadata == first
    closed = {"event_type": "breakerwatch_alert", "event_payload": {"open": False}}
    web.chat_update(channel=posted["channel"], ts=posted["ts"], text="c", metadata=closed)
    assert message.metadata == closed
    with pytest.raises(SlackApiError) as bad:
        web.chat_update(channel=posted["channel"], ts=posted["ts"], text="d", metadata={"x": 1})
    assert bad.value.response["error"] == "invalid_metadata_format"
