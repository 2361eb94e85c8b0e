"""`[alerts]`: the policy's settings, the console, Slack, Alertmanager and maintenance
windows (docs/alerts.md)."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any

from alerts.alertmanager import RESERVED_LABELS
from alerts.model import AlertSettings
from alerts.silences import ALL, WEEKDAYS, MaintenanceWindow
from alerts.sinks import SLACK_API
from daemon.config._reader import (
    DAY,
    HOUR,
    TIMEOUT,
    Reader,
    Table,
    boolean,
    duration,
    file_path,
    string,
    timezone,
    url,
    whole,
)
from daemon.config.model import (
    AlertmanagerConfig,
    AlertsConfig,
    ClientTls,
    SlackConfig,
    parse_duration,
)
from probes.outbound import client_tls_problem
from probes.secrets import Secret

__all__ = ["alerts_table"]

_NOTIFY_ON = ("open", "close", "half_open", "vendor_incident")


def alerts_table(table: Table, reader: Reader, names: set[str]) -> AlertsConfig:
    """The `[alerts]` table; `names`: the integrations a maintenance window may name."""
    default = AlertSettings()
    notify_on = table.value("notify_on", _notify_on, default.notify_on)
    flap_window = table.value("flap_window", duration(DAY), default.flap_window)
    flap_max = table.value("flap_max_transitions", whole(2, 1000), default.flap_max_transitions)
    storm_window = table.value("storm_window", duration(HOUR), default.storm_window)
    storm_min = table.value(
        "storm_min_integrations", whole(2, 100_000), default.storm_min_integrations
    )
    repeat = table.value("repeat_interval", _repeat, default.repeat_interval)
    throttled = table.value("throttled_after", duration(30 * DAY), default.throttled_after)
    max_silence = table.value("max_silence", duration(365 * DAY), default.max_silence)
    dashboard = table.value("dashboard_url", url, None)
    console = table.value("console", boolean, False)
    slack = _slack(table.table("slack"), reader) if table.has("slack") else None
    alertmanager = _alertmanager(table.table("alertmanager")) if table.has("alertmanager") else None
    windows = tuple(
        w for w in (_window(item, reader, names) for item in table.array("maintenance")) if w
    )
    table.finish()
    settings = AlertSettings(
        notify_on=notify_on, flap_window=flap_window, flap_max_transitions=flap_max,
        storm_window=storm_window, storm_min_integrations=storm_min, repeat_interval=repeat,
        throttled_after=throttled, dashboard_url=dashboard, max_silence=max_silence,
    )  # fmt: skip
    return AlertsConfig(settings, console, slack, windows, alertmanager)


def _notify_on(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"must be an array of {', '.join(_NOTIFY_ON)}")
    unknown = [v for v in value if v not in _NOTIFY_ON]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of {', '.join(_NOTIFY_ON)}")
    if "open" not in value:
        raise ValueError('must include "open" (an incident starts there)')
    return frozenset(value)


def _repeat(value: Any) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < 60 or seconds > 30 * DAY:
        raise ValueError('must be 0 (no reminders), or from "1m" to "30d"')
    return seconds


def _slack(table: Table, reader: Reader) -> SlackConfig | None:
    count = len(reader.errors)
    token = reader.secret(table.at("token"), table.take("token")) if table.has("token") else None
    webhook = (
        reader.secret(table.at("webhook_url"), table.take("webhook_url"))
        if table.has("webhook_url")
        else None
    )
    if table.has("token") == table.has("webhook_url"):
        reader.error(
            table.path, "set either token (a bot token) or webhook_url, not both or neither"
        )
    if webhook is not None and not re.match(r"https?://[^/\s]+/", webhook.reveal()):
        reader.error(table.at("webhook_url"), "the referenced value is not an http(s) URL")
    channel = table.value("channel", string(), "")
    if table.has("token") and not channel:
        reader.error(table.at("channel"), 'is required with a bot token (such as "#integrations")')
    base_url = table.value("base_url", url, SLACK_API)
    identity = table.value("identity", _identity, "")
    settle = table.value("settle", duration(600.0), 30.0)
    table.finish()
    if len(reader.errors) > count:
        return None
    return SlackConfig(token, webhook, channel, base_url, identity, settle)


def _identity(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^\x00-\x1f\x7f]{1,200}", value.strip()):
        raise ValueError("must be a name of 1 to 200 printable characters")
    return value.strip()


def _alertmanager(table: Table) -> AlertmanagerConfig:
    urls = table.value("urls", _urls, ())
    if not table.has("urls"):
        table.reader.error(table.at("urls"), 'is required: ["http://alertmanager-1:9093", ...]')
    default = AlertmanagerConfig(())
    resend = table.value("resend_interval", duration(HOUR), default.resend_interval)
    timeout = table.value("timeout", TIMEOUT, default.timeout)
    labels = table.value("labels", _labels, default.labels)
    ha = table.value("ha", boolean, default.ha)
    basic = _basic_auth(table.table("basic_auth")) if table.has("basic_auth") else None
    bearer = table.reader.secret(table.at("bearer_token"), table.take("bearer_token")) if (
        table.has("bearer_token")
    ) else None  # fmt: skip
    if basic and bearer:
        table.reader.error(table.at("bearer_token"), "set basic_auth or bearer_token, not both")
    tls = _client_tls(table.table("tls")) if table.has("tls") else None
    table.finish()
    return AlertmanagerConfig(tuple(urls), resend, timeout, labels, ha, basic, bearer, tls)


def _basic_auth(table: Table) -> tuple[str, Secret] | None:
    """`[alerts.alertmanager.basic_auth]`: username, and password as a secret reference."""
    username = table.value("username", string(), None)
    if username is None:
        table.reader.error(table.at("username"), "is required")
    password = table.reader.secret(table.at("password"), table.take("password"))
    table.finish()
    return (username, password) if username is not None and password is not None else None


def _client_tls(table: Table) -> ClientTls:
    """`[alerts.alertmanager.tls]`: cert_file and key_file (PEM; key_file may be a
    credential:NAME), ca_file; loaded now, so `check` finds what `run` would."""
    reader, config = table.reader, Path(table.reader.label)
    paths = {
        key: table.value(key, lambda v: file_path(v, reader, config), None)
        for key in ("cert_file", "key_file", "ca_file")
    }
    table.finish()
    tls = ClientTls(paths["cert_file"], paths["key_file"], paths["ca_file"])
    if (tls.cert_file is None) != (tls.key_file is None):
        table.reader.error(table.path, "cert_file and key_file go together")
        return tls
    problem = client_tls_problem(tls.cert_file, tls.key_file, tls.ca_file)
    if problem is not None:
        table.reader.error(table.path, problem)
    return tls


def _urls(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError("must be a non-empty array of Alertmanager URLs (every one of a cluster)")
    urls = tuple(url(v) for v in value)
    if len(set(urls)) != len(urls):
        raise ValueError("lists one Alertmanager twice")
    return urls


def _labels(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError('must be a table of strings, such as { team = "growth" }')
    for name in value:
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ValueError(f"{name!r} is not a Prometheus label name")
        if name in RESERVED_LABELS:
            raise ValueError(f"{name!r} is set by breakerwatch itself")
    return tuple(sorted(value.items()))


def _window(table: Table, reader: Reader, names: set[str]) -> MaintenanceWindow | None:
    count = len(reader.errors)
    integrations = table.value("integrations", _string_list, [ALL])
    for name in integrations:
        if name != ALL and name not in names:
            reader.error(table.at("integrations"), f"no integration is named {name!r}")
    zone = table.value("timezone", timezone, None)
    if zone is None and not table.has("timezone"):
        reader.error(table.at("timezone"), 'is required: an IANA name such as "Europe/Berlin"')
    start = table.value("start", _clock_time, None)
    end = table.value("end", _clock_time, None)
    for key, found in (("start", start), ("end", end)):
        if found is None and not table.has(key):
            reader.error(table.at(key), 'is required: a local time such as "02:00"')
    weekdays = table.value("weekdays", _weekdays, frozenset())
    days = table.value("days_of_month", _days_of_month, frozenset())
    reason = table.value("reason", string(), "maintenance window")
    table.finish()
    if len(reader.errors) > count or zone is None or start is None or end is None:
        return None
    if start == end:
        reader.error(table.at("end"), "must differ from start")
        return None
    return MaintenanceWindow(frozenset(integrations), zone, start, end, weekdays, days, reason)


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise TypeError('must be a non-empty array of integration names (or ["*"])')
    return value


def _clock_time(value: Any) -> time:
    text = string()(value)
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if match is None:
        raise ValueError('must be a 24-hour local time such as "02:00"')
    return time(int(match[1]), int(match[2]))


def _weekdays(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"must be an array of {', '.join(WEEKDAYS)}")
    days = [v.lower()[:3] for v in value]
    for day in days:
        if day not in WEEKDAYS:
            raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(d) for d in days)


def _days_of_month(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 31 for v in value
    ):
        raise ValueError("must be an array of days 1 to 31")
    return frozenset(value)
