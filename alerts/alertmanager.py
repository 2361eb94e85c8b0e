"""Incidents as Prometheus Alertmanager alerts: the pure half of the Alertmanager sink.

Alertmanager is level-triggered: a client says which alerts are firing, again and again,
each with an `endsAt` a few re-sends ahead, and resolves one by sending it with `endsAt`
now. Every replica of breakerwatch sends the same alert (same labels) for the same
incident, and Alertmanager's cluster turns them into one notification (docs/scaling.md).
So, following what Prometheus itself does (its notifier):

- each open incident is one alert: `alertname` BreakerwatchIntegrationFailing,
  BreakerwatchCredentialsRefused, BreakerwatchThrottled (or BreakerwatchVendorIncident, the
  heads-up), labels `integration`, `reason`, `severity` and `verdict` (plus the configured
  extra labels), and the human text as annotations (the verdict's line among them);
- labels are fixed when the incident is first seen: a failure that changes its reason, or
  a vendor that posts its incident, mid-incident changes the annotations, never the
  alert's identity (the `verdict` label is the verdict the incident began with);
- firing alerts carry `endsAt` = now + `HOLD_RESENDS` re-send intervals, so an alert whose
  every sender died resolves by itself, and one missed re-send changes nothing;
- a resolved alert is re-sent with its `endsAt` for `RESOLVED_RETENTION`, so an
  Alertmanager that was unreachable at the moment of the close still hears of it.

High availability changes one thing. Alertmanager keeps the newest word on an alert: when
one replica's breaker closes a few seconds before another's and it resolves the alert, the
other replica's next re-send fires it again, and a notification flushed in between is a
second "resolved" and a second incident message. So with `ha` the ledger never resolves:
a closed incident is simply no longer re-sent, and Alertmanager resolves the alert when the
`endsAt` of the last replica still sending it passes. The alert fires while any replica
sees the failure, and the resolution comes `HOLD_RESENDS` re-send intervals late.

`Ledger.observe(incidents, now)` takes the policy's open incidents; `Ledger.payload(now)`
is the JSON body of `POST /api/v2/alerts`; `Ledger.version` changes whenever the payload
says something new (not when only time passed), which is when it is sent at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from alerts.messages import describe
from alerts.model import Facts, IncidentKind
from alerts.verdict import line

__all__ = [
    "ALERTNAMES",
    "HOLD_RESENDS",
    "RESERVED_LABELS",
    "RESOLVED_RETENTION",
    "SEVERITIES",
    "Alert",
    "Ledger",
]

# One scheme with prometheus/alerts.yml: names begin with Breakerwatch, and severities are
# page (someone acts now), warning (in working hours) or info.
ALERTNAMES = {
    IncidentKind.OUTAGE: "BreakerwatchIntegrationFailing",
    IncidentKind.AUTH: "BreakerwatchCredentialsRefused",
    IncidentKind.THROTTLED: "BreakerwatchThrottled",
    IncidentKind.VENDOR: "BreakerwatchVendorIncident",
    IncidentKind.SCOPES: "BreakerwatchScopesMissing",
    IncidentKind.WRITES: "BreakerwatchWritesFailing",
}
SEVERITIES = {
    IncidentKind.OUTAGE: "page",
    IncidentKind.AUTH: "page",
    IncidentKind.THROTTLED: "warning",
    IncidentKind.VENDOR: "info",
    IncidentKind.SCOPES: "page",  # the application's writes are refused now
    IncidentKind.WRITES: "page",  # the application's writes fail now
}
RESERVED_LABELS = frozenset({"alertname", "integration", "reason", "severity", "verdict"})
HOLD_RESENDS = 4  # as Prometheus: endsAt is four re-send intervals ahead
RESOLVED_RETENTION = 900.0  # as Prometheus: resolved alerts are re-sent for 15 minutes

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Alert:
    labels: Pairs
    annotations: Pairs
    starts_at: float
    ends_at: float | None = None  # None while firing

    def to_json(self, now: float, hold: float) -> dict[str, Any]:
        ends = self.ends_at if self.ends_at is not None else now + hold
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(ends),
        }


class Ledger:
    """The alerts to tell Alertmanager: open incidents, and those resolved lately."""

    def __init__(
        self,
        resend_interval: float,
        labels: Mapping[str, str] | None = None,
        *,
        ha: bool = False,
    ) -> None:
        self.hold = HOLD_RESENDS * resend_interval
        self.extra: Pairs = tuple(sorted((labels or {}).items()))
        self.ha = ha
        self.firing: dict[str, Alert] = {}  # by incident key
        self._seen: dict[str, Facts] = {}  # what each firing alert was built from
        self.resolved: dict[Pairs, Alert] = {}  # by labels
        self.version = 0

    def observe(self, incidents: Mapping[str, Facts], now: float) -> None:
        """Bring the ledger up to `incidents` (the open ones, by incident key)."""
        changed = False
        for key in self.firing.keys() - incidents.keys():
            gone = self.firing.pop(key)
            del self._seen[key]
            if not self.ha:  # with ha, the alert expires once no replica sends it
                self.resolved[gone.labels] = replace(gone, ends_at=now)
            changed = True
        for key, facts in incidents.items():
            if self._seen.get(key) == facts:
                continue  # the text would be the same: not built again every turn
            known = self.firing.get(key)
            alert = self._alert(facts, known)
            self._seen[key] = facts
            if alert != known:
                self.firing[key] = alert
                self.resolved.pop(alert.labels, None)  # the same alert, firing again
                changed = True
        for labels, alert in list(self.resolved.items()):
            if alert.ends_at is not None and now - alert.ends_at > RESOLVED_RETENTION:
                del self.resolved[labels]  # dropping one is not news: nothing to send
        if changed:
            self.version += 1

    def payload(self, now: float) -> list[dict[str, Any]]:
        alerts = [*self.resolved.values(), *self.firing.values()]
        return [alert.to_json(now, self.hold) for alert in alerts]

    def __len__(self) -> int:
        return len(self.firing) + len(self.resolved)

    def _alert(self, facts: Facts, known: Alert | None) -> Alert:
        summary, description = describe(facts)
        annotations: Pairs = (("description", description), ("summary", summary))
        if facts.verdict is not None:
            annotations += (("verdict", line(facts.verdict)),)
        if known is not None:  # the identity stays what it was when the incident began
            return replace(known, annotations=annotations)
        reason = facts.first_reason or "unknown"
        labels = (
            ("alertname", ALERTNAMES[facts.kind]),
            ("integration", facts.integration),
            ("reason", reason),
            ("severity", SEVERITIES[facts.kind]),
            ("verdict", facts.first_verdict or "unknown"),
        )
        return Alert(tuple(sorted(labels + self.extra)), annotations, facts.opened_at)


def _rfc3339(epoch: float) -> str:
    millis = round(epoch * 1000)
    seconds, millis = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
