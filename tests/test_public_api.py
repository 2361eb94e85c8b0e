"""The public API of the core is pinned: adding or removing a name is a deliberate act."""

from __future__ import annotations

import probes

PUBLIC = {
    "AttemptEvent", "Breaker", "BreakerConfig", "BreakerOpen", "BreakerSnapshot", "Cause",
    "InvalidResponse", "InvalidSetting", "Kind", "Outcome", "Permit", "ProbeAssertionFailed",
    "Reason", "Redactor", "Rejection", "RequestFailed", "ResilientClient", "ResponseTooLarge",
    "Result", "Retrier", "RetryBudget", "RetryPolicy", "State", "Stop", "Transition",
    "classify", "parse_retry_after", "retry_hint",
}  # fmt: skip


def test_exported_names_are_exactly_the_public_api() -> None:
    assert set(probes.__all__) == PUBLIC
    assert all(hasattr(probes, name) for name in PUBLIC)


def test_metric_label_enums_are_the_design_catalogue() -> None:
    # These strings are Prometheus label values (docs/metrics.md): renaming one breaks dashboards.
    assert [s.value for s in probes.State] == [
        "closed", "open", "half_open", "forced_open", "disabled",
    ]  # fmt: skip
    assert [r.value for r in probes.Reason] == [
        "timeout", "connect_error", "http_5xx", "auth", "client_error", "invalid_response",
        "assertion",
    ]  # fmt: skip
