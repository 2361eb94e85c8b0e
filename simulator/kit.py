"""Kit (ConvertKit) API v4, as docs/integrations.md describes it."""

from __future__ import annotations

import re
from typing import Any

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

__all__ = ["KitFake"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UNAUTHORIZED = {"errors": ["The access token is invalid"]}


def _bad_refresh_token(given: str) -> SimResponse:
    """As an RFC 6749 (section 5.2) token endpoint answers a refresh token it does not know."""
    description = (
        "The provided authorization grant is invalid, expired, revoked, or was issued to "
        "another client."
    )
    return json_response(400, {"error": "invalid_grant", "error_description": description})


def errors(status: int, *messages: str) -> SimResponse:
    return json_response(status, {"errors": list(messages)})


class KitFake(VendorFake):
    """`/v4/account`, the subscriber upsert, and adding to forms and tags.

    Credentials are API keys (`X-Kit-Api-Key`, 120 requests per rolling 60 s) or OAuth
    tokens (`Authorization: Bearer`, 600 per 60 s); anything else gets the documented 401.
    A 429 has no documented body or headers, so it carries neither `Retry-After` nor
    rate-limit headers.
    """

    name = "kit"
    token_paths = ("/v4/oauth/token",)
    write_endpoints = frozenset(
        {"create_subscriber", "add_to_form_by_email", "add_to_form_by_id", "tag_by_email"}
    )
    title = "Kit (ConvertKit) v4"
    routes = (
        ("GET", r"/v4/account", "account"),
        ("POST", r"/v4/subscribers", "create_subscriber"),
        ("GET", r"/v4/subscribers", "list_subscribers"),
        ("POST", r"/v4/forms/(?P<form>\d+)/subscribers", "add_to_form_by_email"),
        ("POST", r"/v4/forms/(?P<form>\d+)/subscribers/(?P<id>\d+)", "add_to_form_by_id"),
        ("POST", r"/v4/tags/(?P<tag>\d+)/subscribers", "tag_by_email"),
    )

    def __init__(
        self,
        credentials: set[str],
        *,
        clock: Any,
        wall: Any,
        forms: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        oauth_tokens: set[str] | None = None,
        reject_unknown_fields: bool = False,
    ) -> None:
        super().__init__(credentials, clock=clock, wall=wall)
        self.oauth_tokens = oauth_tokens or set()
        self.oauth = OAuthFake("kit", clock, _bad_refresh_token, rotate=True)
        self.forms = forms or {"1234": "Newsletter"}
        self.tags = tags or {"5678": "Customer"}
        self.custom_fields = {"company", "role"}
        self.reject_unknown_fields = reject_unknown_fields
        self.key_limit = RateWindow(Limit(120, 60.0), clock)
        self.oauth_limit = RateWindow(Limit(600, 60.0), clock)
        self.reset_state()

    def reset_state(self) -> None:
        self.subscribers: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self.memberships: dict[tuple[str, str, int], str] = {}  # (kind, id, subscriber) -> at

    # -- the vendor's answers ------------------------------------------------------------

    def credential(self, request: SimRequest) -> str | None:
        return request.headers.get("x-kit-api-key") or bearer(request)

    def unauthorized(self) -> SimResponse:
        return json_response(401, _UNAUTHORIZED)

    def refuse(self, request: SimRequest, credential: str | None) -> SimResponse | None:
        if request.headers.get("x-kit-api-key") in self.credentials:
            return None
        token = bearer(request)
        return None if token in self.oauth_tokens or self.admits(token) else self.unauthorized()

    def throttled(self, credential: str | None) -> SimResponse:
        return errors(429, "Rate limit exceeded")

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        if html:
            return html_error(status)
        return errors(status, message or "Internal server error")

    def not_found(self) -> SimResponse:
        return errors(404, "Not Found")

    def set_limits(self, settings: dict[str, Any]) -> None:
        """{"requests": 120, "window": 60}: the per-API-key limit."""
        self.key_limit.limit = limit_from(settings, self.key_limit.limit, {"requests", "window"})

    def admit(self, request: SimRequest, credential: str) -> SimResponse | None:
        oauth = credential in self.oauth_tokens or self.admits(credential)
        limit = self.oauth_limit if oauth else self.key_limit
        allowed, _, _ = limit.take(credential)
        return None if allowed else self.throttled(credential)

    # -- endpoints -----------------------------------------------------------------------

    def account(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(
            200,
            {
                "user": {"email": "owner@example.com", "id": 27},
                "account": {
                    "id": 27,
                    "name": "Simulated Kit Account",
                    "plan_type": "creator",
                    "primary_email_address": "owner@example.com",
                    "created_at": "2023-02-17T11:43:55Z",
                    "timezone": {
                        "name": "America/New_York",
                        "friendly_name": "Eastern Time (US & Canada)",
                        "utc_offset": "-05:00",
                    },
                    "sending_addresses": [],
                },
            },
        )

    def list_subscribers(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """`?email_address=`: the one subscriber with that address, if any."""
        wanted = request.query.get("email_address", "").lower()
        found = [s for key, s in self.subscribers.items() if not wanted or key == wanted]
        pagination = {"has_previous_page": False, "has_next_page": False,
                      "start_cursor": None, "end_cursor": None, "per_page": 500}  # fmt: skip
        return json_response(200, {"subscribers": found, "pagination": pagination})

    def create_subscriber(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        body = request.json()
        email = body.get("email_address") if isinstance(body, dict) else None
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            return errors(422, "Email address is invalid")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            return errors(422, "Fields must be an object")
        unknown = sorted(set(fields) - self.custom_fields)
        if unknown and self.reject_unknown_fields:
            return errors(422, f"Custom field {unknown[0]} does not exist")
        known = {k: v for k, v in fields.items() if k in self.custom_fields}
        existing = self.subscribers.get(email.lower())
        if existing is None:
            existing = self.subscribers[email.lower()] = {
                "id": 1000 + len(self.subscribers),
                "first_name": body.get("first_name"),
                "email_address": email,
                "state": body.get("state") or "active",
                "created_at": iso8601(self._wall()),
                "fields": dict.fromkeys(self.custom_fields),
            }
            status = 201
        else:  # an upsert: only the first name changes, the state never does
            if "first_name" in body:
                existing["first_name"] = body["first_name"]
            status = 200
        existing["fields"].update(known)
        if len(fields) > 10:
            status = 202  # more than 10 custom fields are applied asynchronously
        return json_response(status, {"subscriber": existing})

    def add_to_form_by_email(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return self._attach("form", match["form"], self._by_email(request), request)

    def add_to_form_by_id(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        found = next((s for s in self.subscribers.values() if str(s["id"]) == match["id"]), None)
        return self._attach("form", match["form"], found, request)

    def tag_by_email(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return self._attach("tag", match["tag"], self._by_email(request), request)

    def _by_email(self, request: SimRequest) -> dict[str, Any] | None:
        body = request.json()
        email = body.get("email_address") if isinstance(body, dict) else None
        return self.subscribers.get(email.lower()) if isinstance(email, str) else None

    def _attach(
        self, kind: str, target: str, subscriber: dict[str, Any] | None, request: SimRequest
    ) -> SimResponse:
        known = self.forms if kind == "form" else self.tags
        if target not in known or subscriber is None:
            return self.not_found()
        key = (kind, target, subscriber["id"])
        status = 200 if key in self.memberships else 201
        at = self.memberships.setdefault(key, iso8601(self._wall()))
        payload = {**subscriber, ("added_at" if kind == "form" else "tagged_at"): at}
        if kind == "form":
            body = request.json()
            payload["referrer"] = body.get("referrer") if isinstance(body, dict) else None
        return json_response(status, {"subscriber": payload})
