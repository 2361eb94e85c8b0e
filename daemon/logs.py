"""Logging: one line per event, as text or JSON (for journald and Loki), secrets redacted.

A message is one line whatever it quotes: control characters from a vendor's text or an
operator's reason are dropped and line breaks become spaces, so nobody can forge a log
line or send escape sequences to the terminal that reads the journal. A traceback (ours)
keeps its lines, stripped of the rest.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

from probes.redact import Redactor
from probes.text import printable

__all__ = ["FIELDS", "configure"]

_QUIET = ("httpx", "httpcore", "apscheduler", "asyncio", "aiohttp")  # per-request noise

# Facts a record may carry (`extra=`), each its own key in a JSON line, so Loki or jq can
# select on them: names and closed sets of our own, never text from outside.
FIELDS = ("integration", "from_state", "to_state", "cause", "reason")


class _Redacting(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(self.redact(record.getMessage()))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = printable(self.redact(record.exc_text), newlines=True)
        return True


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = str(value)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line)


def configure(
    level: str, fmt: str, redact: Redactor, stream: TextIO = sys.stdout
) -> logging.Handler:
    """Send every log record to `stream`, redacted; returns the handler (to swap on reload)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_Redacting(redact))
    if fmt == "json":
        handler.setFormatter(_Json())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        formatter.converter = time.gmtime
        formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
        formatter.default_msec_format = "%s.%03dZ"
        handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
