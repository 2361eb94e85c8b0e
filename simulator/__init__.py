"""The local vendor simulator: faithful fakes of Kit, HubSpot, Mailchimp and SendGrid.

One HTTP server on loopback serves each vendor under its own prefix (and a plain health
endpoint for `http` probes at `/endpoint/healthz`), so an integration's
`base_url` is `http://127.0.0.1:8600/<vendor>`, and an admin API under `/__admin__`
switches each vendor between modes (healthy, 5xx, 503, 429, 401, slow, drip, reset,
malformed) or plays a scripted sequence ("fail 3 times, then succeed"):

    GET    /__admin__                      every vendor: mode, script, request count
    PUT    /__admin__/<vendor>/mode        {"mode": "5xx", "status": 502}
    PUT    /__admin__/<vendor>/script      {"steps": [{"mode": "5xx", "times": 3}]}
    PUT    /__admin__/<vendor>/limits      vendor rate limits, e.g. {"requests": 5}
    PUT    /__admin__/<vendor>/writes      the writes alone fail: {"mode": "5xx"} or "503"
                                           (reads answer as the mode says)
    PUT    /__admin__/<vendor>/scopes      what credentials may do (hubspot, sendgrid),
                                           e.g. {"scopes": ["oauth"]}
    PUT    /__admin__/<vendor>/oauth       the token endpoint (hubspot, kit): {"lifetime": 2,
                                           "rotate": true, "expire": true, "revoke": true}
    PUT    /__admin__/<vendor>/latency     how long healthy answers take:
                                           {"profile": "normal", "ms": 40, "jitter_ms": 10},
                                           {"profile": "degrading", "ms": 40, "per_second": 5},
                                           {"profile": "spike", "ms": 40, "spike_ms": 900,
                                            "times": 3}
    GET    /__admin__/<vendor>/requests    the last 1,000 requests it received
    DELETE /__admin__/<vendor>/requests    forget them
    POST   /__admin__/reset                all healthy, logs and stored records cleared

Each vendor also has a status page, as Atlassian Statuspage serves one, at
`/status/<vendor>/api/v2/summary.json` (simulator/statuspage.py):

    PUT    /__admin__/<vendor>/status-component  {"name": "CRM API", "status": "major_outage"}
    POST   /__admin__/<vendor>/status-incident   {"name": "...", "impact": "major",
                                                  "components": ["CRM API"]}
    POST   /__admin__/<vendor>/status-resolve    {"id": "hubspot-incident-1"}
    PUT    /__admin__/<vendor>/status-mode       {"mode": "503"} (ok, 503, garbage, huge, slow)

The fakes follow the vendors' documentation (docs/integrations.md cites it): their exact
auth failures, error bodies and content types, rate-limit headers (or their absence), and
core write operations with their real validation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any

from simulator.endpoint import EndpointFake
from simulator.faults import Fault, FaultError, LatencyProfile
from simulator.hubspot import HubSpotFake
from simulator.kit import KitFake
from simulator.mailchimp import MailchimpFake
from simulator.sendgrid import SendGridFake
from simulator.statuspage import COMPONENTS, StatusPageFake
from simulator.vendor import VendorFake
from simulator.wire import SimRequest, SimResponse, WireServer, json_response

__all__ = ["DEFAULT_CREDENTIALS", "Simulator"]

# Fake credentials the simulator accepts. Not secrets: they open nothing but this process.
DEFAULT_CREDENTIALS: Mapping[str, str] = {
    "kit": "sim-kit-api-key",
    "hubspot": "sim-hubspot-token",
    "mailchimp": "sim0123456789abcdef0123456789abcd-us21",
    "sendgrid": "sim-sendgrid-api-key",
}
_ADMIN = "/__admin__"


class Simulator:
    """All four vendor fakes on one loopback server. Use `async with Simulator() as sim:`."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        keys = {**DEFAULT_CREDENTIALS, **(credentials or {})}
        fakes: list[VendorFake] = [
            KitFake({keys["kit"]}, clock=clock, wall=wall),
            HubSpotFake({keys["hubspot"]}, clock=clock, wall=wall),
            MailchimpFake({keys["mailchimp"]}, clock=clock, wall=wall),
            SendGridFake({keys["sendgrid"]}, clock=clock, wall=wall),
            EndpointFake(set(), clock=clock, wall=wall),
        ]
        self.vendors = {fake.name: fake for fake in fakes}
        self.status_pages = {name: StatusPageFake(name, wall=wall) for name in COMPONENTS}
        self.credentials = keys
        self._wire = WireServer(self._dispatch, date=lambda: formatdate(wall(), usegmt=True))
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0: any free port); return the base URL."""
        bound_host, bound_port = await self._wire.start(host, port)
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def close(self) -> None:
        await self._wire.close()

    async def __aenter__(self) -> Simulator:
        if not self.url:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def base_url(self, vendor: str) -> str:
        """The `base_url` an integration of this vendor should use."""
        return f"{self.url}/{vendor}"

    def status_page(self, vendor: str) -> str:
        """The `status_page` of this vendor's simulated Statuspage page."""
        return f"{self.url}/status/{vendor}"

    async def _dispatch(self, request: SimRequest) -> SimResponse:
        prefix, _, rest = request.path.lstrip("/").partition("/")
        if request.path == _ADMIN or request.path.startswith(_ADMIN + "/"):
            return self._admin(request)
        if prefix == "status":
            vendor, _, path = rest.partition("/")
            page = self.status_pages.get(vendor)
            if page is None:
                return json_response(404, {"error": f"no status page {vendor!r}"})
            inner = SimRequest(request.method, "/" + path, request.query, request.headers, b"")
            return page.handle(inner)
        fake = self.vendors.get(prefix)
        if fake is None:
            return json_response(404, {"error": f"no vendor {prefix!r}; try {self._names()}"})
        inner = SimRequest(request.method, "/" + rest, request.query, request.headers, request.body)
        return await fake.handle(inner)

    # -- the admin API -------------------------------------------------------------------

    def _admin(self, request: SimRequest) -> SimResponse:
        parts = request.path[len(_ADMIN) :].strip("/").split("/")
        try:
            if parts == [""] and request.method == "GET":
                return json_response(200, self.describe())
            if parts == ["reset"] and request.method == "POST":
                self.reset()
                return json_response(200, self.describe())
            if len(parts) == 2 and parts[0] in self.vendors:
                return self._vendor_admin(self.vendors[parts[0]], parts[1], request)
        except FaultError as error:
            return json_response(400, {"error": str(error)})
        return json_response(404, {"error": f"no admin route {request.method} {request.path}"})

    def _vendor_admin(self, fake: VendorFake, action: str, request: SimRequest) -> SimResponse:
        body = request.json() if request.body else {}
        if action == "mode" and request.method == "PUT":
            fake.plan.set_mode(Fault.from_json(body))
        elif action == "script" and request.method == "PUT":
            steps = body.get("steps") if isinstance(body, dict) else None
            if not isinstance(steps, list) or not steps:
                raise FaultError("a script needs 'steps': a non-empty list of faults")
            fake.plan.play([Fault.from_json(step) for step in steps])
        elif action == "limits" and request.method == "PUT":
            if not isinstance(body, dict):
                raise FaultError("limits must be a JSON object")
            fake.set_limits(body)
        elif action == "writes" and request.method == "PUT":
            fake.writes.set_mode(Fault.from_json(body))
        elif action == "scopes" and request.method == "PUT":
            fake.set_scopes(body)
        elif action == "latency" and request.method == "PUT":
            fake.latency.set(LatencyProfile.from_json(body))
        elif action == "oauth" and request.method == "PUT" and fake.oauth is not None:
            return json_response(200, fake.oauth.configure(body))
        elif action == "requests" and request.method == "GET":
            return json_response(200, {"requests": list(fake.requests)})
        elif action == "requests" and request.method == "DELETE":
            fake.requests.clear()
        elif action.startswith("status-") and fake.name in self.status_pages:
            page = self.status_pages[fake.name]
            return json_response(200, page.admin(action.removeprefix("status-"), body))
        else:
            return json_response(404, {"error": f"no admin route {request.method} {action}"})
        return json_response(200, fake.describe())

    def describe(self) -> dict[str, Any]:
        return {
            "vendors": {name: fake.describe() for name, fake in self.vendors.items()},
            "credentials": dict(self.credentials),
        }

    def reset(self) -> None:
        for fake in self.vendors.values():
            fake.plan.set_mode(Fault())
            fake.writes.set_mode(Fault())
            fake.requests.clear()
            fake.reset_state()
            fake.granted = set(fake.all_scopes)
            fake.latency.set(LatencyProfile())
            if fake.oauth is not None:
                fake.oauth.reset()
        for page in self.status_pages.values():
            page.reset()

    def _names(self) -> str:
        return ", ".join(self.vendors)
