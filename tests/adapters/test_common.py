"""Every vendor adapter against the simulator, over real sockets: the shared behaviours."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from probes import Breaker, BreakerConfig, Kind, Reason, RetryPolicy, State
from probes.adapters import (
    Adapter,
    AdapterError,
    HubSpotAdapter,
    KitAdapter,
    MailchimpAdapter,
    SendGridAdapter,
    adapter_class,
)
from simulator import Simulator
from tests.simulator.helpers import admin

pytestmark = pytest.mark.anyio

CANARY = "canary-4e8a1f6b2d9c"
ADAPTERS: dict[str, Callable[..., Adapter]] = {
    "kit": KitAdapter,
    "hubspot": HubSpotAdapter,
    "mailchimp": MailchimpAdapter,
    "sendgrid": SendGridAdapter,
}
VENDORS = list(ADAPTERS)


class Waits:
    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def build(sim: Simulator, vendor: str, key: str | None = None, **options: Any) -> Adapter:
    options.setdefault("sleep", Waits())
    options.setdefault("timeout", 5.0)
    credential = key or sim.credentials[vendor]
    return ADAPTERS[vendor](vendor, credential, base_url=sim.base_url(vendor), **options)


def requests_seen(sim: Simulator, vendor: str) -> int:
    return len(admin(sim, "GET", f"/{vendor}/requests").json()["requests"])


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_healthy_vendor(simulator: Simulator, vendor: str) -> None:
    async with build(simulator, vendor) as adapter:
        result = await adapter.health_check()
        metrics = adapter.metrics()
    assert (result.outcome.kind, result.attempts) == (Kind.SUCCESS, 1)
    assert adapter.breaker_state() is State.CLOSED
    assert (metrics.requests, metrics.successes, metrics.success_rate) == (1, 1, 1.0)
    assert metrics.last_latency is not None
    assert metrics.last_latency > 0
    has_headroom = vendor in ("hubspot", "sendgrid")  # Kit and Mailchimp send no headers
    assert (metrics.rate_limit_remaining is not None) == has_headroom


VENDOR_401 = {
    "kit": "The access token is invalid",
    "hubspot": "Authentication credentials not found.",
    "mailchimp": "API Key Invalid",
    "sendgrid": "The provided authorization grant is invalid, expired, or revoked",
}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_refused_key_is_auth_and_never_retried(simulator: Simulator, vendor: str) -> None:
    wrong = f"{CANARY}-us21" if vendor == "mailchimp" else CANARY
    async with build(simulator, vendor, key=wrong) as adapter:
        result = await adapter.health_check()
    assert (result.outcome.reason, result.attempts) == (Reason.AUTH, 1)
    assert result.outcome.detail.startswith("the credential was refused (HTTP 401")
    assert VENDOR_401[vendor] in result.outcome.detail
    assert CANARY not in result.outcome.detail
    assert requests_seen(simulator, vendor) == 1


def expected_hint(vendor: str) -> Callable[[float | None], bool]:
    return {
        "kit": lambda hint: hint == 60.0,  # Kit's documented rolling window
        "hubspot": lambda hint: hint == 10.0,  # one ten-secondly interval
        "mailchimp": lambda hint: hint is None,  # no hint: the breaker backs off 1, 2, 4 s
        "sendgrid": lambda hint: hint is not None and 55 <= hint <= 61,  # X-RateLimit-Reset
    }[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_429_without_retry_after_is_throttled_with_the_vendors_wait(
    simulator: Simulator, vendor: str
) -> None:
    admin(simulator, "PUT", f"/{vendor}/mode", {"mode": "429"})
    async with build(simulator, vendor, deadline=5.0) as adapter:
        result = await adapter.health_check()
        assert adapter.breaker_state() is State.CLOSED  # throttling is not an outage
        assert adapter.client.breaker.cooldown_until is not None
    assert result.outcome.kind is Kind.THROTTLED
    assert expected_hint(vendor)(result.outcome.retry_after)
    assert adapter.metrics().throttled >= 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_429_with_retry_after_waits_then_succeeds(simulator: Simulator, vendor: str) -> None:
    admin(simulator, "PUT", f"/{vendor}/script", {"steps": [{"mode": "429", "retry_after": 2}]})
    waits = Waits()
    async with build(simulator, vendor, sleep=waits) as adapter:
        result = await adapter.health_check()
    assert (result.outcome.kind, result.attempts) == (Kind.SUCCESS, 2)
    assert waits.seen[0] >= 2


@pytest.mark.parametrize("vendor", VENDORS)
async def test_5xx_then_recovery(simulator: Simulator, vendor: str) -> None:
    admin(simulator, "PUT", f"/{vendor}/script", {"steps": [{"mode": "5xx", "times": 2}]})
    async with build(simulator, vendor) as adapter:
        result = await adapter.health_check()
    assert (result.outcome.kind, result.attempts) == (Kind.SUCCESS, 3)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ({"mode": "slow", "delay_ms": 2000}, Reason.TIMEOUT),
        ({"mode": "reset"}, Reason.CONNECT_ERROR),
        ({"mode": "reset_mid_body"}, Reason.CONNECT_ERROR),
        ({"mode": "malformed"}, Reason.INVALID_RESPONSE),
        ({"mode": "malformed", "body": "html"}, Reason.INVALID_RESPONSE),
        ({"mode": "malformed", "body": "empty"}, Reason.INVALID_RESPONSE),
    ],
)
@pytest.mark.parametrize("vendor", VENDORS)
async def test_failures_are_classified(
    simulator: Simulator, vendor: str, mode: dict[str, Any], reason: Reason
) -> None:
    admin(simulator, "PUT", f"/{vendor}/mode", mode)
    options = {"timeout": 0.3, "retry": RetryPolicy(max_attempts=1)}
    async with build(simulator, vendor, **options) as adapter:
        result = await adapter.health_check()
    assert result.outcome.reason is reason


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_open_breaker_stops_calling_the_vendor(simulator: Simulator, vendor: str) -> None:
    admin(simulator, "PUT", f"/{vendor}/mode", {"mode": "5xx"})
    breaker = Breaker(vendor, BreakerConfig(failure_threshold=2, window=10, min_calls=10))
    retry = RetryPolicy(max_attempts=1)
    async with build(simulator, vendor, breaker=breaker, retry=retry) as adapter:
        await adapter.health_check()
        await adapter.health_check()
        assert adapter.breaker_state() is State.OPEN
        rejected = await adapter.health_check()
    assert rejected.outcome.kind is Kind.REJECTED
    assert requests_seen(simulator, vendor) == 2


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_key_never_leaves_the_adapter(
    simulator: Simulator, vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Plant the key as a canary, fail every way, and search every output for it."""
    caplog.set_level(logging.DEBUG)
    key = f"{CANARY}-us21" if vendor == "mailchimp" else CANARY
    simulator.vendors[vendor].credentials.add(key)
    admin(simulator, "PUT", f"/{vendor}/script", {"steps": [
        {"mode": "401"}, {"mode": "5xx"}, {"mode": "reset"}, {"mode": "malformed"},
        {"mode": "429"}, {"mode": "slow", "delay_ms": 1000},
    ]})  # fmt: skip
    outputs: list[str] = []
    options = {"retry": RetryPolicy(max_attempts=1), "timeout": 0.3}
    async with build(simulator, vendor, key=key, **options) as adapter:
        for _ in range(7):
            result = await adapter.health_check()
            outputs += [repr(result), result.outcome.detail]
            try:
                result.raise_for_outcome()
            except Exception as error:
                outputs.append(str(error))
            adapter.client.breaker.reset()
        outputs += [repr(adapter), repr(adapter.metrics()), repr(adapter.client)]
    outputs.append(caplog.text)
    sent = admin(simulator, "GET", f"/{vendor}/requests").json()["requests"]
    assert any(key in str(request["headers"]) for request in sent) or vendor == "mailchimp"
    for text in outputs:
        assert CANARY not in text


def test_an_unknown_kind_names_the_integration_and_the_choices() -> None:
    with pytest.raises(AdapterError) as error:
        adapter_class("billing", "salesforce")
    assert str(error.value) == (
        "billing: kind: unknown kind 'salesforce'; "
        "expected one of convertkit, hubspot, mailchimp, sendgrid, http"
    )
    assert adapter_class("kit", "convertkit") is KitAdapter


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        (
            "api.kit.com",
            "kit: base_url: 'api.kit.com' is not an http(s) URL; write https://api.kit.com",
        ),
        ("ftp://api.kit.com", "kit: base_url: 'ftp://api.kit.com' is not an http(s) URL"),
        ("https://", "kit: base_url: 'https://' has no host"),
    ],
)
def test_a_base_url_without_a_scheme_is_refused(base_url: str, message: str) -> None:
    with pytest.raises(AdapterError) as error:
        KitAdapter("kit", "key", base_url=base_url)
    assert str(error.value) == message


def test_default_roots_are_the_vendors() -> None:
    built = [
        KitAdapter("k", "key"),
        HubSpotAdapter("h", "token"),
        MailchimpAdapter("m", "0123abcd-us21"),
        SendGridAdapter("s", "key"),
    ]
    assert [a.base_url for a in built] == [
        "https://api.kit.com",
        "https://api.hubapi.com",
        "https://us21.api.mailchimp.com",
        "https://api.sendgrid.com",
    ]
