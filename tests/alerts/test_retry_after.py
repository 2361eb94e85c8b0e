"""Retry-After from Slack or Alertmanager, in either form RFC 9110 allows, parsed and capped,
over real sockets (a scripted server answering as the service would when it throttles)."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import httpx
import pytest

from alerts.messages import Message
from alerts.sinks import MAX_RETRY_AFTER, FailureReason, SinkError, retry_after
from alerts.sinks.alertmanager import push
from alerts.sinks.slack import SlackSink
from alerts.sinks.webhook import WebhookSink
from tests.fakes.http_server import Reply, ScriptedServer

NOW = 1_790_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": ["7"]}, 7.0),  # slack-sdk's webhook client gives lists
        ({"Retry-After": formatdate(NOW + 120, usegmt=True)}, 120.0),
        # the HTTP-date form is read against the answer's own Date, not our clock
        ({"Retry-After": formatdate(NOW + 90, usegmt=True),
          "Date": formatdate(NOW + 60, usegmt=True)}, 30.0),
        ({"Retry-After": "86400000"}, MAX_RETRY_AFTER),  # a wild one cannot hold alerts for days
        ({"Retry-After": formatdate(NOW + 10 * 86400, usegmt=True)}, MAX_RETRY_AFTER),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_retry_after(headers: dict[str, object], seconds: float | None) -> None:
    assert retry_after(headers, NOW) == seconds


def throttled(value: str, body: bytes = b"") -> Reply:
    return Reply(429, body, {"Retry-After": value, "Content-Type": "application/json"})


def in_a_while(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


RATELIMITED = b'{"ok": false, "error": "ratelimited"}'


def test_slack_web_api_retry_after_as_a_date(server: ScriptedServer) -> None:
    """A long wait goes back to the outbox (the sink pauses); slack-sdk's own retry handler
    would have raised ValueError on the date."""
    server.play(throttled(in_a_while(45), RATELIMITED))
    sink = SlackSink("xoxb-test", "#integrations", base_url=server.url + "/api/")
    with pytest.raises(SinkError) as error:
        asyncio.run(sink.post(Message("hello")))
    assert error.value.reason is FailureReason.RATE_LIMITED
    assert error.value.retry_after == pytest.approx(45, abs=2)
    assert server.hits == 1  # not waited out inside the call


def test_a_short_wait_is_retried_inside_the_call(server: ScriptedServer) -> None:
    posted = b'{"ok": true, "channel": "C1", "ts": "1.000100"}'
    server.play(throttled(in_a_while(1), RATELIMITED), Reply(200, posted))
    sink = SlackSink("xoxb-test", "#integrations", base_url=server.url + "/api/")
    assert asyncio.run(sink.post(Message("hello"))) == ("C1", "1.000100")
    assert server.hits == 2


def test_a_webhook_retry_after_beyond_reason_is_capped(server: ScriptedServer) -> None:
    server.play(throttled("31536000"))
    sink = WebhookSink(server.url + "/services/T/B/secret")
    with pytest.raises(SinkError) as error:
        asyncio.run(sink.post(Message("hello")))
    assert (error.value.reason, error.value.retry_after) == (
        FailureReason.RATE_LIMITED, MAX_RETRY_AFTER,
    )  # fmt: skip


def test_an_alertmanager_that_asks_for_time_gets_it(server: ScriptedServer) -> None:
    server.play(Reply(503, b"overloaded", {"Retry-After": in_a_while(20)}))

    async def send() -> None:
        async with httpx.AsyncClient() as http:
            await push(http, server.url, [])

    with pytest.raises(SinkError) as error:
        asyncio.run(send())
    assert error.value.reason is FailureReason.SERVER_ERROR
    assert error.value.retry_after == pytest.approx(20, abs=2)
