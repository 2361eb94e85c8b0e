"""`[defaults]` and `[[integrations]]`: each integration with what it inherits applied, its
breaker and retry settings checked against their ranges, and its kind's own settings.

What may be set in `[breaker]` and `[retry]`, and which of it are durations, the
dataclasses say (`probes._settings.user_settings`); what a vendor's credential is called
and what form it must have, its adapter says (`VendorAdapter.credential_field`,
`credential_problem`): this module only reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlsplit

from daemon.config._reader import (
    DAY,
    TIMEOUT,
    Reader,
    Table,
    boolean,
    duration,
    number_above,
    string,
    url,
)
from daemon.config.model import (
    DEFAULT_FRESH,
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    NAME,
    CanarySettings,
    HttpSettings,
    IntegrationConfig,
    OAuthSettings,
    VendorSettings,
    parse_duration,
)
from daemon.degraded import DegradedSettings
from probes import BreakerConfig, InvalidSetting, RetryPolicy
from probes._settings import user_settings
from probes.adapters import KINDS, BodyAssertion, VendorAdapter
from probes.proxy import proxy_problem
from probes.redact import is_sensitive_header
from probes.secrets import Secret, is_reference

__all__ = ["integrations_tables"]

INTERVAL = duration(DAY)
_RESILIENCE: dict[str, type[BreakerConfig] | type[RetryPolicy]] = {
    "breaker": BreakerConfig,
    "retry": RetryPolicy,
}
Resilience = dict[str, dict[str, Any]]  # "breaker" and "retry" -> their keyword arguments


def integrations_tables(
    tables: Iterable[Table], defaults: Table, reader: Reader
) -> tuple[IntegrationConfig, ...]:
    """Every valid integration; the problems of the others are in `reader`."""
    interval = defaults.value("interval", INTERVAL, DEFAULT_INTERVAL)
    timeout = defaults.value("timeout", TIMEOUT, DEFAULT_TIMEOUT)
    fresh = defaults.value("fresh_connection", _fresh, DEFAULT_FRESH)
    inherited = _resilience(defaults, reader, {})
    slow = _degraded(defaults, DegradedSettings())
    built: list[IntegrationConfig] = []
    names: set[str] = set()
    at: dict[str, str] = {}  # name -> where its depends_on is written
    for table in tables:
        integration = _integration(table, reader, (interval, timeout, fresh), inherited, slow)
        name = table.data.get("name")
        if isinstance(name, str):  # even when the integration is invalid otherwise
            if name in names:
                reader.error(table.at("name"), f"{name!r} is used by another integration")
            names.add(name)
        if integration is not None:
            built.append(integration)
            at[integration.name] = table.at("depends_on")
    return _dependencies(built, names, at, reader)


def _dependencies(
    built: list[IntegrationConfig], names: set[str], at: dict[str, str], reader: Reader
) -> tuple[IntegrationConfig, ...]:
    """Each integration with its parents (`depends_on`, transitively, nearest first) and
    whether others depend on it; unknown names and cycles reported."""
    direct = {c.name: c.depends_on for c in built}
    for config in built:
        for parent in config.depends_on:
            if parent == config.name:
                reader.error(at[config.name], "names the integration itself")
            elif parent not in names:
                reader.error(at[config.name], f"names {parent!r}, which is no integration")
    for cycle in _cycles(direct):
        reader.error(at[cycle[0]], f"makes a cycle ({' -> '.join(cycle)}): a parent cannot "
                                   "depend on its own children")  # fmt: skip
    gates = {parent for parents in direct.values() for parent in parents}
    return tuple(
        replace(c, parents=_ancestors(c.name, direct), gate=c.name in gates) for c in built
    )


def _ancestors(name: str, direct: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    found: list[str] = []
    queue = list(direct.get(name, ()))
    while queue:
        parent = queue.pop(0)
        if parent != name and parent not in found:
            found.append(parent)
            queue += direct.get(parent, ())
    return tuple(found)


def _cycles(direct: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """One path around each cycle of `direct` (beyond an integration naming itself)."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(direct):
        _walk(start, [], direct, done, cycles)
    return cycles


def _walk(
    name: str, path: list[str], direct: dict[str, tuple[str, ...]], done: set[str],
    cycles: list[list[str]],
) -> None:  # fmt: skip
    if name in path:
        cycle = [*path[path.index(name) :], name]
        if len(cycle) > 2:
            cycles.append(cycle)
        return
    if name in done:
        return
    path.append(name)
    for parent in direct.get(name, ()):
        _walk(parent, path, direct, done, cycles)
    path.pop()
    done.add(name)


def _resilience(parent: Table, reader: Reader, inherited: Resilience) -> Resilience:
    """`[breaker]` and `[retry]` of `parent` over `inherited`, their range problems
    reported, except those `inherited` has: reported once, where they were written."""
    found: Resilience = {}
    for key, settings in _RESILIENCE.items():
        table = parent.table(key)
        fields = user_settings(settings)
        values = dict(inherited.get(key, {}))
        for name in sorted(fields.keys() & table.data.keys()):
            check = parse_duration if fields[name] else (lambda v: v)
            value = table.value(name, check, None)
            if value is not None:
                values[name] = value
        table.finish(set(fields))
        skip = _problems(reader, key, inherited[key]) if key in inherited else []
        reader.problems(parent.at(key), _problems(reader, key, values), skip=skip)
        found[key] = values
    return found


def _problems(reader: Reader, key: str, values: dict[str, Any]) -> list[InvalidSetting]:
    """The range problems of `[breaker]` or `[retry]` (`key`) set to `values`."""
    settings = _RESILIENCE[key]
    return reader.once((key, "problems", _frozen(values)), lambda: settings.problems(**values))


def _frozen(values: dict[str, Any]) -> str:
    """`values` as a key, whatever TOML put in them (a mistaken table too); 1, 1.0 and true
    stay apart, as their checks do."""
    return repr(sorted(values.items()))


def _degraded(table: Table, inherited: DegradedSettings) -> DegradedSettings:
    """`degraded`, `degraded_factor`, `degraded_floor`, `degraded_after` and `baseline` (a
    pinned one) over what `inherited` says."""
    return DegradedSettings(
        enabled=table.value("degraded", boolean, inherited.enabled),
        factor=table.value("degraded_factor", number_above(1, 100), inherited.factor),
        floor=table.value("degraded_floor", _floor, inherited.floor),
        after=table.value("degraded_after", duration(DAY), inherited.after),
        pinned=table.value("baseline", TIMEOUT, inherited.pinned),
    )


# A dedicated canary address: its local part says what it is, so no real person's record
# is ever written to (docs/integrations.md, "Canary writes").
_CANARY = re.compile(r"[^@\s]*(canary|breakerwatch)[^@\s]*@[^@\s]+\.[^@\s]+", re.IGNORECASE)
_CANARY_KEYS = {"convertkit": {"form_id", "tag_id"}, "mailchimp": {"list_id"}}


def _canary(table: Table, reader: Reader, kind: str | None) -> CanarySettings | None:
    """`canary = { email, interval, ... }` on a vendor integration, its identity checked."""
    where = table.at("canary")
    canary = table.table("canary")
    vendor = KINDS.get(kind or "")
    if vendor is None or not issubclass(vendor, VendorAdapter):
        canary.finish(set(canary.data))
        reader.error(where, "canary writes are for the vendors (hubspot, sendgrid, mailchimp, "
                            "convertkit), not an http integration")  # fmt: skip
        return None
    count = len(reader.errors)
    email = canary.value("email", _canary_email, None)
    if email is None and not canary.has("email"):
        reader.error(canary.at("email"), "is required: a dedicated address such as "
                                         "breakerwatch-canary@example.com")  # fmt: skip
    interval = canary.value("interval", duration(DAY), 900.0)
    extra = {key: canary.value(key, _identifier, None)
             for key in sorted(_CANARY_KEYS.get(kind or "", ()))}  # fmt: skip
    canary.finish()
    if kind == "mailchimp" and extra.get("list_id") is None and not canary.has("list_id"):
        reader.error(canary.at("list_id"), "is required: the audience the canary member is in")
    if len(reader.errors) > count or email is None:
        return None
    return CanarySettings(email, interval, **extra)


def _matching(pattern: re.Pattern[str], problem: str) -> Callable[[Any], str]:
    """A check that a value is a string `pattern` matches whole, else `problem`."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(problem)
        return value

    return check


_canary_email = _matching(
    _CANARY,
    "must be a dedicated address whose local part says canary or breakerwatch (such as "
    "breakerwatch-canary@example.com), so no real person's record is ever written to",
)


def _identifier(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise TypeError("must be an id (a string or a whole number)")
    return str(value)


def _fresh(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 <= seconds <= DAY:
        raise ValueError('must be a duration from 0 (every probe) to "1d"')
    return seconds


def _floor(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 <= seconds <= 3600:
        raise ValueError("must be a duration from 0 to 1h")
    return seconds


def _integration(
    table: Table,
    reader: Reader,
    timing: tuple[float, float, float],
    inherited: Resilience,
    slow: DegradedSettings,
) -> IntegrationConfig | None:
    """One integration; `timing` is the inherited interval, timeout and fresh_connection."""
    interval, timeout, fresh = timing
    count = len(reader.errors)
    name = table.value("name", _name, None)
    if name is None and not table.has("name"):
        reader.error(table.at("name"), "is required")
    kind = table.value("kind", string(tuple(KINDS)), None)
    if kind is None and not table.has("kind"):
        reader.error(table.at("kind"), f"is required: one of {', '.join(KINDS)}")
    own_interval = table.value("interval", INTERVAL, interval)
    own_timeout = table.value("timeout", TIMEOUT, timeout)
    if own_timeout >= own_interval:
        reader.error(
            table.at("timeout"), f"must be < interval ({own_interval:g}s) (got {own_timeout:g}s)"
        )
    own_fresh = table.value("fresh_connection", _fresh, fresh)
    own = _resilience(table, reader, inherited)
    egress = table.value("egress", boolean, False)
    depends_on = table.value("depends_on", _depends_on, ())
    proxy = _proxy(table, reader)
    settings = _kind_settings(table, kind, reader) if kind else None
    page, components = _status_page(table, reader, kind, settings)
    scopes = _scopes(table, reader, kind)
    degraded = _degraded(table, slow)
    canary = _canary(table, reader, kind) if table.has("canary") else None
    sla = table.value("sla", number_above(0, 100, "percentage"), None)
    table.finish()
    if len(reader.errors) > count or name is None or kind is None or settings is None:
        return None
    if any(_problems(reader, key, values) for key, values in own.items()):
        return None  # a problem of [defaults], reported there once
    return IntegrationConfig(
        name=name,
        kind=kind,
        interval=own_interval,
        timeout=own_timeout,
        fresh_connection=own_fresh,
        breaker=reader.once(
            ("breaker", _frozen(own["breaker"])), lambda: BreakerConfig(**own["breaker"])
        ),
        retry=reader.once(("retry", _frozen(own["retry"])), lambda: RetryPolicy(**own["retry"])),
        settings=settings,
        egress=egress,
        proxy=proxy,
        status_page=page,
        status_components=components,
        depends_on=depends_on,
        scopes=scopes,
        degraded=degraded,
        canary=canary,
        sla=sla,
    )


def _scopes(table: Table, reader: Reader, kind: str | None) -> tuple[str, ...]:
    """`scopes = [...]`: what the credential must be allowed; by default what the adapter's
    own writes need, where the vendor can tell (`[]` checks nothing)."""
    vendor = KINDS.get(kind or "")
    needed = vendor.write_scopes if vendor and issubclass(vendor, VendorAdapter) else ()
    if table.has("scopes") and not needed and kind in KINDS:
        table.take("scopes")
        reader.error(table.at("scopes"), f"{kind} cannot tell what a credential may do, so "
                                         "there is nothing to check: remove it")  # fmt: skip
        return ()
    scopes: tuple[str, ...] = table.value("scopes", _scope_names, needed)
    return scopes


def _scope_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TypeError('must be a list of scope names, such as ["crm.objects.contacts.write"]')
    return tuple(dict.fromkeys(value))


def _status_page(
    table: Table, reader: Reader, kind: str | None, settings: VendorSettings | HttpSettings | None
) -> tuple[str | None, tuple[str, ...]]:
    """`status_page = "https://status.example.com"` (or false), `status_components`. A
    vendor's own page is the default while its integration talks to the vendor's own API
    (not to a `base_url` of one's own, such as the simulator)."""
    default = None
    if isinstance(settings, VendorSettings) and settings.base_url is None and kind in KINDS:
        vendor = KINDS[kind]
        default = vendor.status_page if issubclass(vendor, VendorAdapter) else None
    page = table.value("status_page", lambda v: None if v is False else url(v), default)
    components = table.value("status_components", _names, ())
    if components and page is None:
        reader.error(table.at("status_components"), "needs a status_page")
    return (page.rstrip("/") if page else None), components


def _depends_on(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError('must be a list of integration names, such as ["egress", "corp-proxy"]')
    return tuple(dict.fromkeys(value))


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError('must be a list of component names, such as ["CRM API"]')
    return tuple(value)


def _proxy(table: Table, reader: Reader) -> str | Secret | Literal[False] | None:
    """`proxy = "http://host:port"`, a reference to one that holds a password, or false."""
    if not table.has("proxy"):
        return None
    value = table.take("proxy")
    where = table.at("proxy")
    if value is False:
        return False
    if not isinstance(value, str):
        reader.error(where, 'must be a proxy URL such as "http://proxy:3128", or false')
        return None
    proxy: str | Secret | None = reader.secret(where, value) if is_reference(value) else value
    if proxy is None:
        return None
    shown = proxy.reveal() if isinstance(proxy, Secret) else proxy
    problem = proxy_problem(shown)
    if problem is None and isinstance(proxy, str) and urlsplit(proxy).password is not None:
        problem = "holds a password: put the whole URL in a secret reference such as env:NAME"
    if problem is not None:
        reader.error(where, problem)
        return None
    return proxy


_name = _matching(
    NAME,
    "must be lower-case letters, digits, _ and -, starting with a letter or digit "
    "(it is the metrics label)",
)


def _kind_settings(table: Table, kind: str, reader: Reader) -> VendorSettings | HttpSettings | None:
    adapter = KINDS[kind]
    if not issubclass(adapter, VendorAdapter):
        return _http_settings(table, reader)
    field = adapter.credential_field
    base_url = table.value("base_url", url, None)
    if table.has("oauth"):
        oauth = _oauth(table, reader, adapter, base_url)
        if table.has(field):
            table.take(field)
            reader.error(table.at(field), "give it or oauth, not both")
        return VendorSettings(None, base_url, oauth) if oauth is not None else None
    secret = None
    if not table.has(field):
        reader.error(table.at(field), "is required (a reference such as env:NAME)")
    else:
        secret = reader.secret(table.at(field), table.take(field))
        problem = adapter.credential_problem(secret.reveal()) if secret is not None else None
        if problem is not None:
            reader.error(table.at(field), problem)
    return VendorSettings(secret, base_url) if secret is not None else None


def _oauth(
    table: Table, reader: Reader, adapter: type[VendorAdapter], base_url: str | None
) -> OAuthSettings | None:
    """`oauth = { client_id, client_secret, refresh_token, token_url }`: the secrets by
    reference; `token_url` defaults to the vendor's (on `base_url`'s host when given)."""
    where = table.at("oauth")
    oauth = table.table("oauth")
    count = len(reader.errors)
    if adapter.oauth_token_url is None:
        oauth.finish(set(oauth.data))
        reader.error(where, f"{adapter.kind} takes no OAuth access tokens here: use "
                            f"{adapter.credential_field}")  # fmt: skip
        return None
    default = adapter.oauth_token_url
    if base_url is not None:
        default = base_url.rstrip("/") + urlsplit(default).path
    client_id = oauth.value("client_id", string(), None)
    if client_id is None and not oauth.has("client_id"):
        reader.error(oauth.at("client_id"), "is required: the app's client ID")
    refresh = None
    if not oauth.has("refresh_token"):
        reader.error(oauth.at("refresh_token"), "is required (a reference such as env:NAME)")
    else:
        refresh = reader.secret(oauth.at("refresh_token"), oauth.take("refresh_token"))
    secret = None
    if oauth.has("client_secret"):
        secret = reader.secret(oauth.at("client_secret"), oauth.take("client_secret"))
    token_url = oauth.value("token_url", url, default)
    oauth.finish()
    if len(reader.errors) > count or client_id is None or refresh is None:
        return None
    return OAuthSettings(client_id, refresh, token_url, secret)


def _http_settings(table: Table, reader: Reader) -> HttpSettings | None:
    if not table.has("url"):
        reader.error(table.at("url"), "is required for kind http")
    target = table.value("url", url, None)
    method = table.value("method", _method, "GET")
    expect_status = table.value("expect_status", _statuses, (200,))
    body = table.value("body", string(), None)
    max_latency = table.value("max_latency", TIMEOUT, None)
    tls_min_days = table.value("tls_min_days", number_above(0, 3650, "number of days"), None)
    headers = table.table("headers")
    values: dict[str, str | Secret] = {}
    for name, raw in headers.data.items():
        headers.take(name)
        where = headers.at(name)
        if not isinstance(raw, str):
            reader.error(where, f"must be a string (got {raw!r})")
        elif is_reference(raw):
            secret = reader.secret(where, raw)
            if secret is not None:
                values[name] = secret
        elif is_sensitive_header(name):
            reader.secret(where, raw)  # reports the inline secret, and how to reference it
        else:
            values[name] = raw
    assertions = tuple(
        found for item in table.array("assertions") if (found := _assertion(item, reader))
    )
    if target is None:
        return None
    return HttpSettings(
        target, method, expect_status, body, values, assertions, max_latency, tls_min_days
    )


def _method(value: Any) -> str:
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return string(methods)(value.upper() if isinstance(value, str) else value)


def _statuses(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError("must be a non-empty array of status codes")
    for status in value:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("each status must be a whole number from 100 to 599")
    return tuple(value)


def _assertion(table: Table, reader: Reader) -> BodyAssertion | None:
    fields = {key: table.take(key) for key in ("contains", "json_path", "equals", "exists")}
    table.finish()
    try:
        return BodyAssertion(**{k: v for k, v in fields.items() if v is not None})
    except (TypeError, ValueError) as error:
        reader.error(table.path, str(error))
        return None
