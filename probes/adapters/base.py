"""The interface every integration adapter shares, and what they have in common.

An adapter speaks one vendor's API over a `ResilientClient`: its auth, its health check,
its core write, and what its errors and throttling look like. Every adapter offers
`health_check()` (one probe, never raising), `breaker_state()`, `metrics()` and `aclose()`;
the daemon uses nothing else, and application code can call the core writes directly
with the same breaker the daemon watches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from probes.breaker import Breaker, Clock, State
from probes.http import AttemptEvent, Hook, ResilientClient, Result, Trace
from probes.oauth import RefreshingToken
from probes.outcome import InvalidResponse, Kind, Outcome, classify
from probes.retry import RetryBudget, RetryPolicy
from probes.secrets import Secret

__all__ = [
    "Adapter",
    "AdapterError",
    "AdapterMetrics",
    "CanaryWrite",
    "ClientOptions",
    "Scopes",
    "VendorAdapter",
    "reveal",
]

# The vendor's message is read up to this; `ResilientClient` cuts the whole detail short
# only after redacting it, so a secret the vendor echoes is never left half there.
_MESSAGE_READ = 4096


class AdapterError(ValueError):
    """An adapter setting is invalid. The message names the integration and the field."""

    def __init__(self, integration: str, field: str, problem: str) -> None:
        self.integration = integration
        self.field = field
        super().__init__(f"{integration}: {field}: {problem}")


class ClientOptions(TypedDict, total=False):
    """What an adapter passes through to its `ResilientClient` (see there)."""

    breaker: Breaker
    retry: RetryPolicy
    budget: RetryBudget
    timeout: float
    deadline: float
    hooks: Sequence[Hook]
    max_response_bytes: int
    transport: httpx.AsyncBaseTransport
    http: httpx.AsyncClient
    verify: Any
    proxy: str | Literal[False] | None
    auth: RefreshingToken
    fresh_every: float | None
    clock: Clock
    wall: Clock
    sleep: Any
    random: Any


@dataclass(frozen=True, slots=True)
class AdapterMetrics:
    """Counts since the adapter was built; requests are HTTP attempts actually sent."""

    integration: str
    kind: str
    state: State
    requests: int
    successes: int
    failures: int
    throttled: int
    last_latency: float | None
    mean_latency: float | None
    rate_limit_remaining: int | None
    tls_days_left: float | None = None

    @property
    def success_rate(self) -> float | None:
        """Successes over successes and failures (throttling is neither); None before any."""
        decided = self.successes + self.failures
        return self.successes / decided if decided else None


@dataclass(frozen=True, slots=True)
class Scopes:
    """What the vendor says a credential may do: `granted`, or None with `problem` saying
    why it could not be told (the vendor cannot tell, or the request failed)."""

    granted: frozenset[str] | None
    problem: str | None = None

    def missing(self, needed: Sequence[str]) -> tuple[str, ...] | None:
        """The scopes of `needed` the credential lacks, in order; None if not known."""
        if self.granted is None:
            return None
        return tuple(scope for scope in needed if scope not in self.granted)


@dataclass(frozen=True, slots=True)
class CanaryWrite:
    """One canary write: the dedicated identity, the value written this time (new each
    time, so reading it back proves this write), and where (Mailchimp's audience, Kit's
    form and tag)."""

    email: str
    marker: str
    list_id: str | None = None
    form_id: str | None = None
    tag_id: str | None = None


def read_back(field: str, found: Any, marker: str) -> None:
    """Raise `InvalidResponse` unless `found` (what the vendor read back) is `marker`."""
    if found != marker:
        shown = "nothing" if found is None else repr(str(found)[:80])
        raise InvalidResponse(f"the canary's {field} read back as {shown}, not what was written")


def reveal(secret: Secret | str) -> str:
    """The value of a secret, whether resolved from a reference or given directly."""
    return secret.reveal() if isinstance(secret, Secret) else secret


def check_base_url(integration: str, field: str, url: str) -> str:
    """`url` without a trailing slash, or `AdapterError` if it is not an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return url.rstrip("/")
    shown = parts._replace(query="", fragment="").geturl()  # a query could hold a token
    if parts.scheme not in ("http", "https"):
        hint = f"; write https://{shown}" if not parts.scheme else ""
        raise AdapterError(integration, field, f"{shown!r} is not an http(s) URL{hint}")
    raise AdapterError(integration, field, f"{shown!r} has no host")


class Adapter:
    """One integration: a vendor API behind a breaker, retries and redaction.

    Subclasses set `kind`, `default_base_url`, `health_path` (and `health_method`), pass
    their auth headers and secrets to `__init__`, and may refine `check_health`, `refine`,
    `vendor_message` and `rate_limit_remaining` with the vendor's own knowledge.
    """

    kind: ClassVar[str]
    default_base_url: ClassVar[str]
    health_method: str = "GET"
    health_path: str

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        headers: dict[str, str],
        secrets: Sequence[str],
        **options: Unpack[ClientOptions],
    ) -> None:
        self.name = name
        self.base_url = check_base_url(name, "base_url", base_url)
        self.wall: Clock = options.get("wall", time.time)
        self.sleep: Callable[[float], Awaitable[object]] = options.get("sleep", asyncio.sleep)
        self._requests = self._successes = self._failures = self._throttled = 0
        self._latency_total = 0.0
        self._last_latency: float | None = None
        self._rate_limit_remaining: int | None = None
        options["hooks"] = (self._observe, *options.get("hooks", ()))
        self.client = ResilientClient(
            name,
            base_url=self.base_url,
            headers=headers,
            secrets=secrets,
            classify=self._classify,
            **options,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.base_url}>"

    async def __aenter__(self) -> Adapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- the shared interface ------------------------------------------------------------

    async def health_check(self, *, trace: Trace | None = None) -> Result:
        """One probe of the vendor's health endpoint; the outcome says how it went.

        `trace` receives httpx's connection events (see `probes.http.Trace`).
        """
        return await self.client.request(
            self.health_method, self.health_path, validate=self.check_health, **_traced(trace)
        )

    def breaker_state(self) -> State:
        return self.client.breaker.state

    def metrics(self) -> AdapterMetrics:
        return AdapterMetrics(
            integration=self.name,
            kind=self.kind,
            state=self.breaker_state(),
            requests=self._requests,
            successes=self._successes,
            failures=self._failures,
            throttled=self._throttled,
            last_latency=self._last_latency,
            mean_latency=self._latency_total / self._requests if self._requests else None,
            rate_limit_remaining=self._rate_limit_remaining,
        )

    # -- what vendors refine -------------------------------------------------------------

    def check_health(self, response: httpx.Response) -> None:
        """Raise `InvalidResponse` if a 2xx health answer is not what the vendor sends."""
        if not isinstance(json_body(response), dict):
            raise InvalidResponse("the health check did not answer with a JSON object")

    def refine(self, outcome: Outcome, response: httpx.Response | None) -> Outcome:
        """Adjust the generic classification with what this vendor is known to do."""
        return outcome

    def vendor_message(self, body: Any) -> str | None:
        """The human message in the vendor's error body, if it has one."""
        return None

    def rate_limit_remaining(self, response: httpx.Response) -> int | None:
        """Requests left before the vendor throttles, where its headers say."""
        return None

    # -- internals -----------------------------------------------------------------------

    def _classify(
        self, observed: httpx.Response | BaseException, *, now: float, ok_status: Container[int]
    ) -> Outcome:
        outcome = classify(observed, now=now, ok_status=ok_status)
        response = observed if isinstance(observed, httpx.Response) else None
        if response is not None and outcome.kind in (Kind.FAILURE, Kind.THROTTLED):
            message = self.vendor_message(json_body(response))
            if message:
                outcome = replace(outcome, detail=f"{outcome.detail}: {message[:_MESSAGE_READ]}")
        return self.refine(outcome, response)

    def _observe(self, event: AttemptEvent) -> None:
        self._requests += 1
        self._last_latency = event.duration
        self._latency_total += event.duration
        kind = event.outcome.kind
        if kind is Kind.SUCCESS:
            self._successes += 1
        elif kind is Kind.FAILURE:
            self._failures += 1
        elif kind is Kind.THROTTLED:
            self._throttled += 1
        if event.response is not None:
            remaining = self.rate_limit_remaining(event.response)
            if remaining is not None:
                self._rate_limit_remaining = remaining


class VendorAdapter(Adapter):
    """An adapter for a vendor reached with one credential (an API key or a token).

    Subclasses say what config.toml calls the credential (`credential_field`), what its form
    must be (`credential_problem`), how it travels (`auth_headers`) and, if the API root
    depends on it, where to (`root`).
    """

    credential_field: ClassVar[str] = "api_key"
    # The vendor's Atlassian Statuspage page (its /api/v2/summary.json), where one is
    # established (docs/integrations.md, "Vendor status pages"): the `status_page` default.
    status_page: ClassVar[str | None] = None
    # The scopes this adapter's own writes need (docs/integrations.md, "Scope checks"): the
    # `scopes` default. Empty where the vendor cannot tell a credential's scopes.
    write_scopes: ClassVar[tuple[str, ...]] = ()
    # Where the vendor refreshes OAuth access tokens (docs/integrations.md, "OAuth"): the
    # `token_url` default; None for a vendor whose API takes no OAuth tokens here.
    oauth_token_url: ClassVar[str | None] = None

    @classmethod
    def credential_problem(cls, credential: str) -> str | None:
        """What is wrong with the credential's form, before any request; None if nothing."""
        return None

    def __init__(
        self,
        name: str,
        credential: Secret | str | None = None,
        *,
        oauth: RefreshingToken | None = None,
        base_url: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        """`credential` (an API key or a token), or `oauth`: access tokens that refresh
        themselves, for a vendor with an `oauth_token_url`."""
        self.name = name
        if (credential is None) == (oauth is None):
            raise AdapterError(name, self.credential_field, "give a credential or oauth, not both")
        if oauth is not None and self.oauth_token_url is None:
            raise AdapterError(name, "oauth", f"{self.kind} takes no OAuth access tokens")
        self._oauth = oauth
        self._credential = None if credential is None else reveal(credential)
        if self._credential is not None:
            problem = self.credential_problem(self._credential)
            if problem is not None:
                raise AdapterError(name, self.credential_field, problem)
            headers, secrets = self.auth_headers(self._credential), [self._credential]
            root = self.root(self._credential)
        else:
            assert oauth is not None
            options["auth"] = oauth
            headers, root = self.common_headers(), self.default_base_url
            secrets = [oauth.refresh_token, oauth.app.client_secret or ""]
        super().__init__(name, base_url=base_url or root, headers=headers, secrets=secrets,
                         **options)  # fmt: skip

    async def canary(self, write: CanaryWrite) -> None:
        """The vendor's idempotent write of `write.marker` to the canary identity, then read
        back: raises `RequestFailed` or `BreakerOpen` if a step fails, the read-back
        included (`InvalidResponse`: it did not read back what was written)."""
        raise NotImplementedError

    @property
    def oauth(self) -> RefreshingToken | None:
        """The refreshing OAuth tokens it authenticates with, if any (shareable)."""
        return self._oauth

    def common_headers(self) -> dict[str, str]:
        """Headers every request carries, whatever the credential (OAuth adds its own)."""
        return {}

    def auth_headers(self, credential: str) -> dict[str, str]:
        raise NotImplementedError

    def scope_request(self, credential: str) -> tuple[str, str, dict[str, Any]] | None:
        """The request (method, path, httpx options) whose JSON answer lists the
        credential's `scopes`; None where the vendor cannot tell them."""
        return None

    async def granted_scopes(self) -> Scopes:
        """Ask the vendor what the credential may do, through the breaker (never raises).
        With OAuth: what the token endpoint said, or the current access token's."""
        oauth = self._oauth
        if oauth is not None and oauth.scopes is not None:
            return Scopes(oauth.scopes)
        credential = self._credential if oauth is None else oauth.access
        if credential is None:
            return Scopes(None, "no access token yet: the next probe fetches one")
        request = self.scope_request(credential)
        if request is None:
            return Scopes(None, f"{self.kind} cannot tell what a credential may do")
        method, path, options = request
        result = await self.client.request(method, path, **options)
        outcome = result.outcome
        if not outcome.ok:
            what = outcome.reason or outcome.kind
            said = f": {outcome.detail}" if outcome.detail else ""
            return Scopes(None, f"the scope check failed ({what}){said}")
        body = json_body(result.response) if result.response is not None else None
        scopes = body.get("scopes") if isinstance(body, dict) else None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            return Scopes(None, "the scope check's answer held no list of scopes")
        return Scopes(frozenset(scopes))

    def root(self, credential: str) -> str:
        """The vendor's API root for this credential (default: `default_base_url`)."""
        return self.default_base_url


def _traced(trace: Trace | None) -> dict[str, Any]:
    return {} if trace is None else {"extensions": {"trace": trace}}


def json_body(response: httpx.Response) -> Any:
    """The response body as JSON, or None if it is not JSON."""
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None
