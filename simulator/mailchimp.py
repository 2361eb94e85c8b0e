"""Mailchimp Marketing API 3.0, as docs/integrations.md describes it."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from simulator.vendor import (
    Limit,
    VendorFake,
    basic_password,
    bearer,
    html_error,
    iso8601,
    limit_from,
)
from simulator.wire import SimRequest, SimResponse, json_response

__all__ = ["MailchimpFake"]

_PROBLEM = "application/problem+json; charset=utf-8"
_ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")


def problem(status: int, title: str, detail: str) -> SimResponse:
    """An RFC 7807 error, with the headers Mailchimp sends alongside."""
    instance = str(uuid.uuid4())
    body = {"type": _ERRORS_DOC, "title": title, "status": status, "detail": detail}
    response = json_response(status, {**body, "instance": instance}, _PROBLEM)
    response.headers.append(("X-Request-Id", instance))
    return response


class MailchimpFake(VendorFake):
    """`/3.0/ping` and list members (upsert by MD5 of the lower-cased email, get, create).

    Auth is HTTP Basic with any username and the API key as the password. A key whose data
    centre suffix is not this server's gets 403 Wrong Datacenter. Throttling is by
    concurrency: more than `max_in_flight` requests at once per key get a 429 with no
    rate-limit headers and no Retry-After.
    """

    name = "mailchimp"
    title = "Mailchimp Marketing API 3.0"
    routes = (
        ("GET", r"/3.0/ping", "ping"),
        ("PUT", r"/3.0/lists/(?P<list>[^/]+)/members/(?P<member>[^/]+)", "upsert_member"),
        ("GET", r"/3.0/lists/(?P<list>[^/]+)/members/(?P<member>[^/]+)", "get_member"),
        ("POST", r"/3.0/lists/(?P<list>[^/]+)/members", "create_member"),
    )
    write_endpoints = frozenset({"upsert_member", "create_member"})

    def __init__(
        self,
        credentials: set[str],
        *,
        clock: Any,
        wall: Any,
        datacenter: str = "us21",
        lists: dict[str, str] | None = None,
        max_in_flight: int = 10,
    ) -> None:
        super().__init__(credentials, clock=clock, wall=wall)
        self.datacenter = datacenter
        self.lists = lists or {"a1b2c3d4e5": "Newsletter"}
        self.max_in_flight = max_in_flight
        self._in_flight: dict[str, int] = {}
        self.reset_state()

    def reset_state(self) -> None:
        self.members: dict[tuple[str, str], dict[str, Any]] = {}  # (list, hash) -> member

    # -- the vendor's answers ------------------------------------------------------------

    def credential(self, request: SimRequest) -> str | None:
        return basic_password(request) or bearer(request)

    def refuse(self, request: SimRequest, credential: str | None) -> SimResponse | None:
        if credential is None:
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        _, _, suffix = credential.rpartition("-")
        if re.fullmatch(r"[a-z]+\d+", suffix) and suffix != self.datacenter:
            return problem(
                403,
                "Wrong Datacenter",
                f"The API key provided is linked to a different datacenter: {suffix}",
            )
        return None if credential in self.credentials else self.unauthorized()

    def unauthorized(self) -> SimResponse:
        detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        return problem(401, "API Key Invalid", detail)

    def throttled(self, credential: str | None) -> SimResponse:
        return problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
        )

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        if html or status == 503:  # the WAF answers in plain HTML, not problem+json
            return html_error(status, "Request Blocked")
        detail = message or "An unexpected internal error occurred."
        return problem(status, "Internal Server Error", detail)

    def not_found(self) -> SimResponse:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    async def handle(self, request: SimRequest) -> SimResponse:
        # A request is in flight for as long as it is served, slow mode included.
        key = self.credential(request) or ""
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            return await super().handle(request)
        finally:
            self._in_flight[key] -= 1

    def set_limits(self, settings: dict[str, Any]) -> None:
        """{"concurrent": 10}: requests in flight at once per key."""
        limit = limit_from(
            {"requests": settings["concurrent"]} if "concurrent" in settings else settings,
            Limit(self.max_in_flight, 1.0),
            {"requests"},
        )
        self.max_in_flight = limit.requests

    def admit(self, request: SimRequest, credential: str) -> SimResponse | None:
        over = self._in_flight.get(credential, 0) > self.max_in_flight
        return self.throttled(credential) if over else None

    # -- endpoints -----------------------------------------------------------------------

    def ping(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(200, {"health_status": "Everything's Chimpy!"})

    def upsert_member(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return self._upsert(match["list"], match["member"], request.json())

    def get_member(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        member = self.members.get((match["list"], _hash(match["member"])))
        return self.not_found() if member is None else json_response(200, member)

    def create_member(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """POST: like PUT for a new address, but 400 Member Exists for a known one."""
        body = request.json()
        email = body.get("email_address") if isinstance(body, dict) else None
        if isinstance(email, str) and (match["list"], _hash(email)) in self.members:
            detail = f"{email} is already a list member. Use PUT to insert or update list members."
            return problem(400, "Member Exists", detail)
        if isinstance(body, dict) and "status" in body:
            body = {**body, "status_if_new": body["status"]}
        return self._upsert(match["list"], email if isinstance(email, str) else "", body)

    def _upsert(self, list_id: str, in_path: str, body: object) -> SimResponse:
        if list_id not in self.lists:
            return self.not_found()
        email = body.get("email_address") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(email, str) or "@" not in email:
            return _invalid("The resource submitted could not be validated.")
        member_hash = _hash(email)
        if _hash(in_path) != member_hash:  # the path takes the hash, or the address itself
            return _invalid("The subscriber hash in the URL does not match the email address.")
        existing = self.members.get((list_id, member_hash))
        if existing is None and not (body.get("status_if_new") or body.get("status")):
            return _invalid("status_if_new is required for a new member.")
        status = body.get("status") or (existing or {}).get("status") or body["status_if_new"]
        if status not in _STATUSES:
            return _invalid(f"'{status}' is not a valid status.")
        member = existing or {
            "id": member_hash,
            "email_address": email,
            "unique_email_id": uuid.uuid4().hex[:10],
            "list_id": list_id,
            "merge_fields": {},
            "timestamp_signup": iso8601(self._wall()),
        }
        member["status"] = status
        member["merge_fields"].update(body.get("merge_fields") or {})
        member["last_changed"] = iso8601(self._wall())
        self.members[(list_id, member_hash)] = member
        return json_response(200, member)


def _hash(email_or_hash: str) -> str:
    """Mailchimp's subscriber hash: MD5 of the lower-cased address (a hash maps to itself)."""
    if "@" not in email_or_hash:
        return email_or_hash.lower()
    return hashlib.md5(email_or_hash.lower().encode()).hexdigest()


def _invalid(detail: str) -> SimResponse:
    return problem(400, "Invalid Resource", detail)
