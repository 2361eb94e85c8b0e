"""Test helpers: a clock the test drives."""

from __future__ import annotations


class FakeClock:
    """A monotonic (or wall) clock that moves only when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
