"""HubSpot with a private-app token: Bearer auth, account details, contact upsert by email."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from probes.adapters.base import CanaryWrite, VendorAdapter, header_int, json_body, read_back
from probes.hints import http_date
from probes.outcome import InvalidResponse, Kind, Outcome

__all__ = ["HubSpotAdapter"]


class HubSpotAdapter(VendorAdapter):
    """HubSpot (docs/integrations.md, with HubSpot's own pages).

    A 429 names its policy: the DAILY limit resets at midnight in the account's time zone
    (learned from the health check), so the cooldown lasts until then; the ten-secondly
    limit lasts one interval (`X-HubSpot-RateLimit-Interval-Milliseconds`, else 10 s).
    """

    kind = "hubspot"
    credential_field = "token"
    default_base_url = "https://api.hubapi.com"
    status_page = "https://status.hubspot.com"  # a Statuspage page (docs/integrations.md)
    health_path = "/account-info/v3/details"
    write_scopes = ("crm.objects.contacts.write",)  # the contact upserts
    oauth_token_url = "https://api.hubapi.com/oauth/2026-03/token"

    def scope_request(self, credential: str) -> tuple[str, str, dict[str, Any]]:
        """A private-app token (`pat-...`) is looked up by POST; an OAuth access token in
        the path (docs/integrations.md, "Scope checks")."""
        if credential.startswith("pat-"):
            path = "/oauth/v2/private-apps/get/access-token-info"
            return "POST", path, {"json": {"tokenKey": credential}}
        return "GET", f"/oauth/v1/access-tokens/{quote(credential, safe='')}", {}

    time_zone = "UTC"  # until a health check tells the account's

    def auth_headers(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}", "Accept": "application/json"}

    def check_health(self, response: httpx.Response) -> None:
        body = json_body(response)
        if not isinstance(body, dict) or "portalId" not in body:
            raise InvalidResponse("the account details answered without a portalId")
        if isinstance(body.get("timeZone"), str):
            self.time_zone = body["timeZone"]

    def vendor_message(self, body: Any) -> str | None:
        message = body.get("message") if isinstance(body, dict) else None
        return message if isinstance(message, str) else None

    def rate_limit_remaining(self, response: httpx.Response) -> int | None:
        values = [
            header_int(response, "X-HubSpot-RateLimit-Remaining"),
            header_int(response, "X-HubSpot-RateLimit-Secondly-Remaining"),
            header_int(response, "X-HubSpot-RateLimit-Daily-Remaining"),
        ]
        present = [v for v in values if v is not None]
        return min(present) if present else None

    def refine(self, outcome: Outcome, response: httpx.Response | None) -> Outcome:
        if outcome.kind is not Kind.THROTTLED or outcome.retry_after is not None:
            return outcome
        assert response is not None
        body = json_body(response)
        policy = body.get("policyName") if isinstance(body, dict) else None
        if policy == "DAILY":
            return replace(outcome, retry_after=self._until_midnight(response))
        interval = header_int(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
        return replace(outcome, retry_after=interval / 1000 if interval else 10.0)

    def _until_midnight(self, response: httpx.Response) -> float:
        """Seconds until the next midnight in the account's time zone."""
        try:
            zone: Any = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        server_time = http_date(response.headers.get("date", ""))  # the server's clock first
        now = server_time if server_time is not None else self.wall()
        local = datetime.fromtimestamp(now, zone)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Through timestamps: subtracting two times of one zone would ignore a DST change.
        return max(1.0, midnight.timestamp() - now)

    async def upsert_contact(
        self, email: str, properties: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create or update the contact whose email is `email` (batch upsert by email).

        Idempotent, so retried. Returns the result, whose `new` says created or updated.
        """
        (result,) = await self.upsert_contacts([(email, properties or {})])
        return result

    async def upsert_contacts(
        self, contacts: list[tuple[str, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Upsert several contacts by email in one request (up to 100 per HubSpot batch)."""
        inputs = [
            {"idProperty": "email", "id": email, "properties": props} for email, props in contacts
        ]
        result = await self.client.request(
            "POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}
        )
        results: list[dict[str, Any]] = result.raise_for_outcome().json()["results"]
        return results

    async def canary(self, write: CanaryWrite) -> None:
        """Upsert the canary contact by email (one record, ever) with `lastname` = the
        marker, then read it back by email."""
        await self.upsert_contact(write.email, {"lastname": write.marker})
        path = f"/crm/v3/objects/contacts/{quote(write.email, safe='@')}"

        def check(response: httpx.Response) -> None:
            body = json_body(response)
            found = body.get("properties", {}).get("lastname") if isinstance(body, dict) else None
            read_back("lastname", found, write.marker)

        result = await self.client.request(
            "GET", path, params={"idProperty": "email", "properties": "lastname"}, validate=check
        )
        result.raise_for_outcome()
