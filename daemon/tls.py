"""TLS for the daemon's endpoints (`[daemon.tls]`), with the semantics of Prometheus's
exporter web config: a certificate and key, TLS 1.2 or newer, client certificates when
asked for. The files are read again when they change, so a renewed certificate is served
without a restart (the exporter toolkit reads them on every request).
"""

from __future__ import annotations

import contextlib
import os
import ssl
from pathlib import Path

from daemon.config import TlsConfig

__all__ = ["ServerTls", "TlsError", "client_context"]

_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class TlsError(Exception):
    """The certificate, key or client CA cannot be used; the message names the key."""


class ServerTls:
    """The server's SSL context, reloaded when a file's modification time changes."""

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = _VERSIONS[config.min_version]
        self.context.verify_mode = _CLIENT_AUTH[config.client_auth_type]
        self._stamps: tuple[float, ...] = ()
        self.refresh()

    def _files(self) -> list[tuple[str, Path]]:
        files = [("cert_file", self.config.cert_file), ("key_file", self.config.key_file)]
        if self.config.client_ca_file is not None:
            files.append(("client_ca_file", self.config.client_ca_file))
        return files

    def refresh(self) -> bool:
        """Load the files again if any changed; True if they were. TlsError if they cannot
        be used (the context keeps what it had)."""
        stamps = []
        for key, path in self._files():
            try:
                stamps.append(os.stat(path).st_mtime)
            except OSError as error:
                raise TlsError(f"daemon.tls.{key}: cannot read {path} ({error.strerror})") from None
        if tuple(stamps) == self._stamps:
            return False
        config = self.config
        try:
            self.context.load_cert_chain(config.cert_file, config.key_file)
        except (ssl.SSLError, OSError) as error:
            raise TlsError(
                f"daemon.tls: cannot use {config.cert_file} with {config.key_file} "
                f"({_why(error)}); both must be PEM, the key unencrypted and matching"
            ) from None
        if config.client_ca_file is not None:
            try:
                self.context.load_verify_locations(cafile=config.client_ca_file)
            except (ssl.SSLError, OSError) as error:
                raise TlsError(
                    f"daemon.tls.client_ca_file: cannot use {config.client_ca_file} ({_why(error)})"
                ) from None
        self._stamps = tuple(stamps)
        return True


def client_context(config: TlsConfig | None) -> ssl.SSLContext:
    """What the CLI trusts when it calls the daemon: the system's CAs and, for a
    self-signed or privately issued certificate, the daemon's own certificate file."""
    context = ssl.create_default_context()
    if config is not None:
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself may anchor
        # Not readable by this user: the system's CAs must do.
        with contextlib.suppress(ssl.SSLError, OSError):
            context.load_verify_locations(cafile=config.cert_file)
    return context


def _why(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error).lower().replace("_", " ")
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return type(error).__name__
