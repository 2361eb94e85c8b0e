"""Kit (ConvertKit) API v4: `X-Kit-Api-Key` auth, `GET /v4/account`, two-step subscribe."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from probes.adapters.base import CanaryWrite, VendorAdapter, json_body, read_back
from probes.outcome import InvalidResponse, Kind, Outcome

__all__ = ["KitAdapter"]

# Kit documents no Retry-After and no rate-limit headers, only a rolling 60 s window.
_THROTTLE_WINDOW = 60.0


class KitAdapter(VendorAdapter):
    """Kit v4 with an API key or OAuth (docs/integrations.md, with Kit's own pages)."""

    kind = "convertkit"
    default_base_url = "https://api.kit.com"
    status_page = "https://status.kit.com"  # a Statuspage page (docs/integrations.md)
    health_path = "/v4/account"
    oauth_token_url = "https://api.kit.com/v4/oauth/token"

    def common_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}

    def auth_headers(self, credential: str) -> dict[str, str]:
        return {"X-Kit-Api-Key": credential, **self.common_headers()}

    def check_health(self, response: httpx.Response) -> None:
        body = json_body(response)
        account = body.get("account") if isinstance(body, dict) else None
        if not isinstance(account, dict) or "id" not in account:
            raise InvalidResponse("GET /v4/account answered without account.id")

    def vendor_message(self, body: Any) -> str | None:
        errors = body.get("errors") if isinstance(body, dict) else None
        return "; ".join(map(str, errors)) if isinstance(errors, list) and errors else None

    def refine(self, outcome: Outcome, response: httpx.Response | None) -> Outcome:
        if outcome.kind is Kind.THROTTLED and outcome.retry_after is None:
            return replace(outcome, retry_after=_THROTTLE_WINDOW)
        return outcome

    async def subscribe(
        self,
        email: str,
        *,
        first_name: str | None = None,
        fields: dict[str, str] | None = None,
        form_id: int | str | None = None,
        tag_id: int | str | None = None,
        referrer: str | None = None,
    ) -> dict[str, Any]:
        """Create or update the subscriber, then add them to a form and/or a tag.

        Both steps are idempotent upserts (a repeat answers 200 instead of 201), so each
        is retried. Returns the subscriber as the last step returned it; raises
        `RequestFailed` or `BreakerOpen` if a step does not succeed.
        """
        body: dict[str, Any] = {"email_address": email}
        if first_name is not None:
            body["first_name"] = first_name
        if fields:
            body["fields"] = fields
        created = await self.client.request(
            "POST", "/v4/subscribers", json=body, ok_status={200, 201, 202}
        )
        subscriber: dict[str, Any] = created.raise_for_outcome().json()["subscriber"]
        attach: list[tuple[str, dict[str, Any]]] = []
        if form_id is not None:
            form_body = {"email_address": email, **({"referrer": referrer} if referrer else {})}
            attach.append((f"/v4/forms/{form_id}/subscribers", form_body))
        if tag_id is not None:
            attach.append((f"/v4/tags/{tag_id}/subscribers", {"email_address": email}))
        for path, step_body in attach:
            result = await self.client.request("POST", path, json=step_body, ok_status={200, 201})
            subscriber = result.raise_for_outcome().json()["subscriber"]
        return subscriber

    async def canary(self, write: CanaryWrite) -> None:
        """Create or update the canary subscriber (one record, ever: keyed by email) with
        `first_name` = the marker, add it to the form and tag if given, then read it back."""
        await self.subscribe(write.email, first_name=write.marker, form_id=write.form_id,
                             tag_id=write.tag_id)  # fmt: skip

        def check(response: httpx.Response) -> None:
            body = json_body(response)
            found = body.get("subscribers") if isinstance(body, dict) else None
            first = found[0] if isinstance(found, list) and found else {}
            read_back("first_name", first.get("first_name"), write.marker)

        result = await self.client.request(
            "GET", "/v4/subscribers", params={"email_address": write.email}, validate=check
        )
        result.raise_for_outcome()
