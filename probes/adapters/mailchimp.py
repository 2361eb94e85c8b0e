"""Mailchimp Marketing API 3.0: data centre from the key, Basic auth, ping, member upsert."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from typing import Any

import httpx

from probes.adapters.base import CanaryWrite, VendorAdapter, json_body, read_back
from probes.outcome import InvalidResponse, Kind, Outcome

__all__ = ["MailchimpAdapter", "datacenter", "subscriber_hash"]

_DATACENTER = re.compile(r"[a-z]+[0-9]+")


def datacenter(api_key: str) -> str | None:
    """The data centre a key belongs to (`...-us21` -> `us21`), or None if it names none."""
    head, sep, suffix = api_key.rpartition("-")
    return suffix if sep and head and _DATACENTER.fullmatch(suffix) else None


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased email address."""
    return hashlib.md5(email.lower().encode()).hexdigest()


class MailchimpAdapter(VendorAdapter):
    """Mailchimp (docs/integrations.md, with Mailchimp's own pages).

    The API root is `https://<dc>.api.mailchimp.com` with `<dc>` from the key's suffix;
    `base_url` replaces it (tests, proxies). Errors are RFC 7807 problem documents. A bare
    403 with an empty body is Mailchimp's throttle at high volume, not a refused key.
    """

    kind = "mailchimp"
    default_base_url = "https://{dc}.api.mailchimp.com"
    # No status_page: status.mailchimp.com is not a Statuspage page (docs/integrations.md).
    health_path = "/3.0/ping"

    @classmethod
    def credential_problem(cls, credential: str) -> str | None:
        if datacenter(credential) is None:
            return "the key has no data-centre suffix; a Mailchimp key ends in -<dc>, such as -us21"
        return None

    def root(self, credential: str) -> str:
        self.datacenter = datacenter(credential) or ""  # checked: credential_problem
        return self.default_base_url.format(dc=self.datacenter)

    def auth_headers(self, credential: str) -> dict[str, str]:
        basic = base64.b64encode(f"breakerwatch:{credential}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Accept": "application/json"}

    def check_health(self, response: httpx.Response) -> None:
        body = json_body(response)
        if not isinstance(body, dict) or "health_status" not in body:
            raise InvalidResponse("GET /3.0/ping answered without health_status")

    def vendor_message(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        parts = [body.get("title"), body.get("detail")]
        return ": ".join(p for p in parts if isinstance(p, str) and p) or None

    def refine(self, outcome: Outcome, response: httpx.Response | None) -> Outcome:
        if response is not None and response.status_code == 403 and not response.content.strip():
            return replace(
                outcome,
                kind=Kind.THROTTLED,
                reason=None,
                retryable=True,
                detail="throttled by the server (a bare HTTP 403, Mailchimp's high-volume limit)",
            )
        return outcome

    async def upsert_member(
        self,
        list_id: str,
        email: str,
        *,
        status_if_new: str = "subscribed",
        status: str | None = None,
        merge_fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add or update a list member: `PUT /3.0/lists/{list}/members/{md5(email)}`.

        Idempotent, so retried. `status_if_new` applies only to a new address; `status`
        (if given) changes an existing member's. Returns the member.
        """
        body: dict[str, Any] = {"email_address": email, "status_if_new": status_if_new}
        if status is not None:
            body["status"] = status
        if merge_fields:
            body["merge_fields"] = merge_fields
        path = f"/3.0/lists/{list_id}/members/{subscriber_hash(email)}"
        result = await self.client.request("PUT", path, json=body)
        member: dict[str, Any] = result.raise_for_outcome().json()
        return member

    async def canary(self, write: CanaryWrite) -> None:
        """Put the canary member (one record, ever: addressed by the MD5 of its email) with
        `LNAME` = the marker, `unsubscribed` if new so no campaign is ever sent to it, then
        read it back."""
        if not write.list_id:
            raise ValueError("a Mailchimp canary needs its audience (list_id)")
        await self.upsert_member(write.list_id, write.email, status_if_new="unsubscribed",
                                 merge_fields={"LNAME": write.marker})  # fmt: skip
        path = f"/3.0/lists/{write.list_id}/members/{subscriber_hash(write.email)}"

        def check(response: httpx.Response) -> None:
            body = json_body(response)
            fields = body.get("merge_fields", {}) if isinstance(body, dict) else {}
            read_back("LNAME", fields.get("LNAME"), write.marker)

        result = await self.client.request("GET", path, validate=check)
        result.raise_for_outcome()
