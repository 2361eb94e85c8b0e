"""Secret references (`env:NAME`, `file:/path`, `credential:NAME`), resolved in one place.

A secret is never written inline in configuration: a field takes a reference, and
`resolve` turns it into a `Secret`, whose repr and str never show the value. Errors name
the reference (which is not secret) and what to do, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Secret", "SecretError", "is_reference", "resolve"]

_SCHEMES = ("env", "file", "credential")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_HOW_TO_REFERENCE = (
    "write a reference instead: env:NAME (an environment variable), file:/path (a file), "
    "or credential:NAME (a systemd credential)"
)


class SecretError(ValueError):
    """A secret reference cannot be resolved; the message says what to fix."""


@dataclass(frozen=True, slots=True, repr=False)
class Secret:
    """A resolved secret value. Its repr and str are redacted; `reveal()` returns it."""

    _value: str
    reference: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__


def is_reference(text: str) -> bool:
    """Whether `text` has the form of a secret reference (`scheme:rest`, known scheme)."""
    scheme, sep, rest = text.partition(":")
    return bool(sep) and scheme in _SCHEMES and bool(rest)


def resolve(
    reference: str,
    *,
    environ: Mapping[str, str] | None = None,
    credentials_directory: str | None = None,
) -> Secret:
    """Resolve `reference` to its value.

    `environ` defaults to `os.environ`; `credentials_directory` to
    `$CREDENTIALS_DIRECTORY` (set by systemd for `LoadCredential=`). One trailing newline
    is dropped (files and credentials are usually written with one), and surrounding
    spaces; any other control character (a second line, a tab, a NUL) is an error, since
    it would break the header the secret travels in.
    """
    env = os.environ if environ is None else environ
    if not is_reference(reference):
        raise SecretError(f"a secret must not be written inline; {_HOW_TO_REFERENCE}")
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        if not _ENV_NAME.fullmatch(name):
            raise SecretError(f"{reference!r} is not a valid environment variable name")
        if name not in env:
            raise SecretError(f"the environment variable {name} is not set")
        value = env[name]
    elif scheme == "file":
        value = _read(Path(name), f"the file {name}")
    else:
        if not _CREDENTIAL_NAME.fullmatch(name):
            raise SecretError(f"{reference!r} is not a valid credential name")
        directory = credentials_directory or env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(
                f"{reference!r} needs $CREDENTIALS_DIRECTORY, which systemd sets for "
                f"LoadCredential=; outside systemd use env: or file: instead"
            )
        value = _read(Path(directory) / name, f"the credential {name}")
    value = value.removesuffix("\n").removesuffix("\r").strip(" ")
    if not value:
        raise SecretError(f"{reference!r} resolves to an empty value")
    if _CONTROL.search(value):
        raise SecretError(
            f"{reference!r} holds a control character (a second line, a tab?); a secret is "
            "one line, optionally ending with one newline"
        )
    return Secret(value, reference)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretError(f"{what} does not exist") from None
    except PermissionError:
        raise SecretError(f"{what} is not readable by this user") from None
    except IsADirectoryError:
        raise SecretError(f"{what} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise SecretError(f"{what} is not UTF-8 text") from None
    except OSError as error:
        raise SecretError(f"{what} cannot be read ({error.strerror})") from None
