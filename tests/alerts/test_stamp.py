"""The stamp in every Slack message's metadata: what it says, and what is read back."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.model import Facts, IncidentKind, Notice, NoticeKind
from alerts.stamp import EVENT_TYPE, Stamp, is_open, parent_stamp

FACTS = Facts("hubspot", IncidentKind.AUTH, 1_790_000_000.0)


def test_a_parent_says_what_it_is_about_and_whether_it_is_open() -> None:
    opened = parent_stamp(Notice(NoticeKind.OPENED, "hubspot#3", 0.0, FACTS), "host:/s", "ab")
    assert opened.metadata() == {
        "event_type": EVENT_TYPE,
        "event_payload": {"daemon": "host:/s", "id": "ab", "part": "parent",
                          "subject": "hubspot", "kind": "auth", "open": True},
    }  # fmt: skip
    assert Stamp.read({"metadata": opened.metadata()}) == opened
    resolved = Notice(NoticeKind.RESOLVED, "hubspot#3", 0.0, FACTS)
    assert parent_stamp(resolved, "d", "ab").open is False
    storm = Notice(NoticeKind.STORM, "kit#1", 0.0, FACTS, (FACTS,), count=3)
    assert parent_stamp(storm, "d", "cd").subject == ""  # a storm is about no one integration


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_only_endings_close_a_thread(kind: NoticeKind) -> None:
    endings = {NoticeKind.RESOLVED, NoticeKind.STABLE, NoticeKind.SILENCE_ENDED, NoticeKind.TEST}
    assert is_open(Notice(kind, "t", 0.0, FACTS)) is (kind not in endings)


def test_a_reply_names_its_delivery_only() -> None:
    reply = Stamp("d", "ef")
    assert reply.metadata()["event_payload"] == {"daemon": "d", "id": "ef", "part": "reply"}
    assert reply.same(Stamp("d", "ef"))
    assert not reply.same(Stamp("other", "ef"))
    assert not reply.same(Stamp("d", "ef", "parent"))


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        "text",
        {
            "event_type": "someone_else",
            "event_payload": {"daemon": "d", "id": "x", "part": "reply"},
        },
        {"event_type": EVENT_TYPE, "event_payload": "not an object"},
        {"event_type": EVENT_TYPE, "event_payload": {"daemon": 1, "id": "x", "part": "reply"}},
        {"event_type": EVENT_TYPE, "event_payload": {"daemon": "d", "id": "x", "part": "other"}},
    ],
)
def test_metadata_not_ours_is_no_stamp(metadata: Any) -> None:
    assert Stamp.read({"metadata": metadata}) is None


def test_only_a_true_open_is_open() -> None:
    payload = {"daemon": "d", "id": "x", "part": "parent", "subject": "s", "kind": "k"}
    for value in ("true", 1, "yes"):
        stamp = Stamp.read({"metadata": {"event_type": EVENT_TYPE,
                                         "event_payload": {**payload, "open": value}}})  # fmt: skip
        assert stamp is not None
        assert stamp.open is False
