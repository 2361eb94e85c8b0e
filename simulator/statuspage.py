"""A vendor's status page, as Atlassian Statuspage serves one: `GET /api/v2/summary.json`
with the overall indicator, every component's status and the unresolved incidents, in the
shape each Statuspage page documents at its own `/api` (for example
https://confluence.status.atlassian.com/api). Answers carry an `ETag`, and a request whose
`If-None-Match` matches it gets 304 with no body, as HTTP caching works (RFC 9110, 13.1.2).

The component names are the simulator's own, one or two per vendor; the admin API posts
and resolves incidents, sets a component's status, and makes the page misbehave (503,
a body that is not JSON, a body of several MB, a slow answer) so a reader can be tested
against a dead or hostile page.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from simulator.faults import FaultError
from simulator.wire import SimRequest, SimResponse, json_response

__all__ = ["COMPONENTS", "MODES", "StatusPageFake"]

COMPONENTS = {
    "kit": ("API", "Forms"),
    "hubspot": ("CRM API", "Marketing Email"),
    "mailchimp": ("Marketing API", "Transactional Email"),
    "sendgrid": ("API", "Mail Sending"),
}
MODES = ("ok", "503", "garbage", "huge", "slow")
STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage",
            "under_maintenance")  # fmt: skip
IMPACTS = ("none", "minor", "major", "critical")
_INDICATOR = {"degraded_performance": "minor", "partial_outage": "major",
              "major_outage": "critical", "under_maintenance": "maintenance"}  # fmt: skip
_ORDER = ("none", "maintenance", "minor", "major", "critical")
_WORDS = {"none": "All Systems Operational", "minor": "Minor Service Outage",
          "major": "Partial System Outage", "critical": "Major System Outage",
          "maintenance": "Service Under Maintenance"}  # fmt: skip


class StatusPageFake:
    """One vendor's status page."""

    def __init__(self, vendor: str, *, wall: Callable[[], float] = time.time) -> None:
        self.vendor = vendor
        self._wall = wall
        self.components = dict.fromkeys(COMPONENTS[vendor], "operational")
        self.incidents: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.requests = 0
        self._next = 1
        self._updated = wall()  # the page's updated_at: it changes when the page does

    def reset(self) -> None:
        self.components = dict.fromkeys(self.components, "operational")
        self.incidents.clear()
        self.mode = "ok"
        self.requests = 0

    def handle(self, request: SimRequest) -> SimResponse:
        if (request.method, request.path) != ("GET", "/api/v2/summary.json"):
            return json_response(404, {"error": "Not Found"})
        self.requests += 1
        if self.mode == "503":
            return SimResponse(503, b"<html><body>503 Service Unavailable</body></html>",
                               [("Content-Type", "text/html")])  # fmt: skip
        if self.mode == "garbage":
            return SimResponse(200, b'{"status": ', [("Content-Type", "application/json")])
        body = json.dumps(self.summary(), separators=(",", ":")).encode()
        if self.mode == "huge":
            body = body[:-1] + b',"padding":"' + b"x" * (3 << 20) + b'"}'
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = [("Content-Type", "application/json; charset=utf-8"), ("ETag", tag)]
        if request.headers.get("if-none-match") == tag:
            return SimResponse(304, b"", headers[1:])
        return SimResponse(200, body, headers, drip=0.01 if self.mode == "slow" else 0.0)

    def summary(self) -> dict[str, Any]:
        """The page, as summary.json says it."""
        worst = [_INDICATOR.get(s, "none") for s in self.components.values()]
        worst += [i["impact"] for i in self.incidents.values()]
        indicator = max(worst, key=_ORDER.index, default="none")
        return {
            "page": {"id": f"sim-{self.vendor}", "name": self.vendor,
                     "url": f"https://status.{self.vendor}.example",
                     "updated_at": self._iso(self._updated)},
            "status": {"indicator": indicator, "description": _WORDS[indicator]},
            "components": [
                {"id": f"{self.vendor}-{i}", "name": name, "status": status, "position": i,
                 "description": None, "only_show_if_degraded": False}
                for i, (name, status) in enumerate(self.components.items())
            ],
            "incidents": list(self.incidents.values()),
            "scheduled_maintenances": [],
        }  # fmt: skip

    def admin(self, action: str, body: Any) -> dict[str, Any]:
        """`component` {"name", "status"}, `incident` {"name", "impact", "components"},
        `resolve` {"id"}, `mode` {"mode"}: what the page then says."""
        if not isinstance(body, dict):
            raise FaultError("the body must be a JSON object")
        if action == "component":
            name, status = body.get("name"), body.get("status")
            if name not in self.components or status not in STATUSES:
                raise FaultError(f"name is one of {list(self.components)}, status of {STATUSES}")
            self.components[name] = status
        elif action == "incident":
            self._post(body)
        elif action == "resolve":
            if self.incidents.pop(str(body.get("id")), None) is None:
                raise FaultError(f"no unresolved incident {body.get('id')!r}")
        elif action == "mode":
            if body.get("mode") not in MODES:
                raise FaultError(f"mode is one of {MODES}")
            self.mode = body["mode"]
        else:
            raise FaultError(f"no status page action {action!r}")
        self._updated = self._wall()
        return self.summary()

    def _post(self, body: dict[str, Any]) -> None:
        names = body.get("components", [])
        impact = body.get("impact", "major")
        if not isinstance(body.get("name"), str) or impact not in IMPACTS or not isinstance(
            names, list
        ) or not set(names) <= set(self.components):  # fmt: skip
            raise FaultError(f"an incident needs a name, an impact of {IMPACTS}, and components "
                             f"from {list(self.components)}")  # fmt: skip
        key = f"{self.vendor}-incident-{self._next}"
        self._next += 1
        self.incidents[key] = {
            "id": key, "name": body["name"], "status": "investigating", "impact": impact,
            "created_at": self._iso(), "updated_at": self._iso(),
            "shortlink": f"https://stspg.example/{key}",
            "components": [{"id": f"{self.vendor}-{list(self.components).index(n)}", "name": n,
                            "status": self.components[n]} for n in names],
            "incident_updates": [{"id": f"{key}-1", "status": "investigating",
                                  "body": "We are investigating.", "created_at": self._iso()}],
        }  # fmt: skip

    def _iso(self, at: float | None = None) -> str:
        moment = self._wall() if at is None else at
        return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
