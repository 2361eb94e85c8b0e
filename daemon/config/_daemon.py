"""`[daemon]`: where the daemon listens and keeps its state, how it logs, its shard, and
its control plane (admin tokens, allowed hosts, the connection cap, TLS, basic auth)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.config._reader import (
    DAY,
    Reader,
    Table,
    duration,
    file_path,
    string,
    timezone,
    whole,
)
from daemon.config.model import NAME, DaemonConfig, TlsConfig, parse_duration, parse_listen
from daemon.sharding import ENVIRONMENT, PORT_PER_SHARD, parse_shard
from probes.outbound import trust_problem
from probes.secrets import Secret

__all__ = ["CLIENT_AUTH_TYPES", "TLS_VERSIONS", "daemon_table"]

_BCRYPT = re.compile(r"\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")

MIN_TOKEN_LENGTH = 16

CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")

TLS_VERSIONS = ("TLS12", "TLS13")


def daemon_table(
    table: Table, reader: Reader, path: Path, environ: Mapping[str, str]
) -> DaemonConfig:
    """The `[daemon]` table of the file at `path` (relative paths resolve from it)."""
    default = DaemonConfig()
    listen = table.value("listen", lambda v: parse_listen(string()(v)), default.listen)
    state_dir = Path(table.value("state_dir", string(), str(default.state_dir)))
    if environ.get("STATE_DIRECTORY"):  # systemd's StateDirectory= wins
        state_dir = Path(environ["STATE_DIRECTORY"].split(":")[0])
    elif not state_dir.is_absolute():
        state_dir = path.parent / state_dir
    log_format = table.value("log_format", string(("text", "json")), default.log_format)
    levels = ("debug", "info", "warning", "error")
    log_level = table.value("log_level", string(levels), default.log_level)
    shard = table.value("shard", lambda v: parse_shard(string()(v)), default.shard)
    if ENVIRONMENT in environ:  # a systemd template or a StatefulSet sets it per replica
        try:
            shard = parse_shard(environ[ENVIRONMENT])
        except ValueError as error:
            reader.error(f"${ENVIRONMENT}", f"{error} (got {environ[ENVIRONMENT]!r})")
    if environ.get(PORT_PER_SHARD) == "1" and listen[1] != 0:  # 0: any free port, as it was
        listen = (listen[0], listen[1] + shard.index)
        if listen[1] > 65535:
            reader.error(table.at("listen"), f"plus the shard's index ({shard.index}) is past "
                                             "port 65535: choose a lower port")  # fmt: skip
    tokens = _admin_tokens(table, reader)
    hosts = table.value("allowed_hosts", _host_patterns, default.allowed_hosts)
    connections = table.value("max_connections", whole(1, 65536), default.max_connections)
    tls = _tls(table.table("tls"), reader, path) if table.has("tls") else None
    users = table.value("basic_auth_users", _users, default.basic_auth_users)
    ca_file = _ca_file(table, reader, path)
    quiet = table.value("status_page_interval", duration(DAY), default.status_page_interval)
    watchful = table.value("status_page_interval_open", duration(DAY),
                           default.status_page_interval_open)  # fmt: skip
    scopes = table.value("scope_check_interval", duration(DAY), default.scope_check_interval)
    retention = table.value("history_retention", _retention, default.history_retention)
    zone = table.value("report_timezone", timezone, default.report_timezone)
    page = table.value("status_page", string(("full", "public", "off")), default.status_page)
    table.finish()
    return DaemonConfig(
        listen, state_dir, log_format, log_level, shard, tokens, hosts, connections, tls, users,
        ca_file, quiet, watchful, scopes, retention, zone, page,
    )  # fmt: skip


def _retention(value: Any) -> float:
    seconds = parse_duration(value)
    if not DAY <= seconds <= 3650 * DAY:
        raise ValueError('must be a duration from 1d to 3650d (such as "400d")')
    return seconds


def _ca_file(table: Table, reader: Reader, path: Path) -> Path | None:
    """`ca_file`: PEM certificates added to the system's trust store (relative to the file)."""
    given: str | None = table.value("ca_file", string(), None)
    if given is None:
        return None
    ca_file = path.parent / given  # an absolute `given` stays as it is
    problem = trust_problem(ca_file)
    if problem is not None:
        reader.error(table.at("ca_file"), problem)
        return None
    return ca_file


def _admin_tokens(table: Table, reader: Reader) -> tuple[tuple[str, Secret], ...]:
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


def _tls(table: Table, reader: Reader, path: Path) -> TlsConfig | None:
    """Paths only: `daemon.tls` loads the files, for `check` and at start-up alike."""
    count = len(reader.errors)
    files: dict[str, Path | None] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        if not table.has(name) and name != "client_ca_file":
            reader.error(table.at(name), "is required: a PEM file")
        files[name] = table.value(name, lambda v: file_path(v, reader, path), None)
    auth = table.value("client_auth_type", string(CLIENT_AUTH_TYPES), "NoClientCert")
    if auth != "NoClientCert" and files["client_ca_file"] is None:
        reader.error(table.at("client_ca_file"), f"is required with client_auth_type {auth}")
    version = table.value("min_version", string(TLS_VERSIONS), "TLS12")
    table.finish()
    cert, key = files["cert_file"], files["key_file"]
    if len(reader.errors) > count or cert is None or key is None:
        return None
    return TlsConfig(cert, key, files["client_ca_file"], auth, version)
