"""Reading config.toml: the TOML document, the tables walked key by key, every problem
collected as one line naming the file and the key, and the checks of single values (each
raises TypeError or ValueError with the sentence the user reads)."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.config.model import INT64, ConfigError, format_duration, parse_duration
from probes import InvalidSetting
from probes.secrets import Secret, SecretError, resolve

T = TypeVar("T")

__all__ = [
    "DAY",
    "HOUR",
    "TIMEOUT",
    "Reader",
    "Table",
    "boolean",
    "document",
    "duration",
    "string",
    "type_name",
    "url",
    "whole",
]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


HOUR, DAY = 3600.0, 86400.0


def document(text: str, path: Path) -> dict[str, Any]:
    """The TOML document, or ConfigError in one line: invalid TOML, nesting too deep for
    the parser, or an integer beyond TOML's 64 bits."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: arrays or tables nested too deep"]) from None
    big = _big_integer(parsed, "")
    if big is not None:
        raise ConfigError([f"{path}: {big}: an integer beyond TOML's 64 bits"])
    return parsed


def _big_integer(value: object, path: str) -> str | None:
    """The path of the first integer outside TOML's 64-bit range, if any."""
    children: Any
    if isinstance(value, dict):
        children = ((f"{path}.{key}" if path else key, item) for key, item in value.items())
    elif isinstance(value, list):
        children = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    else:
        return path if isinstance(value, int) and not -INT64 <= value < INT64 else None
    for where, child in children:
        found = _big_integer(child, where)
        if found is not None:
            return found
    return None


@dataclass
class Reader:
    """Where the problems of one file are collected, and how its secrets resolve."""

    label: str
    errors: list[str]
    environ: Mapping[str, str]
    credentials_directory: str | None
    shared: dict[Any, Any] = field(default_factory=dict)

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, once per distinct `key` in this file: 10,000 integrations share a
        handful of settings, checked and built once each (with every integration checking
        its own, the checks were half of reading such a file)."""
        if key not in self.shared:
            self.shared[key] = compute()
        return cast(T, self.shared[key])

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.label}: {path}: {message}")

    def problems(
        self,
        path: str,
        found: list[InvalidSetting],
        skip: Sequence[InvalidSetting] = (),
    ) -> None:
        """Report range problems of a [breaker] or [retry] table, except those in `skip`."""
        known = {str(problem) for problem in skip}
        for problem in found:
            if str(problem) not in known:
                self.errors.append(f"{self.label}: {path}.{problem}")

    def secret(self, path: str, value: object) -> Secret | None:
        if not isinstance(value, str):
            self.error(path, f"must be a secret reference such as env:NAME (got {value!r})")
            return None
        try:
            return resolve(
                value, environ=self.environ, credentials_directory=self.credentials_directory
            )
        except SecretError as error:
            self.error(path, str(error))
            return None


class Table:
    """A TOML table being read: tracks its path and which keys were used."""

    def __init__(self, data: object, path: str, reader: Reader) -> None:
        self.path = path
        self.reader = reader
        self.used: set[str] = set()
        if data is not None and not isinstance(data, dict):
            reader.error(path, f"must be a table (got {type_name(data)})")
            data = {}
        self.data: dict[str, Any] = data or {}

    def at(self, key: str) -> str:
        if not _BARE_KEY.fullmatch(key):  # quoted as TOML would, so a message stays one line
            key = json.dumps(key)
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def table(self, key: str) -> Table:
        return Table(self.take(key), self.at(key), self.reader)

    def array(self, key: str) -> Iterator[Table]:
        """Each table of the array in turn: one read is let go before the next is made (the
        keys each looks up took 2 KB a table, 20 MB at 10,000 integrations, held to the end)."""
        value = self.take(key)
        if value is None:
            return iter(())
        if not isinstance(value, list):
            self.reader.error(self.at(key), f"must be an array of tables (got {type_name(value)})")
            return iter(())
        path = self.at(key)
        return (Table(item, f"{path}[{i}]", self.reader) for i, item in enumerate(value))

    def value(self, key: str, check: Callable[[Any], Any], default: Any) -> Any:
        """The converted value of `key` (or `default`); records the error if `check` fails."""
        if key not in self.data:
            self.used.add(key)
            return default
        raw = self.take(key)
        try:
            return check(raw)
        except (TypeError, ValueError) as error:
            self.reader.error(self.at(key), f"{error} (got {raw!r})")
            return default

    def finish(self, allowed: set[str] | None = None) -> None:
        """Report unknown keys (with a suggestion when one is close)."""
        known = self.used if allowed is None else allowed | self.used
        for key in self.data:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.reader.error(self.at(key), f"unknown key{hint}")


def type_name(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def string(choices: tuple[str, ...] | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        if choices is not None and value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def whole(minimum: int, maximum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("must be a whole number")
        if not minimum <= value <= maximum:
            raise ValueError(f"must be from {minimum} to {maximum}")
        return value

    return check


def number_above(minimum: float, maximum: float, what: str = "number") -> Callable[[Any], float]:
    """A number (`what`, as the message names it) > `minimum` and at most `maximum`."""

    def check(value: Any) -> float:
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if not number or not minimum < value <= maximum:
            raise ValueError(f"must be a {what} > {minimum:g}, at most {maximum:g}")
        return float(value)

    return check


def timezone(value: Any) -> str:
    """An IANA time zone's name."""
    name = string()(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError('is not an IANA time zone such as "Europe/Berlin" or "UTC"') from None
    return name


def duration(maximum: float) -> Callable[[Any], float]:
    """A duration > 0 and at most `maximum` seconds."""

    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be a duration > 0")
        if seconds > maximum:
            raise ValueError(f"must be at most {format_duration(maximum)}")
        return seconds

    return check


def url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a URL string")
    if not re.match(r"https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


TIMEOUT = duration(HOUR)


def file_path(value: Any, reader: Reader, path: Path) -> Path:
    """A file path (relative to the config file), or `credential:NAME` for a systemd
    credential, so a private key can be handed to a DynamicUser service."""
    text = string()(value)
    if text.startswith("credential:"):
        name = text.removeprefix("credential:")
        directory = reader.credentials_directory or reader.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError("credential: needs $CREDENTIALS_DIRECTORY, which systemd sets")
        return Path(directory) / name
    if not text:
        raise ValueError("must be a file path")
    file = Path(text)
    return file if file.is_absolute() else path.parent / file
