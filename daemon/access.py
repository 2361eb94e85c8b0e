"""Who may read and who may change things over the daemon's HTTP port. Pure: no I/O.

The rules (docs/operations.md, "Security model"), checked in this order for every request:

1. `Host` must name this daemon: a loopback name, an IP address, the machine's own name,
   the listen address, or one of `[daemon] allowed_hosts`. Anything else is 421 with no
   body of ours: a DNS-rebinding page's requests carry its own domain name.
2. Credentials, when sent, must be right (401). With `[daemon] basic_auth_users`, every
   request needs them: a user's password (bcrypt, verified by the server) or an admin
   token as `Authorization: Bearer`.
3. A mutation (POST, PUT, PATCH, DELETE) must not come from a web page: no `Origin` but
   our own, no `Sec-Fetch-Site` but same-origin or none (403); and a body must be declared
   `application/json` (415), which a page can send cross-origin only after a CORS
   preflight that the daemon never grants (as it never grants one for DELETE).
4. With admin tokens configured, a mutation needs one (401). Without, mutations are served
   only when the daemon listens on loopback (403 otherwise), and are done by "local".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from daemon.config import DaemonConfig, format_address

__all__ = [
    "MUTATIONS",
    "AccessRules",
    "Credentials",
    "Verdict",
    "credentials",
    "exposure",
    "host_name",
]

MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an `Authorization` header carries: a bearer token, or a user and password."""

    token: str | None = None
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Allowed (status 0), or the status to answer with and why (the `reason` label of
    `breakerwatch_http_requests_refused_total`)."""

    status: int = 0
    reason: str = ""
    message: str = ""
    who: str = ""  # who is asking: a token's label, a user, or "local"

    @property
    def allowed(self) -> bool:
        return self.status == 0


def credentials(header: str | None) -> Credentials | None:
    """The credentials in an `Authorization` header; None if it has none we know."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials(token=value)
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Credentials(user="", password="")  # present, and wrong
        user, _, password = decoded.partition(":")
        return Credentials(user=user, password=password)
    return Credentials(user="", password="")  # an unknown scheme: present, and wrong


def host_name(header: str | None) -> str | None:
    """The host of a `Host` header, lower-case, without port or trailing dot."""
    if header is None:
        return None
    text = header.strip().lower()
    if text.startswith("["):  # [::1]:9478
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AccessRules:
    """The access rules of one daemon, built from `[daemon]` (see the module docstring)."""

    loopback: bool  # the daemon listens on loopback only
    tokens: Mapping[str, str] = field(default_factory=dict)  # label -> token
    users: Mapping[str, str] = field(default_factory=dict)  # user -> bcrypt hash
    hosts: tuple[str, ...] = ()  # allowed_hosts, plus the machine's names

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's `Host` names this daemon (no header: an HTTP/1.0 client,
        never a browser, so nothing to rebind)."""
        host = host_name(header)
        if host is None or host in _LOOPBACK_NAMES or host.endswith(".localhost"):
            return True
        if _is_ip(host) or "*" in self.hosts or host in self.hosts:
            return True  # a rebinding page's Host is its own domain name, never an address
        return any(p.startswith(".") and (host.endswith(p) or host == p[1:]) for p in self.hosts)

    def token_label(self, token: str) -> str | None:
        """The label of the admin token `token`, compared in constant time, or None."""
        found = None
        for label, expected in self.tokens.items():
            if hmac.compare_digest(token.encode(), expected.encode()):
                found = label
        return found

    def decide(
        self,
        *,
        method: str,
        given: Credentials | None,
        token_label: str | None,
        user: str | None,
        content_type: str,
        body: bool,
        origin: str | None,
        fetch_site: str | None,
        own_origin: str,
    ) -> Verdict:
        """The verdict on one request whose Host was allowed. `token_label` is the label of
        the admin token it carries, `user` the basic-auth user whose password was right,
        `body` whether it has one."""
        who = token_label or user
        if given is not None and who is None:
            return Verdict(401, "unauthorized", "wrong credentials")
        if self.users and who is None:
            return Verdict(401, "unauthorized", "this daemon requires credentials")
        if method not in MUTATIONS:
            return Verdict(who=who or "")
        if (origin is not None and origin != own_origin) or (
            fetch_site is not None and fetch_site not in ("same-origin", "none")
        ):
            return Verdict(403, "cross_site", "changes are not accepted from web pages")
        # A body must be JSON: what a page can send in a form or a no-cors fetch is not. A
        # change with no body and no type at all (DELETE, or POST /-/reload as curl and
        # config reloaders send it) can only come from a page with its Origin, refused above.
        if method != "DELETE" and (body or content_type) and content_type != "application/json":
            return Verdict(415, "content_type", "send the body as application/json")
        if self.tokens:
            if token_label is None:
                return Verdict(
                    401, "unauthorized", "changes need an admin token (Authorization: Bearer)"
                )
            return Verdict(who=token_label)
        if not self.loopback:
            return Verdict(
                403,
                "no_admin_token",
                "changes are refused: this daemon listens beyond loopback and has no "
                "[daemon] admin_token",
            )
        return Verdict(who=who or "local")


def exposure(config: DaemonConfig) -> list[str]:
    """What `check` and the start-up log say of a daemon reachable beyond this host."""
    if config.loopback:
        return []
    where = format_address(*config.listen)
    notes = []
    if not config.admin_tokens:
        notes.append(
            f"daemon.listen: {where} is reachable beyond this host and there is no [daemon] "
            "admin_token, so breaker and silence changes are refused (403); set one to "
            "allow them"
        )
    if not config.basic_auth_users:
        notes.append(
            f"daemon.listen: whoever reaches {where} can read /metrics, /api/v1/status and the "
            "incident history (/api/v1/incidents); "
            "[daemon.basic_auth_users] requires a password"
        )
    if (config.admin_tokens or config.basic_auth_users) and config.tls is None:
        notes.append(
            "daemon.tls: tokens and passwords cross the network readable by anyone on the "
            "path; set [daemon.tls] or keep listen on loopback behind a TLS proxy"
        )
    return notes
