"""How breakerwatch reaches the outside: one trust store and one proxy rule for every call
(probes, Slack, Alertmanager), so they cannot disagree about either.

The trust store is the system's, as OpenSSL finds it (`SSL_CERT_FILE` and `SSL_CERT_DIR`
move it: https://docs.openssl.org/3.0/man3/SSL_CTX_load_verify_locations/), plus an
optional CA file of your own added to it. The proxy rule is the environment's
(`probes.proxy`), which an integration may override (`Proxies.route`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probes.proxy import Proxies
from probes.transport import AiohttpTransport

__all__ = ["Outbound", "client_tls_problem", "trust_problem"]


@dataclass(frozen=True)
class Outbound:
    """The TLS context every outbound call verifies with, and the proxy rule it follows."""

    ssl: ssl.SSLContext
    proxies: Proxies
    ca_file: Path | None = None

    @classmethod
    def build(cls, proxies: Proxies | None = None, ca_file: Path | None = None) -> Outbound:
        """The system's trust store plus `ca_file`, and `proxies` (by default the rule of
        `os.environ`). A `ca_file` that cannot be read raises OSError or ssl.SSLError;
        `trust_problem` says why in one sentence."""
        return cls(_context(ca_file), Proxies.from_environ(os.environ) if proxies is None
                   else proxies, ca_file)  # fmt: skip

    def transport(self, *, close_with_client: bool = True) -> AiohttpTransport:
        """An httpx transport that verifies with this trust store and follows this rule."""
        return AiohttpTransport(
            verify=self.ssl, proxies=self.proxies, close_with_client=close_with_client
        )

    def for_client(
        self, cert_file: Path | None, key_file: Path | None, ca_file: Path | None
    ) -> Outbound:
        """This trust store plus `ca_file`, showing the client certificate `cert_file` (with
        `key_file`) when asked: for one target that wants mutual TLS."""
        context = _context(self.ca_file, ca_file)
        if cert_file is not None:
            context.load_cert_chain(cert_file, key_file)
        return Outbound(context, self.proxies, self.ca_file)

    def trust(self) -> str:
        """Which certificates are trusted, in words."""
        paths = ssl.get_default_verify_paths()
        system = paths.cafile or paths.capath or "no system certificates found"
        moved = [v for v in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(v)]
        origin = f"set by ${' and $'.join(moved)}" if moved else "the system's"
        own = f", and {self.ca_file} ([daemon] ca_file)" if self.ca_file is not None else ""
        return f"{system} ({origin}){own}"


def _context(*ca_files: Path | None) -> ssl.SSLContext:
    """The system's trust store, plus each of `ca_files` that is given."""
    context = ssl.create_default_context()
    for ca_file in ca_files:
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
    return context


def trust_problem(ca_file: Path) -> str | None:
    """What keeps `ca_file` from being added to the trust store, in one sentence, or None."""
    return _load_problem(
        lambda context: context.load_verify_locations(cafile=ca_file),
        ca_file,
        f"{ca_file} holds no PEM certificate",
    )


def client_tls_problem(
    cert_file: Path | None, key_file: Path | None, ca_file: Path | None
) -> str | None:
    """What keeps a client certificate (and an extra CA) from loading, in one sentence."""
    if ca_file is not None and (problem := trust_problem(ca_file)) is not None:
        return f"ca_file: {problem}"
    if cert_file is None:
        return None
    return _load_problem(
        lambda context: context.load_cert_chain(cert_file, key_file),
        cert_file,
        f"{cert_file} and {key_file} are not a PEM certificate and its private key",
    )


def _load_problem(load: Callable[[ssl.SSLContext], None], file: Path, not_pem: str) -> str | None:
    try:
        load(ssl.create_default_context())
    except FileNotFoundError as error:
        return f"{error.filename or file} does not exist"
    except ssl.SSLError:  # before OSError, its base class
        return not_pem
    except OSError as error:
        return f"cannot read {error.filename or file}: {error.strerror or error}"
    return None
