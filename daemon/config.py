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
import ipaddress
import json
import math
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
    "TlsConfig",
    "format_address",
    "is_loopback",
    "load",
    "load_daemon",
    "local_url",
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
MAX_DURATION = 3650 * 86400.0  # ten years: no duration of ours is longer
_INT64 = 2**63  # TOML integers are 64-bit (toml.io, v1.0.0, "Integer")
_BCRYPT = re.compile(r"\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
MIN_TOKEN_LENGTH = 16
CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
TLS_VERSIONS = ("TLS12", "TLS13")


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def parse_duration(value: object) -> float:
    """Seconds from `"30s"`, `"5m"`, `"1h30m"`, `"250ms"` or a number; ValueError if not one."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        if not value >= 0:  # also NaN
            raise ValueError("must be a duration >= 0")
        total = float(value) if abs(value) < _INT64 else math.inf
    elif not isinstance(value, str) or not value.strip():
        raise ValueError('must be a duration such as "30s", "5m" or "1h"')
    else:
        text, total, position = value.strip(), 0.0, 0
        while position < len(text):
            part = _DURATION_PART.match(text, position)
            if part is None:
                raise ValueError('must be a duration such as "30s", "5m" or "1h"')
            total += float(part[1]) * _UNIT_SECONDS[part[2]]
            position = part.end()
    if total > MAX_DURATION:
        raise ValueError("must be a duration of at most 3650d")
    return total


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPV6]:PORT`, `:PORT` or `PORT` -> (host, port). The host is an IP
    address (`0.0.0.0` or `::` for every interface) or `localhost` (127.0.0.1); ValueError
    says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (a port is 0 to 65535)")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    if host in ("", "localhost"):
        return "127.0.0.1", int(port)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{text!r}: listen on an IP address (127.0.0.1, ::1, 0.0.0.0 or :: for every "
            "interface) or localhost, not a host name"
        ) from None
    if address.version == 6 and not bracketed:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, such as [::1]:9478")
    return str(address), int(port)


def format_address(host: str, port: int) -> str:
    """`HOST:PORT`, with an IPv6 host in brackets (as in a URL)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_url(config: DaemonConfig) -> str:
    """The URL a command on this host reaches the daemon at (a wildcard listen address
    answers on loopback too)."""
    host, port = config.listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    scheme = "https" if config.tls is not None else "http"
    return f"{scheme}://{format_address(host, port or 9478)}"


def is_loopback(host: str) -> bool:
    """Whether a listen host (an IP address, as `parse_listen` gives) is loopback only."""
    return ipaddress.ip_address(host).is_loopback


@dataclass(frozen=True)
class TlsConfig:
    """`[daemon.tls]`: HTTPS for every endpoint, as Prometheus's exporter web config."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"


@dataclass(frozen=True)
class DaemonConfig:
    listen: tuple[str, int] = ("127.0.0.1", 9478)
    state_dir: Path = Path(".breakerwatch")
    log_format: str = "text"
    log_level: str = "info"
    shard: Shard = EVERYTHING  # which integrations this replica probes (docs/scaling.md)
    # Who may change things (docs/operations.md, "Security model"): label -> bearer token.
    admin_tokens: tuple[tuple[str, Secret], ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # beyond the loopback names, IP addresses, the host
    max_connections: int = 512  # open HTTP connections; more wait to be accepted
    tls: TlsConfig | None = None
    basic_auth_users: tuple[tuple[str, str], ...] = ()  # user -> bcrypt hash

    @property
    def loopback(self) -> bool:
        """Whether only this host can reach the endpoints."""
        return is_loopback(self.listen[0])


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

    def secrets(self) -> list[Secret]:
        """Every secret the file references: what the log redacts."""
        found = [token for _, token in self.daemon.admin_tokens]
        for integration in self.integrations:
            settings = integration.settings
            headers = settings.get("headers") or {}
            found += [v for v in (*settings.values(), *headers.values()) if isinstance(v, Secret)]
        return found + (self.alerts.secrets() if self.alerts is not None else [])


def load(
    path: Path,
    *,
    environ: Mapping[str, str],
    credentials_directory: str | None = None,
) -> Config:
    """Read and validate `path`; raises `ConfigError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file; write one with `breakerwatch init`"]) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError([f"{path}: cannot be read ({reason})"]) from None
    return parse(text, path, environ=environ, credentials_directory=credentials_directory)


def parse(
    text: str,
    path: Path,
    *,
    environ: Mapping[str, str],
    credentials_directory: str | None = None,
) -> Config:
    """Validate TOML `text` as the config file at `path` (relative paths resolve from it)."""
    document = _document(text, path)
    errors: list[str] = []
    reader = _Reader(str(path), errors, environ, credentials_directory)
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


def load_daemon(path: Path, *, environ: Mapping[str, str]) -> DaemonConfig:
    """Only `[daemon]` of the file at `path` (what the CLI needs to reach a running daemon:
    its address, TLS and admin token); the rest of the file is not looked at."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ConfigError([f"{path}: cannot be read"]) from None
    errors: list[str] = []
    reader = _Reader(str(path), errors, environ, None)
    daemon = _daemon(_Table(_document(text, path).get("daemon"), "daemon", reader), reader, path,
                     environ)  # fmt: skip
    if errors:
        raise ConfigError(errors)
    return daemon


def _document(text: str, path: Path) -> dict[str, Any]:
    """The TOML document, or ConfigError in one line: invalid TOML, nesting too deep for
    the parser, or an integer beyond TOML's 64 bits."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: arrays or tables nested too deep"]) from None
    big = _big_integer(document, "")
    if big is not None:
        raise ConfigError([f"{path}: {big}: an integer beyond TOML's 64 bits"])
    return document


def _big_integer(value: object, path: str) -> str | None:
    """The path of the first integer outside TOML's 64-bit range, if any."""
    children: Any
    if isinstance(value, dict):
        children = ((f"{path}.{key}" if path else key, item) for key, item in value.items())
    elif isinstance(value, list):
        children = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    else:
        return path if isinstance(value, int) and not -_INT64 <= value < _INT64 else None
    for where, child in children:
        found = _big_integer(child, where)
        if found is not None:
            return found
    return None


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


HOUR, DAY = 3600.0, 86400.0


def _duration(maximum: float) -> Callable[[Any], float]:
    """A duration > 0 and at most `maximum` seconds."""

    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be a duration > 0")
        if seconds > maximum:
            raise ValueError(f"must be at most {_seconds_text(maximum)}")
        return seconds

    return check


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", HOUR), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# -- sections -----------------------------------------------------------------------------

_INTERVAL = _duration(DAY)
_TIMEOUT = _duration(HOUR)


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
    tokens = _admin_tokens(table, reader)
    hosts = table.value("allowed_hosts", _host_patterns, default.allowed_hosts)
    connections = table.value("max_connections", _whole(1, 65536), default.max_connections)
    tls = _tls(table.table("tls"), reader, path) if table.has("tls") else None
    users = table.value("basic_auth_users", _users, default.basic_auth_users)
    table.finish()
    return DaemonConfig(
        listen, state_dir, log_format, log_level, shard, tokens, hosts, connections, tls, users
    )


def _admin_tokens(table: _Table, reader: _Reader) -> tuple[tuple[str, Secret], ...]:
    """`admin_token = "env:X"` (labelled "admin"), or `[daemon.admin_tokens]` of label =
    reference, one per person or system, so the log and Slack can name who acted."""
    named: dict[str, tuple[str, Any]] = {}
    if table.has("admin_token"):
        if table.has("admin_tokens"):
            reader.error(table.at("admin_tokens"), "set admin_token or admin_tokens, not both")
        named["admin"] = (table.at("admin_token"), table.take("admin_token"))
    elif table.has("admin_tokens"):
        labels = table.take("admin_tokens")
        if not isinstance(labels, dict) or not labels:
            reader.error(table.at("admin_tokens"), 'must be a table such as { alice = "env:X" }')
            return ()
        tokens = table.table("admin_tokens")
        named = {label: (tokens.at(label), reference) for label, reference in labels.items()}
    found = []
    for label, (where, reference) in named.items():
        if not NAME.fullmatch(label):
            reader.error(where, "a label is lower-case letters, digits, _ and -")
            continue
        token = reader.secret(where, reference)
        if token is not None and len(token.reveal()) < MIN_TOKEN_LENGTH:
            reader.error(
                where,
                f"{token.reference!r} is shorter than {MIN_TOKEN_LENGTH} characters; "
                "make one with `openssl rand -hex 32`",
            )
        elif token is not None:
            found.append((label, token))
    return tuple(found)


def _host_patterns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError('must be an array of host names, such as ["breakerwatch.internal"]')
    for pattern in value:
        name = pattern.removeprefix(".")
        if pattern != "*" and not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?", name):
            raise ValueError(
                f'{pattern!r} is not a host name (".example.com" takes every subdomain, '
                '"*" any host)'
            )
    return tuple(pattern.lower().rstrip(".") for pattern in value)


def _users(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise TypeError('must be a table of user = "bcrypt hash"')
    for user, hashed in value.items():
        if not user or ":" in user:
            raise ValueError(f"{user!r} is not a user name (no colon, not empty)")
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise ValueError(
                f"the password of {user!r} must be a bcrypt hash such as $2y$10$..., "
                "from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )
    return tuple(sorted(value.items()))


def _tls(table: _Table, reader: _Reader, path: Path) -> TlsConfig | None:
    """Paths only: `daemon.tls` loads the files, for `check` and at start-up alike."""
    count = len(reader.errors)
    files: dict[str, Path | None] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        if not table.has(name) and name != "client_ca_file":
            reader.error(table.at(name), "is required: a PEM file")
        files[name] = table.value(name, lambda v: _file(v, reader, path), None)
    auth = table.value("client_auth_type", _string(CLIENT_AUTH_TYPES), "NoClientCert")
    if auth != "NoClientCert" and files["client_ca_file"] is None:
        reader.error(table.at("client_ca_file"), f"is required with client_auth_type {auth}")
    version = table.value("min_version", _string(TLS_VERSIONS), "TLS12")
    table.finish()
    cert, key = files["cert_file"], files["key_file"]
    if len(reader.errors) > count or cert is None or key is None:
        return None
    return TlsConfig(cert, key, files["client_ca_file"], auth, version)


def _file(value: Any, reader: _Reader, path: Path) -> Path:
    """A file path (relative to the config file), or `credential:NAME` for a systemd
    credential, so a private key can be handed to a DynamicUser service."""
    text = _string()(value)
    if text.startswith("credential:"):
        name = text.removeprefix("credential:")
        directory = reader.credentials_directory or reader.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError("credential: needs $CREDENTIALS_DIRECTORY, which systemd sets")
        return Path(directory) / name
    if not text:
        raise ValueError("must be a file path")
    file = Path(text)
    return file if file.is_absolute() else path.parent / file


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
    interval = defaults.value("interval", _INTERVAL, 30.0)
    timeout = defaults.value("timeout", _TIMEOUT, 10.0)
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
    own_interval = table.value("interval", _INTERVAL, interval)
    own_timeout = table.value("timeout", _TIMEOUT, timeout)
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
    max_latency = table.value("max_latency", _TIMEOUT, None)
    if max_latency is not None:
        settings["max_latency"] = max_latency
    tls_min_days = table.value("tls_min_days", _days, None)
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


def _days(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3650:
        raise ValueError("must be a number of days > 0, at most 3650")
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
    flap_window = table.value("flap_window", _duration(DAY), default.flap_window)
    flap_max = table.value("flap_max_transitions", _whole(2, 1000), default.flap_max_transitions)
    storm_window = table.value("storm_window", _duration(HOUR), default.storm_window)
    storm_min = table.value(
        "storm_min_integrations", _whole(2, 100_000), default.storm_min_integrations
    )
    repeat = table.value("repeat_interval", _repeat, default.repeat_interval)
    throttled = table.value("throttled_after", _duration(30 * DAY), default.throttled_after)
    max_silence = table.value("max_silence", _duration(365 * DAY), default.max_silence)
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


def _whole(minimum: int, maximum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("must be a whole number")
        if not minimum <= value <= maximum:
            raise ValueError(f"must be from {minimum} to {maximum}")
        return value

    return check


def _repeat(value: Any) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < 60 or seconds > 30 * DAY:
        raise ValueError('must be 0 (no reminders), or from "1m" to "30d"')
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
    resend = table.value("resend_interval", _duration(HOUR), default.resend_interval)
    timeout = table.value("timeout", _TIMEOUT, default.timeout)
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
