"""Twilio SendGrid v3, as docs/integrations.md describes it."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from simulator.faults import FaultError
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

__all__ = ["SendGridFake"]

_IDENTIFIERS = ("email", "phone_number_id", "external_id", "anonymous_id")
_MAX_CONTACTS = 30_000
_REFUSED = "The provided authorization grant is invalid, expired, or revoked"


def errors(status: int, message: str, field: str | None = None) -> SimResponse:
    return json_response(status, {"errors": [{"field": field, "message": message}]})


class SendGridFake(VendorFake):
    """Scopes, the user profile, the marketing contacts upsert and its import job.

    Every answer carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`, the reset as Unix
    epoch seconds; past the limit the answer is 429 "too many requests" with no
    Retry-After. A contacts upsert returns 202 with a job id; the job reports `pending`
    for `job_polls_pending` polls, then `completed` with its counts. `GET /v3/scopes`
    lists the key's scopes; an upsert without the Marketing Campaigns write scopes gets
    403 "access forbidden".
    """

    name = "sendgrid"
    title = "Twilio SendGrid v3"
    routes = (
        ("GET", r"/v3/scopes", "scopes"),
        ("GET", r"/v3/user/profile", "profile"),
        ("PUT", r"/v3/marketing/contacts", "upsert_contacts"),
        ("GET", r"/v3/marketing/contacts/imports/(?P<job>[^/]+)", "import_status"),
        ("POST", r"/v3/marketing/contacts/search/emails", "search_emails"),
    )
    all_scopes = ("mail.send", "marketing_campaigns.create", "marketing_campaigns.delete",
                  "marketing_campaigns.read", "marketing_campaigns.update",
                  "user.profile.read")  # fmt: skip
    write_endpoints = frozenset({"upsert_contacts"})
    needs: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "upsert_contacts": ("marketing_campaigns.create", "marketing_campaigns.update"),
        "import_status": ("marketing_campaigns.read",),
        "search_emails": ("marketing_campaigns.read",),
    }

    def __init__(
        self, credentials: set[str], *, clock: Any, wall: Any, job_polls_pending: int = 1
    ) -> None:
        super().__init__(credentials, clock=clock, wall=wall)
        self.limit = RateWindow(Limit(600, 60.0), clock)
        self.job_polls_pending = self._polls = job_polls_pending
        self.reset_state()

    def reset_state(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_polls_pending = getattr(self, "_polls", 1)

    # -- the vendor's answers ------------------------------------------------------------

    def credential(self, request: SimRequest) -> str | None:
        return bearer(request)

    def unauthorized(self) -> SimResponse:
        refused = {"message": _REFUSED, "field": None, "help": None}
        return json_response(401, {"errors": [refused]}, "application/json")

    def throttled(self, credential: str | None) -> SimResponse:
        return self._headers(errors(429, "too many requests"), 0, self.limit.limit.window)

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        if html:
            return html_error(status)
        return errors(status, message or "internal server error")

    def not_found(self) -> SimResponse:
        return errors(404, "resource not found")

    def missing_scopes(self, needed: Iterable[str]) -> SimResponse:
        return errors(403, "access forbidden")

    def set_limits(self, settings: dict[str, Any]) -> None:
        """{"requests": 600, "window": 60}, and "job_polls_pending": how many polls an import
        job stays pending (a stalled job: a large number)."""
        polls = settings.get("job_polls_pending")
        if polls is not None:
            if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
                raise FaultError(f"job_polls_pending must be a whole number >= 0 (got {polls!r})")
            self.job_polls_pending = polls
            settings = {k: v for k, v in settings.items() if k != "job_polls_pending"}
        self.limit.limit = limit_from(settings, self.limit.limit, {"requests", "window"})

    def admit(self, request: SimRequest, credential: str) -> SimResponse | None:
        if "accept" not in request.headers:
            return errors(406, "Accept header is required")
        allowed, _, reset_in = self.limit.take(credential)
        return None if allowed else self._headers(errors(429, "too many requests"), 0, reset_in)

    def decorate(self, response: SimResponse, credential: str | None) -> SimResponse:
        if credential in self.credentials:
            assert credential is not None
            remaining = self.limit.remaining(credential)
            self._headers(response, remaining, self.limit.reset_in(credential))
        return response

    def _headers(self, response: SimResponse, remaining: int, reset_in: float) -> SimResponse:
        response.headers += [
            ("X-RateLimit-Limit", str(self.limit.limit.requests)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(math.ceil(self._wall() + reset_in))),
        ]
        return response

    # -- endpoints -----------------------------------------------------------------------

    def scopes(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(200, {"scopes": sorted(self.granted)})

    def profile(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(
            200,
            {
                "address": "1 Simulated Way",
                "address2": "",
                "city": "Denver",
                "company": "Simulated Co",
                "country": "US",
                "first_name": "Sim",
                "last_name": "Ulator",
                "phone": "+1 555 0100",
                "state": "CO",
                "website": "https://example.com",
                "zip": "80202",
            },
        )

    def upsert_contacts(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        body = request.json()
        contacts = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return errors(400, "contacts must be a non-empty array", "contacts")
        if len(contacts) > _MAX_CONTACTS:
            return errors(400, f"at most {_MAX_CONTACTS} contacts per request", "contacts")
        for i, contact in enumerate(contacts):
            if not isinstance(contact, dict) or not any(contact.get(k) for k in _IDENTIFIERS):
                return errors(
                    400, f"contact must have at least one identifier: {', '.join(_IDENTIFIERS)}",
                    f"contacts[{i}]",
                )  # fmt: skip
        created = updated = 0
        for contact in contacts:
            email = str(contact.get("email") or contact.get("external_id") or "").lower()
            if email in self.contacts:
                self.contacts[email].update({**contact, "email": email})
                updated += 1
            else:
                self.contacts[email] = {**contact, "email": email}
                created += 1
        job = str(uuid.uuid4())
        self.jobs[job] = {
            "id": job,
            "status": "pending",
            "job_type": "upsert",
            "results": {
                "requested_count": len(contacts),
                "created_count": created,
                "updated_count": updated,
                "deleted_count": 0,
                "errored_count": 0,
            },
            "started_at": iso8601(self._wall()),
            "polls": 0,
        }
        return json_response(202, {"job_id": job})

    def search_emails(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        """`{"emails": [...]}`: each known one's contact; 404 when none is known."""
        body = request.json()
        emails = body.get("emails") if isinstance(body, dict) else None
        if not isinstance(emails, list) or not emails:
            return errors(400, "emails must be a non-empty array", "emails")
        found = {e: {"contact": self.contacts[e.lower()]} for e in emails
                 if isinstance(e, str) and e.lower() in self.contacts}  # fmt: skip
        return json_response(200, {"result": found}) if found else self.not_found()

    def import_status(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        job = self.jobs.get(match["job"])
        if job is None:
            return self.not_found()
        job["polls"] += 1
        if job["polls"] > self.job_polls_pending and job["status"] == "pending":
            job["status"] = "completed"
            job["finished_at"] = iso8601(self._wall())
        return json_response(200, {k: v for k, v in job.items() if k != "polls"})
