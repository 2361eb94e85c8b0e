"""Untrusted text made inert: no control character reaches a log, a terminal or Slack."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.text import clip, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[2J\x1b[31mred\x1b[0m", "[2J[31mred[0m"),  # the escape goes, the letters stay
        ("one\ntwo\r\nthree\rfour", "one two three four"),
        ("tab\there", "tab here"),
        ("nul\x00bell\x07del\x7f", "nulbelldel"),
        ("c1\x85\x9bcsi", "c1csi"),
        ("user\u202eexe.txt", "userexe.txt"),  # a bidirectional override reorders a line
        ("isolate\u2066x\u2069", "isolatex"),
        ("line\u2028sep", "line sep"),
        ("émigré 名前 ✓", "émigré 名前 ✓"),  # letters of any script are not controls
    ],
)
def test_control_characters_go(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_newlines_stay_where_the_caller_allows_them() -> None:
    assert printable("a\r\nb\nc\rd\x1b[Ke", newlines=True) == "a\nb\nc d[Ke"


@given(st.text())
def test_nothing_printable_keeps_is_a_control(text: str) -> None:
    for character in printable(text):
        assert unicodedata.category(character) != "Cc"
    assert "\n" not in printable(text)


def test_clip_marks_the_cut() -> None:
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdefg", 6) == "abcde…"
    assert len(clip("x" * 1000, 300)) == 300
