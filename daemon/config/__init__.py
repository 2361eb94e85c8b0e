"""config.toml: loading, validation and defaults.

`load` reads the file with tomllib and checks every field, collecting every problem as
one line of the form `config.toml: integrations[2].breaker.window: must be >= min_calls
(got 3)`, so `breakerwatch check` can print them all at once. Unknown keys are errors
(with a suggestion when one is close); durations are `"250ms"`, `"30s"`, `"5m"`, `"1h"`
(or combined, `"1m30s"`) or numbers of seconds; secrets must be references
(`env:`, `file:`, `credential:`) and are resolved here, so a missing variable or file is
a config error too. Nothing here does any other I/O. Every key is in
docs/configuration.md.

The package: `model` (what a read file is), `_reader` (walking tables, collecting
problems), and one module per part of the file: `_daemon`, `_integrations`, `_alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from daemon.config._alerts import alerts_table
from daemon.config._daemon import daemon_table
from daemon.config._integrations import integrations_tables
from daemon.config._reader import Reader, Table, document
from daemon.config.model import (
    AlertmanagerConfig,
    AlertsConfig,
    CanarySettings,
    Config,
    ConfigError,
    DaemonConfig,
    HttpSettings,
    IntegrationConfig,
    OAuthSettings,
    SlackConfig,
    TlsConfig,
    VendorSettings,
    format_address,
    format_duration,
    is_loopback,
    local_url,
    parse_duration,
    parse_listen,
)
from probes.proxy import Proxies

__all__ = [
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
    "load",
    "load_daemon",
    "local_url",
    "parse",
    "parse_duration",
    "parse_listen",
]


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
    errors: list[str] = []
    reader = Reader(str(path), errors, environ, credentials_directory)
    top = Table(document(text, path), "", reader)
    daemon = daemon_table(top.table("daemon"), reader, path, environ)
    defaults = top.table("defaults")
    integrations = integrations_tables(top.array("integrations"), defaults, reader)
    alerts = None
    if top.has("alerts"):
        names = {i.name for i in integrations}
        alerts = alerts_table(top.table("alerts"), reader, names)
    defaults.finish()
    top.finish()
    proxies = Proxies.from_environ(environ)
    for variable, problem in proxies.problems():
        reader.error(f"${variable}", problem)
    if errors:
        raise ConfigError(errors)
    return Config(path, daemon, integrations, alerts, proxies)


def load_daemon(path: Path, *, environ: Mapping[str, str]) -> DaemonConfig:
    """Only `[daemon]` of the file at `path` (what the CLI needs to reach a running daemon:
    its address, TLS and admin token); the rest of the file is not looked at."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ConfigError([f"{path}: cannot be read"]) from None
    errors: list[str] = []
    reader = Reader(str(path), errors, environ, None)
    table = Table(document(text, path).get("daemon"), "daemon", reader)
    daemon = daemon_table(table, reader, path, environ)
    if errors:
        raise ConfigError(errors)
    return daemon
