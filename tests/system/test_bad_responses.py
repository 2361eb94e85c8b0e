"""What a vendor may send back instead of an answer: every adapter classifies each as a
failure, in bounded memory (the body cap) and bounded time (the timeout), over real sockets."""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

import pytest

from probes import Kind, Reason, RetryPolicy
from probes.adapters import (
    Adapter,
    BodyAssertion,
    HttpEndpointAdapter,
    HubSpotAdapter,
    KitAdapter,
    MailchimpAdapter,
    SendGridAdapter,
)
from tests.fakes.http_server import Reply, ScriptedServer

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
NOISE = random.Random(7).randbytes(4096)
REPLIES = {
    "random bytes": Reply(body=NOISE, headers=JSON),
    "wrong content type": Reply(
        body=b"<html><body>Maintenance</body></html>", headers={"Content-Type": "text/html"}
    ),
    "invalid UTF-8": Reply(body=b'{"account": {"name": "\xff\xfe\xfd"}}', headers=JSON),
    "empty 200": Reply(body=b"", headers=JSON),
    "an endless body": Reply(endless=True, headers=JSON),
}


def adapter(kind: str, url: str, **options: Any) -> Adapter:
    options |= {"retry": RetryPolicy(max_attempts=1), "timeout": 2.0}
    if kind == "http":
        check = BodyAssertion(json_path="$.status", equals="ok")
        return HttpEndpointAdapter("billing", f"{url}/health", assertions=(check,), **options)
    key = "0123456789abcdef0123456789abcdef-us21" if kind == "mailchimp" else "key"
    cls = {"kit": KitAdapter, "hubspot": HubSpotAdapter, "mailchimp": MailchimpAdapter,
           "sendgrid": SendGridAdapter}[kind]  # fmt: skip
    return cls(kind, key, base_url=url, **options)  # type: ignore[call-arg]


KINDS = ["kit", "hubspot", "mailchimp", "sendgrid", "http"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(REPLIES))
async def test_garbage_is_a_failure_in_bounded_memory(
    server: ScriptedServer, kind: str, case: str
) -> None:
    server.default = REPLIES[case]
    tracemalloc.start()
    try:
        async with adapter(kind, server.url) as probe:
            result = await probe.health_check()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outcome = result.outcome
    assert outcome.kind is Kind.FAILURE, (case, outcome)
    assert outcome.reason in (Reason.INVALID_RESPONSE, Reason.ASSERTION), (case, outcome)
    assert peak < 16 * 2**20  # an endless body is cut at the 1 MiB cap, not buffered
    assert "\xff" not in outcome.detail


@pytest.mark.parametrize("kind", KINDS)
async def test_a_body_dripping_a_byte_a_second_times_out(server: ScriptedServer, kind: str) -> None:
    server.default = Reply(body=b'{"status": "ok", "account": {}}' * 4, headers=JSON, drip=1.0)
    async with adapter(kind, server.url) as probe:
        result = await probe.health_check()
    assert (result.outcome.kind, result.outcome.reason) == (Kind.FAILURE, Reason.TIMEOUT)
    assert result.attempts == 1
