"""What config.toml says, once read: the types, and the small parsers of its values."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from alerts.model import AlertSettings
from alerts.silences import MaintenanceWindow
from daemon.degraded import DegradedSettings
from daemon.sharding import EVERYTHING, Shard
from probes import BreakerConfig, RetryPolicy
from probes.adapters import BodyAssertion
from probes.proxy import Proxies
from probes.secrets import Secret

__all__ = [
    "DEFAULT_FRESH",
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "INT64",
    "NAME",
    "AlertmanagerConfig",
    "AlertsConfig",
    "CanarySettings",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "HttpSettings",
    "IntegrationConfig",
    "OAuthSettings",
    "SlackConfig",
    "TlsConfig",
    "VendorSettings",
    "format_address",
    "format_duration",
    "is_loopback",
    "local_url",
    "parse_duration",
    "parse_listen",
]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

MAX_DURATION = 3650 * 86400.0  # ten years: no duration of ours is longer

DEFAULT_INTERVAL = 30.0  # seconds between probes, unless [defaults] says otherwise
DEFAULT_TIMEOUT = 10.0  # seconds for one attempt
# Seconds between an integration's new connections (its DNS lookup, TCP and TLS handshake);
# probes between them may reuse a pooled connection (docs/configuration.md).
DEFAULT_FRESH = 300.0
INT64 = 2**63  # TOML integers are 64-bit (toml.io, v1.0.0, "Integer")


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
        total = float(value) if abs(value) < INT64 else math.inf
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


def format_duration(seconds: float) -> str:
    """`parse_duration`'s inverse for round numbers: `"30s"`, `"15m"`, `"7d"`, `"1.5s"`."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


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
    ca_file: Path | None = None  # added to the system's trust store for every outbound call
    status_page_interval: float = 300.0  # between reads of a vendor's status page, all well
    status_page_interval_open: float = 60.0  # while the integration's breaker is open
    scope_check_interval: float = 3600.0  # between asks of what each credential may do
    history_retention: float = 400 * 86400.0  # transitions older than this are pruned
    report_timezone: str = "UTC"  # where a month begins and ends, for availability reports
    status_page: str = "full"  # the page at /: "full", "public" (no error texts) or "off"

    @property
    def loopback(self) -> bool:
        """Whether only this host can reach the endpoints."""
        return is_loopback(self.listen[0])


@dataclass(frozen=True)
class CanarySettings:
    """`canary = {...}`: the vendor's idempotent write with a dedicated identity, on a
    schedule, read back (probes.adapters.VendorAdapter.canary)."""

    email: str
    interval: float = 900.0
    list_id: str | None = None  # Mailchimp's audience
    form_id: str | None = None  # Kit's
    tag_id: str | None = None  # Kit's


@dataclass(frozen=True)
class OAuthSettings:
    """`oauth = {...}`: access tokens refreshed from a refresh token (probes.oauth)."""

    client_id: str
    refresh_token: Secret
    token_url: str
    client_secret: Secret | None = None

    def secrets(self) -> list[Secret]:
        return [self.refresh_token, *([self.client_secret] if self.client_secret else [])]


@dataclass(frozen=True)
class VendorSettings:
    """A vendor's integration: its credential (or OAuth), and another API root if given."""

    credential: Secret | None
    base_url: str | None = None
    oauth: OAuthSettings | None = None

    def secrets(self) -> list[Secret]:
        own = [self.credential] if self.credential else []
        return own + (self.oauth.secrets() if self.oauth else [])


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """An `http` integration's probe (probes.adapters.HttpEndpointAdapter's arguments)."""

    url: str
    method: str = "GET"
    expect_status: tuple[int, ...] = (200,)
    body: str | None = None
    headers: Mapping[str, str | Secret] = field(default_factory=dict)
    assertions: tuple[BodyAssertion, ...] = ()
    max_latency: float | None = None
    tls_min_days: float | None = None

    def secrets(self) -> list[Secret]:
        return [value for value in self.headers.values() if isinstance(value, Secret)]


@dataclass(frozen=True, slots=True)
class IntegrationConfig:
    """One integration, with defaults applied and secrets resolved."""

    name: str
    kind: str
    interval: float
    timeout: float
    breaker: BreakerConfig
    retry: RetryPolicy
    settings: VendorSettings | HttpSettings
    egress: bool = False
    # None: the environment's proxy rule; False: directly; else this proxy (docs/configuration.md)
    proxy: str | Secret | Literal[False] | None = None
    status_page: str | None = None  # the vendor's Statuspage page, read for its incidents
    status_components: tuple[str, ...] = ()  # only these of its components concern us
    depends_on: tuple[str, ...] = ()  # the integrations it cannot work without, as written
    parents: tuple[str, ...] = ()  # depends_on, transitively, nearest first
    gate: bool = False  # other integrations depend on it
    scopes: tuple[str, ...] = ()  # what the credential must be allowed, checked with the vendor
    degraded: DegradedSettings = field(default_factory=DegradedSettings)  # slow but working
    canary: CanarySettings | None = None  # canary writes, when asked for
    sla: float | None = None  # the vendor's contractual monthly availability, in percent
    fresh_connection: float = DEFAULT_FRESH  # seconds between its new connections

    @property
    def everywhere(self) -> bool:
        """Whether every shard probes it: an egress canary, or a parent of others."""
        return self.egress or self.gate

    def proxy_url(self) -> str | Literal[False] | None:
        """The integration's own proxy choice, its secret revealed."""
        return self.proxy.reveal() if isinstance(self.proxy, Secret) else self.proxy

    def secrets(self) -> list[Secret]:
        own = [self.proxy] if isinstance(self.proxy, Secret) else []
        return own + self.settings.secrets()

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
    identity: str = ""  # the daemon's name in every message's stamp ("": host and state dir)
    settle: float = 30.0  # after an interrupted send, how long Slack gets before we look


@dataclass(frozen=True)
class ClientTls:
    """`[alerts.alertmanager.tls]`: a client certificate to show, and a CA to trust."""

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None  # added to the trust store, for this target only


@dataclass(frozen=True)
class AlertmanagerConfig:
    """`[alerts.alertmanager]`: every Alertmanager of a cluster, each sent every alert, with
    the credentials Prometheus's `alertmanager_config` offers (basic auth or a bearer
    token, and client TLS)."""

    urls: tuple[str, ...]
    resend_interval: float = 30.0
    timeout: float = 10.0
    labels: tuple[tuple[str, str], ...] = ()  # extra labels on every alert
    ha: bool = False  # other replicas send the same alerts: resolve by expiry, not at close
    basic_auth: tuple[str, Secret] | None = None  # username, password
    bearer_token: Secret | None = None
    tls: ClientTls | None = None

    def secrets(self) -> list[Secret]:
        found = [self.basic_auth[1]] if self.basic_auth else []
        return found + ([self.bearer_token] if self.bearer_token else [])


@dataclass(frozen=True)
class AlertsConfig:
    settings: AlertSettings
    console: bool = False
    slack: SlackConfig | None = None
    maintenance: tuple[MaintenanceWindow, ...] = ()
    alertmanager: AlertmanagerConfig | None = None

    def secrets(self) -> list[Secret]:
        slack = self.slack
        found = [s for s in (slack.token, slack.webhook_url) if s is not None] if slack else []
        return found + (self.alertmanager.secrets() if self.alertmanager else [])


@dataclass(frozen=True)
class Config:
    source: Path
    daemon: DaemonConfig
    integrations: tuple[IntegrationConfig, ...]
    alerts: AlertsConfig | None = None  # None: no [alerts] table, nothing is sent
    proxies: Proxies = field(default_factory=Proxies)  # the environment's, read with the file

    def secrets(self) -> list[Secret]:
        """Every secret the file (or a proxy variable) references: what the log redacts."""
        found = [token for _, token in self.daemon.admin_tokens]
        found += [Secret(password, "proxy password") for password in self.proxies.passwords()]
        for integration in self.integrations:
            found += integration.secrets()
        return found + (self.alerts.secrets() if self.alerts is not None else [])
