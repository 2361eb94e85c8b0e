"""The Alertmanager ledger (pure): incidents in, the body of POST /api/v2/alerts out."""

from __future__ import annotations

from dataclasses import replace

from alerts.alertmanager import RESOLVED_RETENTION, Ledger
from alerts.model import Facts, Failure, IncidentKind, Verdict, VerdictKind

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
DOWN = Failure("http_5xx", 503, "HTTP 503", "HTTP 503 Service Unavailable")
KIT = Facts("kit", IncidentKind.OUTAGE, T0, DOWN, failed_probes=3, next_trial_at=T0 + 30)


def test_an_open_incident_is_one_alert_with_its_labels_and_text() -> None:
    ledger = Ledger(30.0, {"team": "growth"})
    ledger.observe({"kit": KIT}, T0 + 1)
    (alert,) = ledger.payload(T0 + 1)
    assert alert["labels"] == {
        "alertname": "BreakerwatchIntegrationFailing",
        "integration": "kit",
        "reason": "http_5xx",
        "severity": "page",
        "team": "growth",
        "verdict": "unknown",
    }
    assert alert["annotations"] == {
        "summary": "kit is failing: breaker open",
        "description": "What failed: HTTP 503 server error: HTTP 503 Service Unavailable\n"
        "Since: 2026-09-21 14:13:20 UTC\nFailed probes: 3\n"
        "Next trial: 2026-09-21 14:13:50 UTC",
    }
    assert alert["startsAt"] == "2026-09-21T14:13:20.000Z"
    assert alert["endsAt"] == "2026-09-21T14:15:21.000Z"  # four re-sends ahead of now


def test_each_kind_has_its_alertname_and_severity() -> None:
    ledger = Ledger(30.0)
    auth = Failure("auth", 401, "HTTP 401", "HTTP 401 Unauthorized")
    throttled = Failure("throttled", 429, None, "HTTP 429 Too Many Requests")
    ledger.observe(
        {
            "hubspot": Facts("hubspot", IncidentKind.AUTH, T0, auth),
            "sendgrid:throttled": Facts("sendgrid", IncidentKind.THROTTLED, T0, throttled),
        },
        T0,
    )
    labels = sorted(
        (a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["reason"])
        for a in ledger.payload(T0)
    )
    assert labels == [
        ("BreakerwatchCredentialsRefused", "page", "auth"),
        ("BreakerwatchThrottled", "warning", "throttled"),
    ]


def test_the_identity_stays_while_the_text_follows_the_latest_failure() -> None:
    ledger = Ledger(30.0)
    ledger.observe({"kit": KIT}, T0)
    first = ledger.version
    ledger.observe({"kit": KIT}, T0 + 60)
    assert ledger.version == first  # only time passed: nothing new to say
    timeout = Failure("timeout", None, "ReadTimeout", "timed out after 5s")
    ledger.observe({"kit": replace(KIT, failure=timeout, failed_probes=4)}, T0 + 61)
    assert ledger.version == first + 1
    (alert,) = ledger.payload(T0 + 61)
    assert alert["labels"]["reason"] == "http_5xx"  # as when the incident began
    assert "timed out after 5s" in alert["annotations"]["description"]


def test_the_first_reason_survives_a_restart() -> None:
    """The policy's state is stored as JSON; a restarted daemon must send the same alert."""
    later = replace(KIT, failure=Failure("timeout", None, "ReadTimeout", "timed out"))
    restored = Facts.from_json(later.to_json())
    ledger = Ledger(30.0)
    ledger.observe({"kit": restored}, T0)
    assert ledger.payload(T0)[0]["labels"]["reason"] == "http_5xx"


def test_a_close_resolves_at_once_and_is_repeated_for_a_while() -> None:
    ledger = Ledger(30.0)
    ledger.observe({"kit": KIT}, T0)
    ledger.observe({}, T0 + 100)
    (resolved,) = ledger.payload(T0 + 100)
    assert resolved["endsAt"] == "2026-09-21T14:15:00.000Z"  # the close, not four re-sends on
    assert ledger.payload(T0 + 100 + RESOLVED_RETENTION) == [resolved]
    version = ledger.version
    ledger.observe({}, T0 + 101 + RESOLVED_RETENTION)
    assert ledger.payload(T0 + 101 + RESOLVED_RETENTION) == []
    assert ledger.version == version  # forgetting it is not news


def test_reopening_replaces_the_resolved_alert() -> None:
    ledger = Ledger(30.0)
    ledger.observe({"kit": KIT}, T0)
    ledger.observe({}, T0 + 100)
    ledger.observe({"kit": replace(KIT, opened_at=T0 + 120)}, T0 + 120)
    (alert,) = ledger.payload(T0 + 120)
    assert alert["startsAt"] == "2026-09-21T14:15:20.000Z"
    assert alert["endsAt"] == "2026-09-21T14:17:20.000Z"  # firing again, once


def test_with_ha_a_close_lets_the_alert_expire_instead() -> None:
    """Another replica may still see the failure: resolving would let it fire the alert
    again and Alertmanager notify twice; the last sender's endsAt resolves it."""
    ledger = Ledger(30.0, ha=True)
    ledger.observe({"kit": KIT}, T0)
    version = ledger.version
    ledger.observe({}, T0 + 100)
    assert ledger.payload(T0 + 100) == []
    assert ledger.version == version + 1  # said at once: the sends stop


def test_the_verdict_is_a_label_fixed_at_the_start_and_an_annotation_that_follows() -> None:
    """Labels are an alert's identity: the `verdict` label is the verdict the incident began
    with (route on it), the `verdict` annotation what it is now (read it)."""
    ledger = Ledger(30.0)
    first = replace(
        KIT, verdict=Verdict(VerdictKind.US, "status.kit.com says All Systems Operational")
    )
    ledger.observe({"kit": first}, T0 + 1)
    (alert,) = ledger.payload(T0 + 1)
    assert alert["labels"]["verdict"] == "only_us_so_far"
    assert (
        alert["annotations"]["verdict"]
        == "Only us so far: status.kit.com says All Systems Operational"
    )
    assert alert["annotations"]["description"].startswith("Verdict: Only us so far: ")
    posted = replace(first, verdict=Verdict(VerdictKind.VENDOR, 'status.kit.com reports "Down"'))
    version = ledger.version
    ledger.observe({"kit": posted}, T0 + 60)
    (alert,) = ledger.payload(T0 + 60)
    assert ledger.version == version + 1  # news: sent at once
    assert alert["labels"]["verdict"] == "only_us_so_far"
    assert alert["annotations"]["verdict"] == 'The vendor confirms: status.kit.com reports "Down"'
