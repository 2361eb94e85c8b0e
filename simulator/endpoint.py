"""A plain HTTP health endpoint (kind `http` probes), such as a billing service's /healthz."""

from __future__ import annotations

import re

from simulator.vendor import VendorFake, html_error
from simulator.wire import SimRequest, SimResponse, json_response

__all__ = ["EndpointFake"]


class EndpointFake(VendorFake):
    """`GET /healthz` answers {"status": "ok"}; no credential; every fault mode applies."""

    name = "endpoint"
    title = "a generic HTTP health endpoint"
    routes = (("GET", r"/healthz", "healthz"),)

    def credential(self, request: SimRequest) -> str | None:
        return None

    def refuse(self, request: SimRequest, credential: str | None) -> SimResponse | None:
        return None

    def unauthorized(self) -> SimResponse:
        return json_response(401, {"error": "unauthorized"})

    def throttled(self, credential: str | None) -> SimResponse:
        return json_response(429, {"error": "too many requests"})

    def server_error(self, status: int, html: bool, message: str | None = None) -> SimResponse:
        if html:
            return html_error(status)
        return json_response(status, {"status": message or "down"})

    def not_found(self) -> SimResponse:
        return json_response(404, {"error": "not found"})

    def healthz(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return json_response(200, {"status": "ok", "version": "1.0"})
