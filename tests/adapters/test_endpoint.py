"""The generic HTTP probe: statuses, body assertions, latency and TLS, over real sockets."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from probes import Kind, Reason, RetryPolicy
from probes.adapters import AdapterError, BodyAssertion, HttpEndpointAdapter
from probes.adapters.endpoint import json_path
from probes.secrets import resolve
from tests.fakes.http_server import Reply, ScriptedServer

pytestmark = pytest.mark.anyio

ONCE = RetryPolicy(max_attempts=1)
HEALTH = b'{"status": "ok", "checks": [{"name": "db", "ok": true}], "version": "1.4"}'


def probe(url: str, **options: Any) -> HttpEndpointAdapter:
    options.setdefault("retry", ONCE)
    return HttpEndpointAdapter("billing", url, **options)


async def test_expected_status_and_the_full_target(server: ScriptedServer) -> None:
    server.default = Reply(204, body=b"")
    async with probe(f"{server.url}/healthz?deep=1", expect_status=[204]) as billing:
        result = await billing.health_check()
    assert result.outcome.ok
    assert server.requests[0].path == "/healthz?deep=1"
    async with probe(f"{server.url}/healthz") as strict:
        assert (await strict.health_check()).outcome.reason is Reason.CLIENT_ERROR  # 204 != 200


@pytest.mark.parametrize(
    ("assertion", "failure"),
    [
        (BodyAssertion(contains='"ok"'), None),
        (BodyAssertion(contains="degraded"), "the body does not contain 'degraded'"),
        (BodyAssertion(json_path="$.status", equals="ok"), None),
        (BodyAssertion(json_path="$.checks[0].ok", equals=True), None),
        (BodyAssertion(json_path="$.version", equals="1.5"), "$.version is '1.4', want '1.5'"),
        (BodyAssertion(json_path="$.checks[0].name", exists=True), None),
        (BodyAssertion(json_path="$.checks[3]", exists=True), "$.checks[3] is missing"),
        (BodyAssertion(json_path="$.error", exists=False), None),
        (BodyAssertion(json_path="$.missing", equals=1), "$.missing is missing, want 1"),
    ],
)
async def test_body_assertions(
    server: ScriptedServer, assertion: BodyAssertion, failure: str | None
) -> None:
    server.default = Reply(body=HEALTH)
    async with probe(f"{server.url}/health", assertions=[assertion]) as billing:
        result = await billing.health_check()
    if failure is None:
        assert result.outcome.ok
    else:
        assert (result.outcome.reason, result.outcome.detail) == (Reason.ASSERTION, failure)
        assert result.attempts == 1  # an assertion is not retried


def test_json_paths_and_bad_assertions() -> None:
    document = {"a": {"b c": [1, {"d": None}]}}
    assert json_path(document, '$.a["b c"][1].d') == (True, None)
    assert json_path(document, "$.a['b c'][2]") == (False, None)
    assert json_path(document, "$") == (True, document)
    with pytest.raises(ValueError, match="starts with"):
        json_path(document, "a.b")
    with pytest.raises(ValueError, match="exactly one of contains or json_path"):
        BodyAssertion()
    with pytest.raises(ValueError, match="exactly one of equals or exists"):
        BodyAssertion(json_path="$.a")
    with pytest.raises(ValueError, match="cannot read the JSON path"):
        BodyAssertion(json_path="$..a", exists=True)


async def test_max_latency(server: ScriptedServer) -> None:
    server.default = Reply(delay=0.3)
    async with probe(f"{server.url}/slow", max_latency=0.1) as billing:
        result = await billing.health_check()
    assert result.outcome.reason is Reason.ASSERTION
    assert result.outcome.detail.startswith("the answer took 0.")
    assert result.outcome.detail.endswith("s, over the 0.1s maximum")


async def test_method_body_and_secret_headers(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "canary-7a6b5c4d3e2f"
    token = resolve("env:BILLING_TOKEN", environ={"BILLING_TOKEN": canary})
    server.default = Reply(401, body=b'{"error": "bad token"}')
    async with probe(
        f"{server.url}/check", method="post", body='{"ping": 1}',
        headers={"X-Probe-Token": token, "X-Team": "payments"},
    ) as billing:  # fmt: skip
        result = await billing.health_check()
        shown = [repr(billing), repr(billing.metrics()), repr(result), result.outcome.detail]
    seen = server.requests[0]
    assert (seen.method, seen.body) == ("POST", b'{"ping": 1}')
    assert seen.headers["X-Probe-Token"] == canary
    assert seen.headers["X-Team"] == "payments"
    assert result.outcome.reason is Reason.AUTH
    for text in [*shown, caplog.text]:
        assert canary not in text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "billing.example.com/healthz",
            "is not an http(s) URL; write https://billing.example.com/healthz",
        ),
        ("ftp://example.com/x", "'ftp://example.com/x' is not an http(s) URL"),
        ("https:///path", "'https:///path' has no host"),
        ("example.com/h?token=secret", "'example.com/h' is not an http(s) URL"),
    ],
)
def test_a_url_without_a_scheme_names_the_field(url: str, message: str) -> None:
    with pytest.raises(AdapterError) as error:
        HttpEndpointAdapter("billing", url)
    assert str(error.value).startswith("billing: url: ")
    assert message in str(error.value)
    assert "secret" not in str(error.value)


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA, days_left: float) -> Iterator[tuple[ScriptedServer, ssl.SSLContext]]:
    not_after = datetime.now(UTC) + timedelta(days=days_left)
    certificate = ca.issue_cert("127.0.0.1", not_after=not_after)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with ScriptedServer(tls=server_context) as server:
        yield server, client_context


@pytest.fixture
def expiring(ca: trustme.CA) -> Iterator[tuple[ScriptedServer, ssl.SSLContext]]:
    yield from tls_server(ca, days_left=10.5)


async def test_tls_days_left_is_reported(expiring: tuple[ScriptedServer, ssl.SSLContext]) -> None:
    server, trust = expiring
    async with probe(f"{server.url}/health", verify=trust) as billing:
        result = await billing.health_check()
    assert result.outcome.ok
    days = billing.metrics().tls_days_left
    assert days is not None
    assert 9.9 < days < 10.6  # X.509 times have whole seconds; the cert starts now


async def test_tls_minimum_days_is_an_assertion(
    expiring: tuple[ScriptedServer, ssl.SSLContext],
) -> None:
    server, trust = expiring
    async with probe(f"{server.url}/health", verify=trust, tls_min_days=14) as billing:
        result = await billing.health_check()
    assert result.outcome.reason is Reason.ASSERTION
    assert result.outcome.detail.startswith("the certificate expires in 10.")
    assert result.outcome.detail.endswith("days, under the 14-day minimum")


async def test_an_untrusted_certificate_is_a_connect_error(
    expiring: tuple[ScriptedServer, ssl.SSLContext],
) -> None:
    server, _ = expiring
    async with probe(f"{server.url}/health") as billing:  # the system trust store
        result = await billing.health_check()
    assert (result.outcome.kind, result.outcome.reason) == (Kind.FAILURE, Reason.CONNECT_ERROR)
    assert "CERTIFICATE_VERIFY_FAILED" in result.outcome.detail
