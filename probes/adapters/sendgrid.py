"""Twilio SendGrid v3: Bearer auth, user profile, marketing contacts upsert and its job."""

from __future__ import annotations

from typing import Any

import httpx

from probes.adapters.base import CanaryWrite, VendorAdapter, header_int, json_body, read_back
from probes.http import RequestFailed
from probes.outcome import Kind, Outcome, Reason

__all__ = ["JOB_EVERY", "JOB_POLLS", "SendGridAdapter"]

JOB_EVERY = 2.0  # seconds between polls of a canary's import job
JOB_POLLS = 30  # ... and how many, at most: a minute, then it is a failure


class SendGridAdapter(VendorAdapter):
    """SendGrid (docs/integrations.md, with SendGrid's own pages).

    Every answer carries `X-RateLimit-Remaining`, reported as headroom; a 429's wait comes
    from `X-RateLimit-Reset` (epoch seconds), which the classifier already reads.
    """

    kind = "sendgrid"
    default_base_url = "https://api.sendgrid.com"
    status_page = "https://status.sendgrid.com"  # a Statuspage page (docs/integrations.md)
    health_path = "/v3/user/profile"
    # Upserting contacts and following their import job: SendGrid's "Full Access for
    # Marketing Campaigns" minus delete (docs/integrations.md, "Scope checks").
    write_scopes = ("marketing_campaigns.create", "marketing_campaigns.read",
                    "marketing_campaigns.update")  # fmt: skip

    def scope_request(self, credential: str) -> tuple[str, str, dict[str, Any]]:
        return "GET", "/v3/scopes", {}  # the calling key's scopes

    def auth_headers(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}", "Accept": "application/json"}

    def vendor_message(self, body: Any) -> str | None:
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            return None
        messages = [e.get("message") for e in errors if isinstance(e, dict)]
        return "; ".join(m for m in messages if isinstance(m, str)) or None

    def rate_limit_remaining(self, response: httpx.Response) -> int | None:
        return header_int(response, "X-RateLimit-Remaining")

    async def upsert_contacts(
        self, contacts: list[dict[str, Any]], list_ids: list[str] | None = None
    ) -> str:
        """Queue an add-or-update of marketing contacts; returns the import job id.

        `PUT /v3/marketing/contacts` answers 202 and processes the contacts later; follow
        the job with `import_status` or `wait_for_import`. Idempotent, so retried.
        """
        body: dict[str, Any] = {"contacts": contacts}
        if list_ids:
            body["list_ids"] = list_ids
        result = await self.client.request(
            "PUT", "/v3/marketing/contacts", json=body, ok_status={202}
        )
        job: str = result.raise_for_outcome().json()["job_id"]
        return job

    async def import_status(self, job_id: str) -> dict[str, Any]:
        """The import job: `status` is pending, completed, errored or failed."""
        result = await self.client.request("GET", f"/v3/marketing/contacts/imports/{job_id}")
        status: dict[str, Any] = result.raise_for_outcome().json()
        return status

    async def wait_for_import(
        self, job_id: str, *, every: float = 2.0, polls: int = 30
    ) -> dict[str, Any]:
        """Poll the job every `every` seconds until it is no longer pending (at most `polls`)."""
        for _ in range(polls - 1):
            status = await self.import_status(job_id)
            if status.get("status") != "pending":
                return status
            await self.sleep(every)
        return await self.import_status(job_id)

    async def canary(self, write: CanaryWrite) -> None:
        """Upsert the canary contact (one record, ever: keyed by email) with `last_name` =
        the marker, follow the import job until it completes (a job still pending after
        `JOB_POLLS` polls is a failure: writes are queueing), then read it back by email."""
        job = await self.upsert_contacts([{"email": write.email, "last_name": write.marker}])
        status = await self.wait_for_import(job, every=JOB_EVERY, polls=JOB_POLLS)
        if status.get("status") != "completed":
            raise RequestFailed(self.name, Outcome(
                Kind.FAILURE, Reason.INVALID_RESPONSE, error="ImportNotCompleted",
                detail=f"the canary's import job was still {status.get('status')!r} after "
                       f"{JOB_POLLS} polls {JOB_EVERY:g}s apart",
            ))  # fmt: skip

        def check(response: httpx.Response) -> None:
            body = json_body(response)
            result = body.get("result", {}) if isinstance(body, dict) else {}
            contact = (result.get(write.email) or {}).get("contact") or {}
            read_back("last_name", contact.get("last_name"), write.marker)

        found = await self.client.request(
            "POST", "/v3/marketing/contacts/search/emails", json={"emails": [write.email]},
            validate=check,
        )  # fmt: skip
        found.raise_for_outcome()
