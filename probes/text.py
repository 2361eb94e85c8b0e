"""Text from outside (a vendor's error body, an exception, an operator's reason) made inert.

Before such text reaches a log line, a terminal or a chat message it loses every control
character: C0 (but for a newline, where the caller allows one), DEL, C1, and the Unicode
controls that reorder what a terminal shows (bidirectional overrides and isolates). Tabs,
carriage returns, Unicode line and paragraph separators and disallowed newlines become a
space, so words stay apart; the rest are dropped. Pure functions, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["clip", "printable"]

# C0 but \t \n \r, DEL and C1, and the bidirectional embeddings, overrides and isolates.
_DROPPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile("\r\n|[\t\r\n\u2028\u2029]")
_SPACE_KEEPING_NEWLINES = re.compile("\r(?!\n)|[\t\u2028\u2029]")


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` without control characters; with `newlines`, line breaks stay (as `\\n`)."""
    if newlines:
        text = _SPACE_KEEPING_NEWLINES.sub(" ", text.replace("\r\n", "\n"))
    else:
        text = _SPACE.sub(" ", text)
    return _DROPPED.sub("", text)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"
