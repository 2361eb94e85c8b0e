"""What reaches a terminal or the journal carries no control character, whoever wrote it:
the log lines, the status table, the console alerts."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from alerts.messages import Message
from alerts.sinks.console import ConsoleSink
from daemon import logs
from daemon.status import format_silences, format_table
from probes.redact import Redactor

EVIL = (
    "HTTP 500: \x1b[2J\x1b]0;pwned\x07owned\nFORGED 2026-01-01 INFO breakerwatch: all good\r\u202e"
)
SECRET = "kitkey-0123456789-SECRET"


def test_a_log_message_is_one_line_and_a_traceback_keeps_its_lines() -> None:
    for fmt in ("text", "json"):
        stream = io.StringIO()
        handler = logs.configure("info", fmt, Redactor([SECRET]), stream)
        try:
            logging.getLogger("breakerwatch").warning("kit: %s (key %s)", EVIL, SECRET)
            try:
                raise ValueError(f"bad\x1b[31m {SECRET}")
            except ValueError:
                logging.getLogger("breakerwatch").exception("a bug")
        finally:
            logging.getLogger().removeHandler(handler)
        output = stream.getvalue()
        assert "\x1b" not in output
        assert "\x07" not in output
        assert "\u202e" not in output
        assert SECRET not in output
        if fmt == "text":
            first, second = output.split("\n")[:2]
            assert first.endswith("kit: HTTP 500: [2J]0;pwnedowned FORGED 2026-01-01 INFO "
                                  "breakerwatch: all good  (key [REDACTED])")  # fmt: skip
            assert second.endswith("ERROR breakerwatch: a bug")
            assert "Traceback (most recent call last):" in output
        else:
            lines = [json.loads(line) for line in output.splitlines()]
            assert "\n" not in lines[0]["msg"]
            assert lines[1]["exception"].startswith("Traceback (most recent call last):\n")


def test_the_status_table_shows_no_escape_sequence() -> None:
    status = {
        "summary": "1 integrations: 1 open",
        "trouble": f"this process has too many open files (EMFILE){EVIL}",
        "integrations": [
            {"name": "kit", "kind": "convertkit", "state": "forced_open", "since": 0.0,
             "consecutive_failures": 3, "open_until": None, "silenced": EVIL,
             "last_probe": {"outcome": "failure", "at": 0.0, "latency": 0.1, "detail": EVIL},
             "override": {"mode": "forced_open", "by": "alice\x1b[31m", "reason": EVIL,
                          "at": 0.0},
             "vendor": {"page": "https://status.kit.com", "indicator": "major", "problem": None,
                        "degraded": [["Forms" + EVIL, "partial_outage"]],
                        "incidents": [{"name": EVIL, "impact": "major", "status": "identified",
                                       "created_at": 0.0, "link": "https://stspg.io/x"}]}},
        ],
        "alerts": {},
    }  # fmt: skip
    table = format_table(status, 60.0)
    assert "\x1b" not in table
    assert "\r" not in table
    assert "held: kit forced open by alice[31m 1m ago: HTTP 500:" in table
    assert "vendor: kit's status page says major" in table
    assert table.count("\n") == 10  # header, one row, a blank, and seven footer lines
    silences = format_silences(
        [{"id": 1, "integration": "kit", "ends_at": 120.0, "by": "local", "reason": EVIL}], 60.0
    )
    assert "\x1b" not in silences
    assert silences.count("\n") == 2


def test_a_console_alert_keeps_its_lines_and_loses_escapes() -> None:
    stream = io.StringIO()
    asyncio.run(ConsoleSink(stream).post(Message(f"kit is failing\nWhat failed: {EVIL}")))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "ALERT kit is failing"
    assert lines[1].startswith("      What failed: HTTP 500: [2J]0;pwnedowned")
    assert lines[2].rstrip() == "      FORGED 2026-01-01 INFO breakerwatch: all good"
    assert "\x1b" not in stream.getvalue()
