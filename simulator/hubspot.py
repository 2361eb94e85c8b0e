"""HubSpot with a private-app token, as docs/integrations.md describes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from simulator.oauth import OAuthFake
from simulator.vendor import (
    Limit,
    RateWindow,
    VendorFake,
    bearer,
    html_error,
    iso8601,
    limit_from,
)
from simulator.wire import SimRequest, SimResponse, json_response

__all__ = ["HubSpotFake"]

_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_EDGE_STATUSES = frozenset({521, 522, 523, 524})


def _error(status: int, message: str, category: str, **extra: Any) -> SimResponse:
    payload = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    return json_response(status, {**payload, "category": category, **extra})


class HubSpotFake(VendorFake):
    """Account details, contacts (create, patch by email, batch upsert by email), and what
    a token may do (the private-app token information, the OAuth token metadata).

    Every answer carries `X-HubSpot-RateLimit-*` headers; more than `secondly.requests`
    requests in 10 s, or `daily.requests` in a day, get the RATE_LIMIT 429 body with its
    `policyName`. Edge statuses (521 to 524) come back as HTML, as Cloudflare sends them.
    A contact write without `crm.objects.contacts.write` gets the 403 MISSING_SCOPES body,
    its `errors[].context.requiredScopes` naming what is needed (the shape HubSpot answers,
    as quoted in HubSpot/hubspot-api-nodejs#268).
    """

    name = "hubspot"
    title = "HubSpot (private app)"
    routes = (
        ("GET", r"/account-info/v3/details", "details"),
        ("GET", r"/integrations/v1/me", "me"),
        ("GET", r"/account-info/v3/api-usage/daily/private-apps", "usage"),
        ("POST", r"/crm/v3/objects/contacts", "create_contact"),
        ("PATCH", r"/crm/v3/objects/contacts/(?P<id>[^/]+)", "update_contact"),
        ("GET", r"/crm/v3/objects/contacts/(?P<id>[^/]+)", "read_contact"),
        ("POST", r"/crm/v3/objects/contacts/batch/upsert", "batch_upsert"),
        ("POST", r"/oauth/v2/private-apps/get/access-token-info", "private_app_token"),
        ("GET", r"/oauth/v1/access-tokens/(?P<token>[^/]+)", "oauth_token"),
    )
    all_scopes = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write")
    _write = ("crm.objects.contacts.write",)
    needs: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "create_contact": _write, "update_contact": _write, "batch_upsert": _write,
    }  # fmt: skip

    token_paths = ("/oauth/2026-03/token", "/oauth/v1/token")
    write_endpoints = frozenset({"create_contact", "update_contact", "batch_upsert"})

    def __init__(self, credentials: set[str], *, clock: Any, wall: Any) -> None:
        super().__init__(credentials, clock=clock, wall=wall)
        self.oauth = OAuthFake("hubspot", clock, self._bad_refresh_token)
        self.secondly = RateWindow(Limit(100, 10.0), clock)
        self.daily = RateWindow(Limit(250_000, 86_400.0), clock)
        self.time_zone = "US/Eastern"
        self.reset_state()

    def reset_state(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-cased email

    # -- the vendor's answers ------------------------------------------------------------

    def credential(self, request: SimRequest) -> str | None:
        return bearer(request)

    def unauthorized(self) -> SimResponse:
        return _error(401, _AUTH_MESSAGE, "INVALID_AUTHENTICATION")

    def throttled(
        self, credential: str | None, policy: str = "TEN_SECONDLY_ROLLING"
    ) -> SimResponse:
        limit = "daily" if policy == "DAILY" else policy.lower()
        return _error(
            429,
            f"You have reached your {limit} limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName=policy,
        )

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        if html or status in _EDGE_STATUSES:
            return html_error(status, "Origin Error", "text/html; charset=UTF-8")
        return _error(status, message or "internal error", "INTERNAL_ERROR")

    def not_found(self) -> SimResponse:
        return _error(404, "resource not found", "OBJECT_NOT_FOUND")

    def _bad_refresh_token(self, given: str) -> SimResponse:
        return json_response(400, {"status": "BAD_REFRESH_TOKEN",
                                    "message": "missing or unknown refresh token",
                                    "correlationId": str(uuid.uuid4())})  # fmt: skip

    def missing_scopes(self, needed: Iterable[str]) -> SimResponse:
        return _error(
            403,
            "This app hasn't been granted all required scopes to make this call. Read more "
            "about required scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            errors=[{"message": "One or more of the following scopes are required.",
                     "context": {"requiredScopes": list(needed)}}],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )  # fmt: skip

    def set_limits(self, settings: dict[str, Any]) -> None:
        """{"requests": 100, "window": 10, "daily": 250000}."""
        daily = {"requests": settings["daily"]} if "daily" in settings else {}
        secondly = {k: v for k, v in settings.items() if k != "daily"}
        self.secondly.limit = limit_from(secondly, self.secondly.limit, {"requests", "window"})
        self.daily.limit = limit_from(daily, self.daily.limit, {"requests"})

    def admit(self, request: SimRequest, credential: str) -> SimResponse | None:
        daily_ok, _, _ = self.daily.take(credential)
        if not daily_ok:
            return self.decorate(self.throttled(credential, "DAILY"), credential)
        ok, _, _ = self.secondly.take(credential)
        return None if ok else self.decorate(self.throttled(credential), credential)

    def decorate(self, response: SimResponse, credential: str | None) -> SimResponse:
        if credential in self.credentials:
            assert credential is not None
            response.headers += [
                ("X-HubSpot-RateLimit-Max", str(self.secondly.limit.requests)),
                ("X-HubSpot-RateLimit-Remaining", str(self.secondly.remaining(credential))),
                ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
                ("X-HubSpot-RateLimit-Daily", str(self.daily.limit.requests)),
                ("X-HubSpot-RateLimit-Daily-Remaining", str(self.daily.remaining(credential))),
            ]
        return response

    # -- endpoints -----------------------------------------------------------------------

    def details(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(
            200,
            {
                "portalId": 12345678,
                "accountType": "STANDARD",
                "timeZone": self.time_zone,
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            },
        )

    def me(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(
            200,
            {
                "portalId": 12345678,
                "timeZone": self.time_zone,
                "currency": "USD",
                "utcOffsetMilliseconds": -18_000_000,
                "utcOffset": "-05:00",
            },
        )

    def usage(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        limit = self.daily.limit.requests
        credential = bearer(request) or ""
        return json_response(
            200,
            {
                "results": [
                    {
                        "name": "private-apps-api-calls-daily",
                        "usageLimit": limit,
                        "currentUsage": limit - self.daily.remaining(credential),
                        "collectedAt": iso8601(self._wall()),
                        "fetchStatus": "SUCCESS",
                    }
                ]
            },
        )

    def private_app_token(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """`{"tokenKey": "pat-..."}`: the app, account, user and scopes of a private-app token."""
        body = request.json()
        token = body.get("tokenKey") if isinstance(body, dict) else None
        if token not in self.credentials:
            return _validation("tokenKey is not a valid private app access token")
        return json_response(200, {"userId": 101, "hubId": 12345678, "appId": 2020,
                                   "scopes": sorted(self.granted)})  # fmt: skip

    def oauth_token(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """The metadata of an OAuth access token (in the path), its scopes among them."""
        if match["token"] not in self.credentials and not self.admits(match["token"]):
            return self.not_found()
        return json_response(200, {
            "token": match["token"], "user": "sim@example.com", "hub_domain": "sim.example.com",
            "scopes": sorted(self.granted), "hub_id": 12345678, "app_id": 2020,
            "expires_in": 1800, "user_id": 101, "token_type": "access",
        })  # fmt: skip

    def create_contact(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        properties = _properties(request.json())
        if properties is None or not isinstance(properties.get("email"), str):
            return _validation("Property values were not valid: email is required")
        existing = self.contacts.get(properties["email"].lower())
        if existing is not None:
            return _error(
                409,
                f"Contact already exists. Existing ID: {existing['id']}",
                "CONFLICT",
            )
        return json_response(201, self._store(properties)[0])

    def read_contact(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """By id, or by email with `idProperty=email`; `properties` names what to return."""
        if request.query.get("idProperty") == "email":
            contact = self.contacts.get(match["id"].lower())
        else:
            contact = next((c for c in self.contacts.values() if c["id"] == match["id"]), None)
        if contact is None:
            return self.not_found()
        wanted = [p for p in request.query.get("properties", "").split(",") if p]
        shown = {k: v for k, v in contact["properties"].items() if k in wanted or not wanted}
        return json_response(200, {**contact, "properties": shown})

    def update_contact(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        properties = _properties(request.json())
        if properties is None:
            return _validation("Invalid input JSON: properties is required")
        key = match["id"].lower()
        if request.query.get("idProperty") == "email":
            contact = self.contacts.get(key)
        else:
            contact = next((c for c in self.contacts.values() if c["id"] == match["id"]), None)
        if contact is None:
            return self.not_found()
        contact["properties"].update(properties)
        contact["updatedAt"] = iso8601(self._wall())
        return json_response(200, contact)

    def batch_upsert(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        body = request.json()
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return _validation("Invalid input JSON: inputs is required")
        started = iso8601(self._wall())
        results = []
        for i, item in enumerate(inputs):
            if not isinstance(item, dict) or item.get("idProperty") != "email":
                return _validation(f"inputs[{i}].idProperty must be 'email' for this simulator")
            email = item.get("id")
            properties = item.get("properties") or {}
            if not isinstance(email, str) or not isinstance(properties, dict):
                return _validation(f"inputs[{i}]: id (the email) and properties are required")
            contact, new = self._store({**properties, "email": email})
            result = {**contact, "new": new}
            if "objectWriteTraceId" in item:
                result["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(result)
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": iso8601(self._wall()),
            },
        )

    def _store(self, properties: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        email = properties["email"].lower()
        now = iso8601(self._wall())
        contact = self.contacts.get(email)
        if contact is not None:
            contact["properties"].update({**properties, "email": email})
            contact["updatedAt"] = now
            return contact, False
        contact = self.contacts[email] = {
            "id": str(5000 + len(self.contacts)),
            "properties": {**properties, "email": email},
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        return contact, True


def _properties(body: object) -> dict[str, Any] | None:
    properties = body.get("properties") if isinstance(body, dict) else None
    return properties if isinstance(properties, dict) else None


def _validation(message: str) -> SimResponse:
    return _error(400, message, "VALIDATION_ERROR")
