"""config.toml: loading, validation and defaults (design.md section 3).

`load` reads the file with tomllib and checks every field, collecting every problem as
one line of the form `config.toml: integrations[2].breaker.window: must be >= min_calls
(got 3)`, so `breakerwatch check` can print them all at once. Unknown keys are errors
(with a suggestion when one is close); durations are `"250ms"`, `"30s"`, `"5m"`, `"1h"`
(or combined, `"1m30s"`) or numbers of seconds; secrets must be references
(`env:`, `file:`, `credential:`) and are resolved here, so a missing variable or file is
a config error too. Nothing here does any other I/O.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.alertmanager import RESERVED_LABELS
from alerts.model import AlertSettings
from alerts.silences import ALL, WEEKDAYS, MaintenanceWindow
from alerts.sinks.slack import SLACK_API
from daemon.sharding import ENVIRONMENT, EVERYTHING, Shard, parse_shard
from probes import BreakerConfig, InvalidSetting, RetryPolicy
from probes.adapters import KINDS, BodyAssertion
from probes.adapters.mailchimp import datacenter
from probes.redact import is_sensitive_header
from probes.secrets import Secret, SecretError, is_reference, resolve

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "IntegrationConfig",
    "load",
    "parse",
    "parse_duration",
    "parse_listen",
]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SECRET_FIELD = {"convertkit": "api_key", "hubspot": "token", "mailchimp": "api_key",
                 "sendgrid": "api_key"}  # fmt: skip
_BREAKER_DURATIONS = {"reset_timeout", "max_reset_timeout", "slow_call_threshold"}
_RETRY_DURATIONS = {"base_delay", "max_delay"}
_BREAKER_KEYS = {
    "failure_threshold", "reset_timeout", "max_reset_timeout", "backoff_multiplier",
    "success_threshold", "half_open_permits", "failure_rate_threshold", "window", "min_calls",
    "slow_call_threshold",
}  # fmt: skip
_RETRY_KEYS = {"max_attempts", "base_delay", "max_delay", "backoff_factor", "jitter"}


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def parse_duration(value: object) -> float:
    """Seconds from `"30s"`, `"5m"`, `"1h30m"`, `"250ms"` or a number; ValueError if not one."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ValueError("must be a duration >= 0")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError('must be a duration such as "30s", "5m" or "1h"')
    text, total, position = value.strip(), 0.0, 0
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            raise ValueError('must be a duration such as "30s", "5m" or "1h"')
        total += float(part[1]) * _UNIT_SECONDS[part[2]]
        position = part.end()
    return total


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` -> (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (a port is 0 to 65535)")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class DaemonConfig:
    listen: tuple[str, int] = ("127.0.0.1", 9478)
    state_dir: Path = Path(".breakerwatch")
    log_format: str = "text"
    log_level: str = "info"
    shard: Shard = EVERYTHING  # which integrations this replica probes (docs/scaling.md)


@dataclass(frozen=True)
class IntegrationConfig:
    """One integration, with defaults applied and secrets resolved."""

    name: str
    kind: str
    interval: float
    timeout: float
    breaker: BreakerConfig
    retry: RetryPolicy
    egress: bool = False
    # Keyword arguments for the adapter: credential, base_url, or the http probe's fields.
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        """The time budget of one probe, retries included: always below the interval."""
        retry = self.retry
        worst = self.timeout * retry.max_attempts + retry.max_delay * (retry.max_attempts - 1)
        return min(worst, self.interval * 0.8)


@dataclass(frozen=True)
class SlackConfig:
    """`[alerts.slack]`: a bot token (edits and threads) or an incoming webhook."""

    token: Secret | None
    webhook_url: Secret | None
    channel: str
    base_url: str


@dataclass(frozen=True)
class AlertmanagerConfig:
    """`[alerts.alertmanager]`: every Alertmanager of a cluster, each sent every alert."""

    urls: tuple[str, ...]
    resend_interval: float = 30.0
    timeout: float = 10.0
    labels: tuple[tuple[str, str], ...] = ()  # extra labels on every alert
    ha: bool = False  # other replicas send the same alerts: resolve by expiry, not at close


@dataclass(frozen=True)
class AlertsConfig:
    settings: AlertSettings
    console: bool = False
    slack: SlackConfig | None = None
    maintenance: tuple[MaintenanceWindow, ...] = ()
    alertmanager: AlertmanagerConfig | None = None

    def secrets(self) -> list[Secret]:
        slack = self.slack
        return [s for s in (slack.token, slack.webhook_url) if s is not None] if slack else []


@dataclass(frozen=True)
class Config:
    source: Path
    daemon: DaemonConfig
    integrations: tuple[IntegrationConfig, ...]
    alerts: AlertsConfig | None = None  # None: no [alerts] table, nothing is sent


def load(
    path: Path,
    *,
    environ: Mapping[str, str],
    credentials_directory: str | None = None,
) -> Config:
    """Read and validate `path`; raises `ConfigError` listing every problem."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{label}: no such file; write one with `breakerwatch init`"]) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError([f"{label}: cannot be read ({reason})"]) from None
    return parse(text, path, environ=environ, credentials_directory=credentials_directory)


def parse(
    text: str,
    path: Path,
    *,
    environ: Mapping[str, str],
    credentials_directory: str | None = None,
) -> Config:
    """Validate TOML `text` as the config file at `path` (relative paths resolve from it)."""
    label = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{label}: not valid TOML: {error}"]) from None
    errors: list[str] = []
    reader = _Reader(label, errors, environ, credentials_directory)
    top = _Table(document, "", reader)
    daemon = _daemon(top.table("daemon"), reader, path, environ)
    defaults = top.table("defaults")
    integrations = _integrations(top.array("integrations"), defaults, reader)
    alerts = None
    if top.has("alerts"):
        names = {i.name for i in integrations}
        alerts = _alerts(top.table("alerts"), reader, names)
    defaults.finish()
    top.finish()
    if errors:
        raise ConfigError(errors)
    return Config(path, daemon, integrations, alerts)


# -- readers ------------------------------------------------------------------------------


@dataclass
class _Reader:
    label: str
    errors: list[str]
    environ: Mapping[str, str]
    credentials_directory: str | None
    shared: dict[Any, Any] = field(default_factory=dict)

    def intern(self, value: Any) -> Any:
        """One object for equal frozen settings: 10,000 integrations, a handful of configs."""
        return self.shared.setdefault(value, value)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.label}: {path}: {message}")

    def problems(
        self,
        path: str,
        found: list[InvalidSetting],
        skip: list[InvalidSetting] = (),  # type: ignore[assignment]
    ) -> None:
        """Report range problems of a [breaker] or [retry] table, except those in `skip`."""
        known = {str(problem) for problem in skip}
        for problem in found:
            if str(problem) not in known:
                self.errors.append(f"{self.label}: {path}.{problem}")

    def secret(self, path: str, value: object) -> Secret | None:
        if not isinstance(value, str):
            self.error(path, f"must be a secret reference such as env:NAME (got {value!r})")
            return None
        try:
            return resolve(
                value, environ=self.environ, credentials_directory=self.credentials_directory
            )
        except SecretError as error:
            self.error(path, str(error))
            return None


class _Table:
    """A TOML table being read: tracks its path and which keys were used."""

    def __init__(self, data: object, path: str, reader: _Reader) -> None:
        self.path = path
        self.reader = reader
        self.used: set[str] = set()
        if data is not None and not isinstance(data, dict):
            reader.error(path, f"must be a table (got {_kind(data)})")
            data = {}
        self.data: dict[str, Any] = data or {}

    def at(self, key: str) -> str:
        if not _BARE_KEY.fullmatch(key):  # quoted as TOML would, so a message stays one line
            key = json.dumps(key)
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def table(self, key: str) -> _Table:
        return _Table(self.take(key), self.at(key), self.reader)

    def array(self, key: str) -> list[_Table]:
        value = self.take(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.reader.error(self.at(key), f"must be an array of tables (got {_kind(value)})")
            return []
        return [_Table(item, f"{self.at(key)}[{i}]", self.reader) for i, item in enumerate(value)]

    def value(self, key: str, check: Callable[[Any], Any], default: Any) -> Any:
        """The converted value of `key` (or `default`); records the error if `check` fails."""
        if key not in self.data:
            self.used.add(key)
            return default
        raw = self.take(key)
        try:
            return check(raw)
        except (TypeError, ValueError) as error:
            self.reader.error(self.at(key), f"{error} (got {raw!r})")
            return default

    def finish(self, allowed: set[str] | None = None) -> None:
        """Report unknown keys (with a suggestion when one is close)."""
        known = self.used if allowed is None else allowed | self.used
        for key in self.data:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.reader.error(self.at(key), f"unknown key{hint}")


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _string(choices: tuple[str, ...] | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        if choices is not None and value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be a duration > 0")
    return seconds


# -- sections -----------------------------------------------------------------------------


def _daemon(table: _Table, reader: _Reader, path: Path, environ: Mapping[str, str]) -> DaemonConfig:
    default = DaemonConfig()
    listen = table.value("listen", lambda v: parse_listen(_string()(v)), default.listen)
    state_dir = Path(table.value("state_dir", _string(), str(default.state_dir)))
    if environ.get("STATE_DIRECTORY"):  # systemd's StateDirectory= wins
        state_dir = Path(environ["STATE_DIRECTORY"].split(":")[0])
    elif not state_dir.is_absolute():
        state_dir = path.parent / state_dir
    log_format = table.value("log_format", _string(("text", "json")), default.log_format)
    levels = ("debug", "info", "warning", "error")
    log_level = table.value("log_level", _string(levels), default.log_level)
    shard = table.value("shard", lambda v: parse_shard(_string()(v)), default.shard)
    if ENVIRONMENT in environ:  # a systemd template or a StatefulSet sets it per replica
        try:
            shard = parse_shard(environ[ENVIRONMENT])
        except ValueError as error:
            reader.error(f"${ENVIRONMENT}", f"{error} (got {environ[ENVIRONMENT]!r})")
    table.finish()
    return DaemonConfig(listen, state_dir, log_format, log_level, shard)


def _settings_table(
    table: _Table, keys: set[str], durations: set[str], inherited: Mapping[str, Any]
) -> dict[str, Any]:
    """Known keys of a [breaker] or [retry] table, durations parsed, over `inherited`."""
    values = dict(inherited)
    for key in sorted(keys & set(table.data)):
        values[key] = table.value(key, parse_duration if key in durations else (lambda v: v), None)
        if values[key] is None:
            values.pop(key)
    table.finish(keys)
    return values


def _integrations(
    tables: list[_Table], defaults: _Table, reader: _Reader
) -> tuple[IntegrationConfig, ...]:
    interval = defaults.value("interval", _positive_duration, 30.0)
    timeout = defaults.value("timeout", _positive_duration, 10.0)
    breaker = _settings_table(defaults.table("breaker"), _BREAKER_KEYS, _BREAKER_DURATIONS, {})
    retry = _settings_table(defaults.table("retry"), _RETRY_KEYS, _RETRY_DURATIONS, {})
    reader.problems(defaults.at("breaker"), BreakerConfig.problems(**breaker))
    reader.problems(defaults.at("retry"), RetryPolicy.problems(**retry))
    built: list[IntegrationConfig] = []
    names: set[str] = set()
    for table in tables:
        integration = _integration(table, reader, interval, timeout, breaker, retry)
        name = table.data.get("name")
        if isinstance(name, str):  # even when the integration is invalid otherwise
            if name in names:
                reader.error(table.at("name"), f"{name!r} is used by another integration")
            names.add(name)
        if integration is not None:
            built.append(integration)
    return tuple(built)


def _integration(
    table: _Table,
    reader: _Reader,
    interval: float,
    timeout: float,
    breaker_defaults: Mapping[str, Any],
    retry_defaults: Mapping[str, Any],
) -> IntegrationConfig | None:
    count = len(reader.errors)
    name = table.value("name", _name, None)
    if name is None and not table.has("name"):
        reader.error(table.at("name"), "is required")
    kind = table.value("kind", _string(tuple(KINDS)), None)
    if kind is None and not table.has("kind"):
        reader.error(table.at("kind"), f"is required: one of {', '.join(KINDS)}")
    own_interval = table.value("interval", _positive_duration, interval)
    own_timeout = table.value("timeout", _positive_duration, timeout)
    if own_timeout >= own_interval:
        reader.error(
            table.at("timeout"), f"must be < interval ({own_interval:g}s) (got {own_timeout:g}s)"
        )
    breaker_values = _settings_table(
        table.table("breaker"), _BREAKER_KEYS, _BREAKER_DURATIONS, breaker_defaults
    )
    retry_values = _settings_table(
        table.table("retry"), _RETRY_KEYS, _RETRY_DURATIONS, retry_defaults
    )
    # A problem [defaults] already has was reported there, once, not for every integration.
    reader.problems(
        table.at("breaker"),
        BreakerConfig.problems(**breaker_values),
        skip=BreakerConfig.problems(**breaker_defaults),
    )
    reader.problems(
        table.at("retry"),
        RetryPolicy.problems(**retry_values),
        skip=RetryPolicy.problems(**retry_defaults),
    )
    egress = table.value("egress", _boolean, False)
    settings = _kind_settings(table, kind, reader) if kind else {}
    table.finish()
    if len(reader.errors) > count or name is None or kind is None:
        return None
    if BreakerConfig.problems(**breaker_values) or RetryPolicy.problems(**retry_values):
        return None  # a problem of [defaults], reported there once
    return IntegrationConfig(
        name=name,
        kind=kind,
        interval=own_interval,
        timeout=own_timeout,
        breaker=reader.intern(BreakerConfig(**breaker_values)),
        retry=reader.intern(RetryPolicy(**retry_values)),
        egress=egress,
        settings=settings,
    )


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError(
            "must be lower-case letters, digits, _ and -, starting with a letter or digit "
            "(it is the metrics label)"
        )
    return value


def _kind_settings(table: _Table, kind: str, reader: _Reader) -> dict[str, Any]:
    if kind == "http":
        return _http_settings(table, reader)
    settings: dict[str, Any] = {}
    secret_field = _SECRET_FIELD[kind]
    if not table.has(secret_field):
        reader.error(table.at(secret_field), "is required (a reference such as env:NAME)")
    else:
        secret = reader.secret(table.at(secret_field), table.take(secret_field))
        if secret is not None:
            if kind == "mailchimp" and datacenter(secret.reveal()) is None:
                reader.error(
                    table.at(secret_field),
                    "the key has no data-centre suffix; a Mailchimp key ends in -<dc>, "
                    "such as -us21",
                )
            settings["credential"] = secret
    base_url = table.value("base_url", _url, None)
    if base_url is not None:
        settings["base_url"] = base_url
    return settings


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a URL string")
    if not re.match(r"https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _http_settings(table: _Table, reader: _Reader) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if not table.has("url"):
        reader.error(table.at("url"), "is required for kind http")
    else:
        settings["url"] = table.value("url", _url, None)
    settings["method"] = table.value("method", _method, "GET")
    settings["expect_status"] = table.value("expect_status", _statuses, (200,))
    settings["body"] = table.value("body", _string(), None)
    max_latency = table.value("max_latency", _positive_duration, None)
    if max_latency is not None:
        settings["max_latency"] = max_latency
    tls_min_days = table.value("tls_min_days", _positive_number, None)
    if tls_min_days is not None:
        settings["tls_min_days"] = tls_min_days
    headers = table.table("headers")
    values: dict[str, Any] = {}
    for name, raw in headers.data.items():
        headers.take(name)
        where = headers.at(name)
        if not isinstance(raw, str):
            reader.error(where, f"must be a string (got {raw!r})")
        elif is_reference(raw):
            values[name] = reader.secret(where, raw)
        elif is_sensitive_header(name):
            reader.secret(where, raw)  # reports the inline secret, and how to reference it
        else:
            values[name] = raw
    settings["headers"] = values
    assertions = []
    for item in table.array("assertions"):
        assertion = _assertion(item, reader)
        if assertion is not None:
            assertions.append(assertion)
    settings["assertions"] = tuple(assertions)
    return {k: v for k, v in settings.items() if v is not None}


def _method(value: Any) -> str:
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return _string(methods)(value.upper() if isinstance(value, str) else value)


def _statuses(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError("must be a non-empty array of status codes")
    for status in value:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("each status must be a whole number from 100 to 599")
    return tuple(value)


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("must be a number > 0")
    return float(value)


def _assertion(table: _Table, reader: _Reader) -> BodyAssertion | None:
    fields = {key: table.take(key) for key in ("contains", "json_path", "equals", "exists")}
    table.finish()
    try:
        return BodyAssertion(**{k: v for k, v in fields.items() if v is not None})
    except (TypeError, ValueError) as error:
        reader.error(table.path, str(error))
        return None


# -- [alerts] -----------------------------------------------------------------------------

_NOTIFY_ON = ("open", "close", "half_open")


def _alerts(table: _Table, reader: _Reader, names: set[str]) -> AlertsConfig:
    default = AlertSettings()
    notify_on = table.value("notify_on", _notify_on, default.notify_on)
    flap_window = table.value("flap_window", _positive_duration, default.flap_window)
    flap_max = table.value("flap_max_transitions", _whole(2), default.flap_max_transitions)
    storm_window = table.value("storm_window", _positive_duration, default.storm_window)
    storm_min = table.value("storm_min_integrations", _whole(2), default.storm_min_integrations)
    repeat = table.value("repeat_interval", _repeat, default.repeat_interval)
    throttled = table.value("throttled_after", _positive_duration, default.throttled_after)
    dashboard = table.value("dashboard_url", _url, None)
    console = table.value("console", _boolean, False)
    slack = _slack(table.table("slack"), reader) if table.has("slack") else None
    alertmanager = _alertmanager(table.table("alertmanager")) if table.has("alertmanager") else None
    windows = tuple(
        w for w in (_window(item, reader, names) for item in table.array("maintenance")) if w
    )
    table.finish()
    settings = AlertSettings(
        notify_on=notify_on, flap_window=flap_window, flap_max_transitions=flap_max,
        storm_window=storm_window, storm_min_integrations=storm_min, repeat_interval=repeat,
        throttled_after=throttled, dashboard_url=dashboard,
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


def _whole(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("must be a whole number")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return check


def _repeat(value: Any) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < 60:
        raise ValueError('must be 0 (no reminders) or at least "1m"')
    return seconds


def _slack(table: _Table, reader: _Reader) -> SlackConfig | None:
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
    channel = table.value("channel", _string(), "")
    if table.has("token") and not channel:
        reader.error(table.at("channel"), 'is required with a bot token (such as "#integrations")')
    base_url = table.value("base_url", _url, SLACK_API)
    table.finish()
    if len(reader.errors) > count:
        return None
    return SlackConfig(token, webhook, channel, base_url)


def _alertmanager(table: _Table) -> AlertmanagerConfig:
    urls = table.value("urls", _urls, ())
    if not table.has("urls"):
        table.reader.error(table.at("urls"), 'is required: ["http://alertmanager-1:9093", ...]')
    default = AlertmanagerConfig(())
    resend = table.value("resend_interval", _positive_duration, default.resend_interval)
    timeout = table.value("timeout", _positive_duration, default.timeout)
    labels = table.value("labels", _labels, default.labels)
    ha = table.value("ha", _boolean, default.ha)
    table.finish()
    return AlertmanagerConfig(tuple(urls), resend, timeout, labels, ha)


def _urls(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError("must be a non-empty array of Alertmanager URLs (every one of a cluster)")
    urls = tuple(_url(v) for v in value)
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


def _window(table: _Table, reader: _Reader, names: set[str]) -> MaintenanceWindow | None:
    count = len(reader.errors)
    integrations = table.value("integrations", _string_list, [ALL])
    for name in integrations:
        if name != ALL and name not in names:
            reader.error(table.at("integrations"), f"no integration is named {name!r}")
    zone = table.value("timezone", _timezone, None)
    if zone is None and not table.has("timezone"):
        reader.error(table.at("timezone"), 'is required: an IANA name such as "Europe/Berlin"')
    start = table.value("start", _clock_time, None)
    end = table.value("end", _clock_time, None)
    for key, found in (("start", start), ("end", end)):
        if found is None and not table.has(key):
            reader.error(table.at(key), 'is required: a local time such as "02:00"')
    weekdays = table.value("weekdays", _weekdays, frozenset())
    days = table.value("days_of_month", _days_of_month, frozenset())
    reason = table.value("reason", _string(), "maintenance window")
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


def _timezone(value: Any) -> str:
    name = _string()(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError('is not an IANA time zone such as "Europe/Berlin" or "UTC"') from None
    return name


def _clock_time(value: Any) -> time:
    text = _string()(value)
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
