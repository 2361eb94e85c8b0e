"""The bundled Grafana dashboards, as code: `python grafana/generate.py` writes
grafana/dashboards/*.json, and a test fails when the committed files differ from its output.

Plain Python, no dashboard SDK: classic dashboard JSON (what file provisioning and import
both load on Grafana 10 to 13), a stable `uid`, a `datasource` template variable and no
`__inputs`, so the same file works when provisioned and when imported. Every query selects
`job=~"$job"`, so one Grafana can show several daemons (replicas, or one per environment);
what counts integrations takes the `max by (integration)` first, so HA replicas probing the
same integrations read as one. `grafana/typecheck.py` checks the output against Grafana's
own TypeScript types.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "build", "expressions"]

HERE = Path(__file__).parent
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job",integration=~"$integration"'
RATE = "$__rate_interval"

# The breaker state as one number for the state timeline: the five one-hot series folded.
STATE = (
    f'max by (integration) (breakerwatch_breaker_state{{{SEL},state="half_open"}})'
    f' + 2 * max by (integration) (breakerwatch_breaker_state{{{SEL},state=~"open|forced_open"}})'
    f' + 3 * max by (integration) (breakerwatch_breaker_state{{{SEL},state="disabled"}})'
)
STATE_MAP = [
    {
        "type": "value",
        "options": {
            "0": {"text": "closed", "color": "green", "index": 0},
            "1": {"text": "half-open (trial)", "color": "yellow", "index": 1},
            "2": {"text": "open", "color": "red", "index": 2},
            "3": {"text": "disabled", "color": "text", "index": 3},
        },
    }
]


def quantile(q: float, by: str = "integration") -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) "
        f"(rate(breakerwatch_probe_duration_seconds_bucket{{{SEL}}}[{RATE}])))"
    )


def quantiles(legend: str) -> list[dict[str, Any]]:
    """p50, p95 and p99 of the probe duration, each legend `legend` + the quantile."""
    return [target(quantile(q), f"{legend}p{round(q * 100)}") for q in (0.5, 0.95, 0.99)]


SUCCESS_RATIO = (
    f"1 - (sum by (integration) (rate(breakerwatch_probe_failures_total{{{SEL}}}[{RATE}]))"
    f" or sum by (integration) (rate(breakerwatch_probes_total{{{SEL}}}[{RATE}])) * 0)"
    f" / (sum by (integration) (rate(breakerwatch_probes_total{{{SEL}}}[{RATE}])) > 0)"
)


def target(expr: str, legend: str = "{{integration}}") -> dict[str, Any]:
    """A query; `panel` gives it its refId (A, B, ... in order)."""
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "range": True}


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    size: tuple[int, int],
    *,
    unit: str = "short",
    mappings: list[dict[str, Any]] | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One panel; `size` is (width, height) in grid units, placed by `layout`."""
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "gridPos": {"w": size[0], "h": size[1], "x": 0, "y": 0},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "mappings": mappings or [],
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": custom or {},
            },
            "overrides": [],
        },
        "options": options or {},
    }


def row(title: str) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1, "x": 0, "y": 0},
    }


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flow panels left to right, 24 units a line; a row starts a new line. Ids in order."""
    x = y = line = 0
    for number, item in enumerate(panels, 1):
        item["id"] = number
        pos = item["gridPos"]
        if item["type"] == "row" or x + pos["w"] > 24:
            x, y, line = 0, y + line, 0
        pos["x"], pos["y"] = x, y
        x += pos["w"]
        line = max(line, pos["h"])
        if item["type"] == "row":
            x, y, line = 0, y + pos["h"], 0
    return panels


def variables(*, multi_integration: bool) -> list[dict[str, Any]]:
    def query(name: str, label: str, expr: str, multi: bool) -> dict[str, Any]:
        return {
            "type": "query",
            "name": name,
            "label": label,
            "datasource": DS,
            "query": {"query": expr, "refId": name},
            "refresh": 2,
            "multi": multi,
            "includeAll": multi,
            "sort": 1,
            **({"current": {"text": "All", "value": "$__all"}} if multi else {}),
        }

    return [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
        },
        query("job", "Job", "label_values(breakerwatch_build_info, job)", True),
        query(
            "integration",
            "Integration",
            'label_values(breakerwatch_breaker_state{job=~"$job"}, integration)',
            multi_integration,
        ),
    ]


def dashboard(
    uid: str, title: str, description: str, panels: list[dict[str, Any]], *, multi: bool
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["breakerwatch"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "id": None,
        "links": [
            {
                "type": "dashboards",
                "tags": ["breakerwatch"],
                "asDropdown": True,
                "title": "breakerwatch",
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
            }
        ],
        "templating": {"list": variables(multi_integration=multi)},
        "annotations": {"list": []},
        "panels": layout(panels),
    }


def overview() -> dict[str, Any]:
    job = 'job=~"$job"'
    panels = [
        row("Now"),
        panel(
            "stat",
            "Breakers open",
            "Integrations whose breaker is open (or forced open) now. Red: something is failing; the Slack message says what.",
            [
                target(
                    # max by integration: HA replicas (the same integrations) read as one
                    f"sum(max by (integration) "
                    f'(breakerwatch_breaker_state{{{SEL},state=~"open|forced_open"}})) or vector(0)',
                    "open",
                )
            ],
            (6, 4),
            thresholds=[(None, "green"), (1, "red")],
        ),
        panel(
            "stat",
            "Integrations watched",
            "How many integrations the selected daemons probe.",
            [
                target(
                    f'count(max by (integration) (breakerwatch_breaker_state{{{SEL},state="closed"}}))',
                    "integrations",
                )
            ],
            (6, 4),
        ),
        panel(
            "stat",
            "Alerts waiting",
            "Notifications queued and not yet delivered. Above 0 for long: Slack is refusing them; the daemon's log says why.",
            [
                target(
                    f"sum(breakerwatch_notification_queue_depth{{{job}}}) or vector(0)", "waiting"
                )
            ],
            (6, 4),
            thresholds=[(None, "green"), (1, "orange"), (10, "red")],
        ),
        panel(
            "stat",
            "Config reload",
            "Whether the last configuration load succeeded. FAILED: the daemon runs the previous configuration; `breakerwatch check` names the problem.",
            [target(f"min(breakerwatch_config_last_reload_successful{{{job}}})", "reload")],
            (6, 4),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "FAILED", "color": "red", "index": 0},
                        "1": {"text": "OK", "color": "green", "index": 1},
                    },
                }
            ],
        ),
        panel(
            "state-timeline",
            "Breaker state",
            "Each integration's breaker over time: green closed, red open, yellow a trial, grey disabled.",
            [target(STATE)],
            (24, 8),
            mappings=STATE_MAP,
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        ),
        panel(
            "timeseries",
            "Trouble the breakers do not show",
            "Integrations slow but working (degraded), whose credential lacks a scope its "
            "writes need, whose canary writes fail, or whose breaker an operator holds; and "
            "breakerwatch short of its own resources. Each is an incident of its own in Slack.",
            [
                target(
                    f"sum(max by (integration) (breakerwatch_integration_degraded{{{SEL}}}))",
                    "slow but working",
                ),
                target(
                    f"count(max by (integration) "
                    f"(breakerwatch_credential_scopes_missing{{{SEL}}}) > 0) or vector(0)",
                    "lacking scopes",
                ),
                target(
                    f"count(max by (integration) "
                    f'(breakerwatch_canary_breaker_state{{{SEL},state="open"}}) == 1) '
                    "or vector(0)",
                    "writes failing",
                ),
                target(
                    f"count(max by (integration) "
                    f"(breakerwatch_breaker_override_since_timestamp_seconds{{{SEL}}})) "
                    "or vector(0)",
                    "held by an operator",
                ),
                target(f"max(breakerwatch_local_trouble{{{job}}})", "breakerwatch in trouble"),
            ],
            (12, 8),
        ),
        panel(
            "timeseries",
            "Vendors' status pages",
            "What the vendors' own status pages say, for the integrations that read one: how "
            "many at each indicator (unknown: the page could not be read). Every alert quotes "
            "it in its verdict.",
            [
                target(
                    f"sum by (indicator) (max by (integration, indicator) "
                    f"(breakerwatch_vendor_status{{{SEL}}}))",
                    "{{indicator}}",
                ),
            ],
            (12, 8),
        ),
        row("Probes"),
        panel(
            "timeseries",
            "Probe latency p50 / p95 / p99",
            "From the probe duration histogram, retries included. A rising p99 before failures start is often the first sign.",
            quantiles("{{integration}} "),
            (12, 8),
            unit="s",
        ),
        panel(
            "timeseries",
            "Success ratio",
            "Share of probes sent that did not fail (a throttled probe is not a failure). Below 1: see Failures by reason.",
            [target(SUCCESS_RATIO)],
            (12, 8),
            unit="percentunit",
        ),
        panel(
            "timeseries",
            "Failures by reason",
            "Failed probes per second: timeout, connect_error, http_5xx, auth (our credential was refused), client_error, invalid_response, assertion.",
            [
                target(
                    f"sum by (integration, reason) (rate(breakerwatch_probe_failures_total{{{SEL}}}[{RATE}]))",
                    "{{integration}} {{reason}}",
                )
            ],
            (12, 8),
            unit="reqps",
        ),
        panel(
            "timeseries",
            "Breaker transitions",
            "Transitions in each interval. Many opens and closes: flapping (the Slack channel stays quiet; the dashboard does not).",
            [
                target(
                    f"sum by (integration, to_state) (increase(breakerwatch_breaker_transitions_total{{{SEL}}}[{RATE}]))",
                    "{{integration}} to {{to_state}}",
                )
            ],
            (12, 8),
            custom={"drawStyle": "bars"},
        ),
        panel(
            "timeseries",
            "Throttled and held back",
            "Probes the vendor throttled (429), and probes not sent because the breaker was open or cooling down.",
            [
                target(
                    f"sum by (integration) (rate(breakerwatch_probes_throttled_total{{{SEL}}}[{RATE}]))",
                    "{{integration}} throttled",
                ),
                target(
                    f"sum by (integration) (rate(breakerwatch_probes_rejected_total{{{SEL}}}[{RATE}]))",
                    "{{integration}} held back",
                ),
            ],
            (12, 8),
            unit="reqps",
        ),
        panel(
            "timeseries",
            "Rate-limit headroom",
            "Requests left before the vendor throttles us, where it says (HubSpot, SendGrid). Probes share the quota with your own traffic.",
            [target(f"breakerwatch_rate_limit_remaining{{{SEL}}}")],
            (12, 8),
        ),
        row("breakerwatch itself"),
        panel(
            "timeseries",
            "Alert delivery",
            "Notifications delivered, failed attempts by reason (each is retried), and the queue. A queue that grows: alerts are late.",
            [
                target(
                    f"sum by (channel) (rate(breakerwatch_notifications_total{{{job}}}[{RATE}]))",
                    "{{channel}} delivered",
                ),
                target(
                    f"sum by (channel, reason) (rate(breakerwatch_notification_failures_total{{{job}}}[{RATE}])) > 0",
                    "{{channel}} failed: {{reason}}",
                ),
                target(
                    f"sum by (channel) (breakerwatch_notification_queue_depth{{{job}}})",
                    "{{channel}} waiting",
                ),
            ],
            (12, 8),
        ),
        panel(
            "timeseries",
            "Schedule lag p99",
            "How late probes start against their schedule. Above a second: the daemon is overloaded (too many integrations for its CPU).",
            [
                target(
                    f"histogram_quantile(0.99, sum by (job, le) (rate(breakerwatch_probe_start_delay_seconds_bucket{{{job}}}[{RATE}])))",
                    "{{job}}",
                )
            ],
            (12, 8),
            unit="s",
        ),
    ]
    return dashboard(
        "breakerwatch-overview",
        "breakerwatch: overview",
        "Every integration's breaker, probes and alerts.",
        panels,
        multi=True,
    )


def integration() -> dict[str, Any]:
    panels = [
        row("$integration now"),
        panel("stat", "State", "The breaker now.", [target(STATE)], (6, 4), mappings=STATE_MAP),
        panel(
            "stat",
            "Next trial",
            "When the open breaker lets one trial probe through.",
            [
                target(
                    f"max(breakerwatch_breaker_open_until_timestamp_seconds{{{SEL}}}) * 1000",
                    "next trial",
                )
            ],
            (6, 4),
            unit="dateTimeFromNow",
        ),
        panel(
            "stat",
            "Consecutive failures",
            "Failed probes in a row; the breaker opens at failure_threshold.",
            [target(f"max(breakerwatch_breaker_consecutive_failures{{{SEL}}})", "failures")],
            (6, 4),
            thresholds=[(None, "green"), (1, "orange")],
        ),
        panel(
            "stat",
            "Last success",
            "Time since the last successful probe.",
            [
                target(
                    f"time() - max(breakerwatch_probe_last_success_timestamp_seconds{{{SEL}}})",
                    "ago",
                )
            ],
            (6, 4),
            unit="s",
            thresholds=[(None, "green"), (300, "orange"), (1800, "red")],
        ),
        panel(
            "state-timeline",
            "Breaker state",
            "The breaker over time.",
            [target(STATE)],
            (24, 5),
            mappings=STATE_MAP,
            options={"showValue": "never", "mergeValues": True},
        ),
        row("Probes"),
        panel(
            "timeseries",
            "Latency",
            "Quantiles from the histogram, the last probe's duration, and what slow but "
            "working is judged by: the recent p95 against the usual (baseline) latency.",
            [
                *quantiles(""),
                target(f"breakerwatch_probe_last_duration_seconds{{{SEL}}}", "last"),
                target(f"breakerwatch_latency_recent_p95_seconds{{{SEL}}}", "recent p95"),
                target(f"breakerwatch_latency_baseline_seconds{{{SEL}}}", "usual (baseline)"),
            ],
            (12, 8),
            unit="s",
        ),
        panel(
            "timeseries",
            "Failure rate (breaker window)",
            "The breaker's failure rate over its last `window` outcomes; it opens at failure_rate_threshold.",
            [target(f"breakerwatch_breaker_failure_rate{{{SEL}}}", "failure rate")],
            (12, 8),
            unit="percentunit",
        ),
        panel(
            "timeseries",
            "Probes and failures",
            "Probes sent, failed (by reason), retried, throttled and held back, per second.",
            [
                target(f"sum(rate(breakerwatch_probes_total{{{SEL}}}[{RATE}]))", "sent"),
                target(
                    f"sum by (reason) (rate(breakerwatch_probe_failures_total{{{SEL}}}[{RATE}]))",
                    "failed: {{reason}}",
                ),
                target(f"sum(rate(breakerwatch_retries_total{{{SEL}}}[{RATE}]))", "retries"),
                target(
                    f"sum(rate(breakerwatch_probes_throttled_total{{{SEL}}}[{RATE}]))", "throttled"
                ),
                target(
                    f"sum(rate(breakerwatch_probes_rejected_total{{{SEL}}}[{RATE}]))", "held back"
                ),
            ],
            (12, 8),
            unit="reqps",
        ),
        panel(
            "timeseries",
            "Rate-limit headroom",
            "Requests left before the vendor throttles (where it says).",
            [target(f"breakerwatch_rate_limit_remaining{{{SEL}}}", "remaining")],
            (12, 8),
        ),
        panel(
            "timeseries",
            "Writes (canary)",
            "With a canary: its write-and-read-back runs by outcome, and the write path's own "
            "breaker (1 while open: writes failing, told apart from a read outage).",
            [
                target(
                    f"sum by (outcome) (rate(breakerwatch_canary_runs_total{{{SEL}}}[{RATE}]))",
                    "runs: {{outcome}}",
                ),
                target(
                    f'max(breakerwatch_canary_breaker_state{{{SEL},state="open"}})',
                    "write breaker open",
                ),
            ],
            (12, 8),
        ),
        panel(
            "timeseries",
            "Canary run duration",
            "How long the last canary run took: the write, the vendor's processing (SendGrid's "
            "import job), and the read-back.",
            [target(f"breakerwatch_canary_last_duration_seconds{{{SEL}}}", "last run")],
            (12, 8),
            unit="s",
        ),
        panel(
            "timeseries",
            "TLS certificate days left",
            "For http probes over TLS: days until the server certificate expires.",
            [
                target(
                    f"(breakerwatch_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()) / 86400",
                    "days left",
                )
            ],
            (12, 8),
            unit="d",
            thresholds=[(None, "red"), (7, "orange"), (21, "green")],
        ),
    ]
    return dashboard(
        "breakerwatch-integration",
        "breakerwatch: integration",
        "One integration in detail: the link in every Slack alert opens here.",
        panels,
        multi=False,
    )


DASHBOARDS = {"overview.json": overview, "integration.json": integration}


def build() -> dict[str, str]:
    """File name -> the JSON text it should hold."""
    return {name: json.dumps(make(), indent=2) + "\n" for name, make in DASHBOARDS.items()}


def expressions(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression a dashboard runs: panel targets and variable queries."""
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["query"]["query"])
    return found


if __name__ == "__main__":
    out = HERE / "dashboards"
    out.mkdir(exist_ok=True)
    for name, text in build().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}", file=sys.stderr)
