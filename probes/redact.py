"""Removing secret values from text before it is logged, raised or shown."""

from __future__ import annotations

import base64
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from urllib.parse import quote

__all__ = ["REDACTED", "Redactor", "is_sensitive_header", "redact_records"]

REDACTED = "[REDACTED]"
_NONE: frozenset[str] = frozenset()

_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|session|password|signature", re.I)


def is_sensitive_header(name: str) -> bool:
    """Whether a header's value should be treated as a secret (Authorization, X-Api-Key ...)."""
    return bool(_SENSITIVE_HEADER.search(name))


def _forms(secret: str) -> Iterable[str]:
    """The secret and the encodings it commonly travels in."""
    yield secret
    yield quote(secret, safe="")
    yield base64.b64encode(secret.encode()).decode()
    if " " in secret:  # "Bearer xyz", "Basic abc=": the credential alone
        yield secret.split(" ", 1)[1]


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret containing another is replaced whole.
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


class Redactor:
    """Replaces every known secret value (and its URL and base64 forms) in a text."""

    __slots__ = ("__weakref__", "_pattern", "values")

    def __init__(
        self, secrets: Iterable[str] = (), headers: Mapping[str, str] | None = None
    ) -> None:
        values = {form for secret in secrets if secret for form in _forms(secret)}
        for name, value in (headers or {}).items():
            if value and is_sensitive_header(name):
                values.update(_forms(value))
        values.discard("")
        self.values = frozenset(values) if values else _NONE
        self._pattern = _pattern(self.values)

    def learn(self, secret: str) -> None:
        """Redact `secret` too from now on (an access token just issued), here and in the
        log records this redactor was registered for."""
        if not secret or secret in self.values:
            return
        self.values = frozenset({*self.values, *_forms(secret)} - {""})
        self._pattern = _pattern(self.values)
        with _registry_lock:
            redactions = list(_record_redactions.values())
        for redaction in redactions:
            redaction.renew(self)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def __repr__(self) -> str:
        return "Redactor(...)"


class _RecordRedaction(logging.Filter):
    """Rewrites records of one logger with the secrets of every live registered Redactor."""

    def __init__(self) -> None:
        super().__init__()
        self._redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.add(redactor)
            self._stale = True  # rebuilt at the next record, not once per client

    def renew(self, redactor: Redactor) -> None:
        """`redactor` learned a secret: rebuild at the next record if it is one of ours."""
        with self._lock:
            self._stale = self._stale or redactor in self._redactors

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            if self._stale:
                self._pattern = _pattern({v for r in self._redactors for v in r.values})
                self._stale = False
            pattern = self._pattern
        if pattern is not None:
            record.msg = pattern.sub(REDACTED, record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = pattern.sub(REDACTED, record.exc_text)
        return True


_record_redactions: dict[str, _RecordRedaction] = {}
_registry_lock = threading.Lock()


def redact_records(logger: str, redactor: Redactor) -> None:
    """Redact `redactor`'s secrets from every record logged on `logger` while it lives.

    For the loggers of libraries we call, which we cannot make redact: httpx logs each
    request's full URL, query string included, at INFO.
    """
    if not redactor.values:
        return
    with _registry_lock:
        redaction = _record_redactions.get(logger)
        if redaction is None:
            redaction = _record_redactions[logger] = _RecordRedaction()
            logging.getLogger(logger).addFilter(redaction)
    redaction.add(redactor)
