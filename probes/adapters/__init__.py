"""Integration adapters: one module per vendor, one shared interface (`Adapter`).

| kind         | adapter               | health check                   | core write        |
|--------------|-----------------------|--------------------------------|-------------------|
| `convertkit` | `KitAdapter`          | `GET /v4/account`              | `subscribe`       |
| `hubspot`    | `HubSpotAdapter`      | `GET /account-info/v3/details` | `upsert_contact`  |
| `mailchimp`  | `MailchimpAdapter`    | `GET /3.0/ping`                | `upsert_member`   |
| `sendgrid`   | `SendGridAdapter`     | `GET /v3/user/profile`         | `upsert_contacts` |
| `http`       | `HttpEndpointAdapter` | any method and URL             |                   |
"""

from __future__ import annotations

from probes.adapters.base import (
    Adapter,
    AdapterError,
    AdapterMetrics,
    CanaryWrite,
    ClientOptions,
    Scopes,
    VendorAdapter,
)
from probes.adapters.endpoint import BodyAssertion, HttpEndpointAdapter
from probes.adapters.hubspot import HubSpotAdapter
from probes.adapters.kit import KitAdapter
from probes.adapters.mailchimp import MailchimpAdapter
from probes.adapters.sendgrid import SendGridAdapter

__all__ = [
    "KINDS",
    "Adapter",
    "AdapterError",
    "AdapterMetrics",
    "BodyAssertion",
    "CanaryWrite",
    "ClientOptions",
    "HttpEndpointAdapter",
    "HubSpotAdapter",
    "KitAdapter",
    "MailchimpAdapter",
    "Scopes",
    "SendGridAdapter",
    "VendorAdapter",
    "adapter_class",
]

KINDS: dict[str, type[Adapter]] = {
    adapter.kind: adapter
    for adapter in (
        KitAdapter,
        HubSpotAdapter,
        MailchimpAdapter,
        SendGridAdapter,
        HttpEndpointAdapter,
    )
}


def adapter_class(integration: str, kind: str) -> type[Adapter]:
    """The adapter for `kind`, or `AdapterError` naming the integration and the choices."""
    try:
        return KINDS[kind]
    except KeyError:
        choices = ", ".join(KINDS)
        raise AdapterError(
            integration, "kind", f"unknown kind {kind!r}; expected one of {choices}"
        ) from None
