"""Which proxy a request goes through: the environment's rule, as curl and httpx read it.

`HTTP_PROXY` serves `http://` URLs, `HTTPS_PROXY` `https://` ones, `ALL_PROXY` either when
its own is unset; each may be written in lower case too, and the lower-case one wins (as in
curl and Python's `urllib.request.getproxies`, which httpx uses). A value without a scheme
is an `http://` proxy. `NO_PROXY` lists the hosts reached directly, as curl's
CURLOPT_NOPROXY documents (https://curl.se/libcurl/c/CURLOPT_NOPROXY.html): `*` is every
host; a name matches itself and every name below it (`example.com` matches
`api.example.com`, not `badexample.com`; a leading dot changes nothing); an IP address
matches itself, and `10.0.0.0/8` a network; IPv6 addresses are written without brackets.

Pure: the environment is a mapping the caller passes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PROXY_SCHEMES", "Proxies", "Route", "proxy_problem", "without_password"]

PROXY_SCHEMES = ("http", "https")  # what aiohttp speaks to a proxy (no SOCKS)
_VARIABLES = {"http": "HTTP_PROXY", "https": "HTTPS_PROXY", "all": "ALL_PROXY"}


@dataclass(frozen=True, slots=True)
class Route:
    """How one request leaves: through `proxy` (None: directly), and why, in words."""

    proxy: str | None
    why: str

    def __str__(self) -> str:
        how = f"via proxy {without_password(self.proxy)}" if self.proxy else "directly"
        return f"{how} ({self.why})"


@dataclass(frozen=True, slots=True)
class Proxies:
    """The proxy for each scheme (with the variable it came from) and the NO_PROXY list."""

    by_scheme: tuple[tuple[str, str, str], ...] = ()  # (scheme, proxy URL, variable)
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Proxies:
        found: list[tuple[str, str, str]] = []
        for scheme, variable in _VARIABLES.items():
            named = _read(environ, variable)
            if named is not None:
                name, value = named
                found.append((scheme, value if "://" in value else f"http://{value}", name))
        listed = _read(environ, "NO_PROXY")
        entries = listed[1].split(",") if listed else []
        return cls(tuple(found), tuple(e.strip().lower() for e in entries if e.strip()))

    def route(self, url: str, override: str | Literal[False] | None = None) -> Route:
        """Where a request to `url` goes: by `override` (an integration's own `proxy`: a
        proxy URL, or False for a direct connection) when given, else by this rule."""
        if override is False:
            return Route(None, "the integration's proxy = false")
        if override is not None:
            return Route(override, "the integration's proxy setting")
        parts = urlsplit(url)
        chosen = self._for_scheme(parts.scheme) or self._for_scheme("all")
        if chosen is None:
            return Route(None, f"no {_VARIABLES.get(parts.scheme, 'ALL_PROXY')} is set")
        proxy, variable = chosen
        host = (parts.hostname or "").lower()
        entry = next((e for e in self.no_proxy if _bypasses(e, host)), None)
        if entry is not None:
            return Route(None, f"NO_PROXY lists {entry}")
        return Route(proxy, variable)

    def problems(self) -> list[tuple[str, str]]:
        """(variable, what is wrong) for each variable whose proxy cannot be used."""
        return [
            (variable, problem)
            for _, proxy, variable in self.by_scheme
            if (problem := proxy_problem(proxy)) is not None
        ]

    def passwords(self) -> list[str]:
        """The passwords in the proxies' URLs (secrets to redact)."""
        return [p for _, proxy, _ in self.by_scheme if (p := urlsplit(proxy).password)]

    def _for_scheme(self, scheme: str) -> tuple[str, str] | None:
        return next(((p, v) for s, p, v in self.by_scheme if s == scheme), None)


def proxy_problem(proxy: str) -> str | None:
    """What is wrong with `proxy` as a proxy URL, or None."""
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "is not a URL"
    if parts.scheme not in PROXY_SCHEMES:
        return "must be an http:// or https:// proxy URL (SOCKS is not supported)"
    if not parts.hostname:
        return "must name the proxy's host"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be just scheme://host:port, with no path"
    return None


def without_password(proxy: str) -> str:
    """`proxy` with its password (if any) shown as ***, for display."""
    parts = urlsplit(proxy)
    if parts.password is None:
        return proxy
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _read(environ: Mapping[str, str], variable: str) -> tuple[str, str] | None:
    """The variable's (name, value), lower case first; an empty value counts as unset."""
    for name in (variable.lower(), variable):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _bypasses(entry: str, host: str) -> bool:
    if entry == "*":
        return True
    address = _address(host)
    if address is not None:
        try:
            return address in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    name = entry.lstrip(".")
    return host == name or host.endswith("." + name)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
