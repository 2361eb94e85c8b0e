"""`breakerwatch init`: a commented starter config.toml.

tomli-w writes every value; the comments between the sections are ours, since TOML
writers do not write comments. A test loads the result with the daemon's own loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tomli_w

from alerts.model import AlertSettings
from daemon.config import format_duration
from daemon.config.model import DEFAULT_INTERVAL, DEFAULT_TIMEOUT
from probes import BreakerConfig, RetryPolicy
from probes._settings import user_settings
from probes.adapters import KINDS

__all__ = ["CREDENTIALS", "VENDORS", "secrets_of", "starter_config", "vendor_names"]


def _defaults(cls: type, keys: dict[str, bool]) -> dict[str, Any]:
    """The defaults of a settings dataclass, as config.toml writes them (`keys`: name ->
    a duration): the starter's numbers are the code's, never a copy of them."""
    defaults = cls()
    values = {}
    for name, is_duration in keys.items():
        value = getattr(defaults, name)
        if is_duration:
            value = format_duration(value)
        elif isinstance(value, frozenset):
            value = sorted(value, key=["open", "close", "half_open"].index)
        values[name] = value
    return values


BREAKER = _defaults(BreakerConfig, user_settings(BreakerConfig))
RETRY = _defaults(RetryPolicy, user_settings(RetryPolicy))
_ALERT_KEYS = {"notify_on": False, "flap_window": True, "flap_max_transitions": False,
               "storm_window": True, "storm_min_integrations": False, "repeat_interval": True,
               "throttled_after": True}  # fmt: skip

_SECTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "# breakerwatch configuration. Check it with `breakerwatch check`.\n"
        "# Durations: \"250ms\", \"30s\", \"5m\", \"1h\" (or a number of seconds).\n"
        "# Secrets are never written here: use env:NAME, file:/path or credential:NAME\n"
        "# (a systemd LoadCredential=), resolved when the daemon starts or reloads.\n\n"
        "# The daemon: where it serves /metrics, /healthz, /readyz and /api/v1/status, where\n"
        "# it keeps its state (under systemd, $STATE_DIRECTORY wins), and how it logs\n"
        "# (text, or json for journald/Loki; debug, info, warning or error).\n"
        "# On loopback (the default) only this host can reach it. To listen beyond it, set\n"
        "# an admin_token (who may hold breakers and set silences), [daemon.tls] and\n"
        "# [daemon.basic_auth_users]: the security model in docs/operations.md.",
        {"daemon": {"listen": "127.0.0.1:9478", "state_dir": ".breakerwatch",
                    "log_format": "text", "log_level": "info"}},
    ),
    (
        "# What every integration inherits; each may override any of it.",
        {"defaults": {"interval": format_duration(DEFAULT_INTERVAL),
                      "timeout": format_duration(DEFAULT_TIMEOUT)}},
    ),
    (
        "# The circuit breaker: it opens after failure_threshold consecutive failed probes, or\n"
        "# when failure_rate_threshold of the last `window` probes failed (once min_calls were\n"
        "# seen). While open, nothing is sent; one trial runs when reset_timeout ends, and the\n"
        "# open period doubles (backoff_multiplier) on every failed trial, up to\n"
        "# max_reset_timeout. success_threshold successful trials close it.",
        {"defaults": {"breaker": BREAKER}},
    ),
    (
        "# Retries within one probe: full-jitter backoff from base_delay to max_delay;\n"
        "# max_attempts counts the first. A 401/403 or 4xx is never retried.",
        {"defaults": {"retry": RETRY}},
    ),
    (
        "# Alerts: one message per incident (posted when a breaker opens, edited and answered\n"
        "# in its thread when it closes), flap damping, storm grouping, reminders while open\n"
        "# (0: none). console prints them; for Slack, add a bot token (or a webhook_url):\n"
        "#   [alerts.slack]\n"
        "#   token = \"env:SLACK_BOT_TOKEN\"\n"
        "#   channel = \"#integrations\"\n"
        "# its bot with chat:write, channels:history and channels:read (exactly once), then\n"
        "# `breakerwatch test-alert`. Maintenance windows: see docs/alerts.md.",
        {"alerts": {**_defaults(AlertSettings, _ALERT_KEYS), "console": True}},
    ),
]  # fmt: skip


# The integrations, each with the secret it references: `init --vendors` writes the chosen
# ones as they are and the others commented out, so an unedited starter probes nothing.
VENDORS: dict[str, tuple[dict[str, Any], str | None]] = {
    "mailchimp": ({"name": "mailchimp", "kind": "mailchimp", "api_key": "env:MAILCHIMP_API_KEY"},
                  "MAILCHIMP_API_KEY"),
    "hubspot": ({"name": "hubspot", "kind": "hubspot", "token": "env:HUBSPOT_TOKEN"},
                "HUBSPOT_TOKEN"),
    "kit": ({"name": "kit", "kind": "convertkit", "api_key": "env:KIT_API_KEY"}, "KIT_API_KEY"),
    "sendgrid": ({"name": "sendgrid", "kind": "sendgrid", "api_key": "env:SENDGRID_API_KEY"},
                 "SENDGRID_API_KEY"),
    "http": ({"name": "billing", "kind": "http", "url": "https://billing.example.com/healthz",
              "expect_status": [200], "max_latency": "2s", "tls_min_days": 14,
              "assertions": [{"json_path": "$.status", "equals": "ok"}]}, None),
}  # fmt: skip
ALIASES = {"convertkit": "kit"}
_INTEGRATIONS = (
    "# The integrations: uncomment the ones you use, or write this file again with\n"
    "# `breakerwatch init PATH --force --vendors hubspot,sendgrid`. name is the metrics\n"
    f"# label; kind is one of {', '.join(KINDS)}. base_url replaces\n"
    "# the vendor's API root (`breakerwatch simulate`: http://127.0.0.1:8600/<kind>); proxy\n"
    "# names this integration's own proxy, or false. The key each vendor needs, and its\n"
    "# scopes: docs/integrations.md. HubSpot and SendGrid are asked whether the key has\n"
    "# the scopes its writes need (scopes = [...] to say others; [] for none), hourly and\n"
    "# by `breakerwatch check --online`."
)
_HTTP = (
    "# Any HTTP endpoint: expected statuses, assertions on the body (contains, or a JSON\n"
    "# path that equals a value or exists), a latency bound, and a minimum number of days\n"
    "# left on the TLS certificate. Header values may be secret references. egress = true\n"
    '# makes one the "is it us?" canary: while it fails, other alerts are held.'
)


# With `--credentials`: the same secrets as systemd credentials (files in /etc/credstore).
CREDENTIALS = {
    "env:MAILCHIMP_API_KEY": "credential:mailchimp-api-key",
    "env:HUBSPOT_TOKEN": "credential:hubspot-token",
    "env:KIT_API_KEY": "credential:kit-api-key",
    "env:SENDGRID_API_KEY": "credential:sendgrid-api-key",
    "env:SLACK_BOT_TOKEN": "credential:slack-bot-token",
}


def starter_config(*, credentials: bool = False, vendors: Iterable[str] = ()) -> str:
    """The text of a starter config.toml: every section, commented; the integrations of
    `vendors` (names of `VENDORS`) as they are, the others commented out; secrets
    referenced as environment variables, or with `credentials` as systemd credentials."""
    chosen = set(vendors)
    parts = [f"{comment}\n{_toml(body)}" for comment, body in _SECTIONS]
    parts.append(_INTEGRATIONS)
    for name, (integration, _) in VENDORS.items():
        block = _toml({"integrations": [integration]})
        if name == "http":
            parts.append(_HTTP)
        parts.append(block if name in chosen else _commented(block))
    text = "\n".join(parts)
    if credentials:
        for env, credential in CREDENTIALS.items():
            text = text.replace(env, credential)
    return text


def vendor_names(given: str) -> list[str]:
    """`--vendors hubspot,sendgrid` as names of `VENDORS`; ValueError naming a stranger."""
    names = [ALIASES.get(n, n) for n in (part.strip().lower() for part in given.split(",")) if n]
    unknown = [name for name in names if name not in VENDORS]
    if unknown or not names:
        raise ValueError(f"unknown vendor {unknown[0]!r}" if unknown else "no vendor named")
    return names


def secrets_of(vendors: Iterable[str]) -> list[str]:
    """The environment variables the integrations of `vendors` reference."""
    return [secret for name in vendors if (secret := VENDORS[name][1]) is not None]


def _commented(block: str) -> str:
    return "\n".join(f"# {line}" if line else "#" for line in block.rstrip("\n").split("\n")) + "\n"


def _toml(body: dict[str, Any]) -> str:
    # tomli-w writes a short array of tables inline (`integrations = [...]`), which after
    # a [table] header would belong to that table: write each entry as [[integrations]].
    if set(body) == {"integrations"}:
        return "\n".join(
            f"[[integrations]]\n{tomli_w.dumps(item)}" for item in body["integrations"]
        )
    return tomli_w.dumps(body)
