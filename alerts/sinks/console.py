"""The console sink: each notice's standalone text, one block of lines, on a stream.

Its lines go to a terminal or the journal, so they carry no control characters, whatever
a vendor or an operator wrote."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.messages import Message
from alerts.stamp import Stamp
from probes.text import printable

__all__ = ["ConsoleSink"]


class ConsoleSink:
    name = "console"
    edits = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def post(
        self,
        message: Message,
        thread: tuple[str, str] | None = None,
        stamp: Stamp | None = None,
    ) -> tuple[str, str]:
        stream = self._stream or sys.stdout
        lines = printable(message.text, newlines=True).split("\n")
        stream.write("ALERT " + lines[0] + "".join(f"\n      {line}" for line in lines[1:]) + "\n")
        stream.flush()
        return "", ""

    async def update(
        self, where: tuple[str, str], message: Message, stamp: Stamp | None = None
    ) -> None:
        raise NotImplementedError("the console cannot edit")

    async def aclose(self) -> None:
        pass
