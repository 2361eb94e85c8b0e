"""The stamp every message to Slack carries, so it can be found again: pure.

A stamp rides in the message's `metadata` (Slack's `event_type` and `event_payload`, which
`conversations.history` and `conversations.replies` return with `include_all_metadata`).
It names the daemon that sent it (`daemon`: two daemons sharing a channel never take each
other's messages) and the outbox delivery that sent it (`id`, a random UUID minted with the
delivery, before its first attempt: unique even across a lost state file). A thread's first
message (`part` "parent") also says what it is about (`subject`, `kind`) and whether it is
still open, so that after a lost state file an incident Slack still shows open is taken
up again instead of announced twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from alerts.model import Notice, NoticeKind

__all__ = ["EVENT_TYPE", "Stamp", "is_open", "parent_stamp"]

EVENT_TYPE = "breakerwatch_alert"
_CLOSED = (NoticeKind.RESOLVED, NoticeKind.STABLE, NoticeKind.SILENCE_ENDED, NoticeKind.TEST)


@dataclass(frozen=True, slots=True)
class Stamp:
    daemon: str
    id: str
    part: Literal["parent", "reply"] = "reply"
    subject: str = ""  # a parent's integration ("" for a storm)
    kind: str = ""  # a parent's incident kind
    open: bool = False  # a parent's incident is still open

    def metadata(self) -> dict[str, Any]:
        """The `metadata` argument of chat.postMessage and chat.update."""
        payload: dict[str, Any] = {"daemon": self.daemon, "id": self.id, "part": self.part}
        if self.part == "parent":
            payload.update(subject=self.subject, kind=self.kind, open=self.open)
        return {"event_type": EVENT_TYPE, "event_payload": payload}

    @classmethod
    def read(cls, message: Mapping[str, Any]) -> Stamp | None:
        """The stamp of a message as Slack returns it; None if it has none of ours."""
        metadata = message.get("metadata")
        if not isinstance(metadata, Mapping) or metadata.get("event_type") != EVENT_TYPE:
            return None
        payload = metadata.get("event_payload")
        if not isinstance(payload, Mapping):
            return None
        daemon, id_, part = payload.get("daemon"), payload.get("id"), payload.get("part")
        if not isinstance(daemon, str) or not isinstance(id_, str) or part not in _PARTS:
            return None
        subject, kind = payload.get("subject", ""), payload.get("kind", "")
        opened = payload.get("open") is True
        return cls(daemon, id_, _PARTS[part], str(subject), str(kind), opened)

    def same(self, other: Stamp) -> bool:
        """The same message: the same daemon, delivery and part."""
        return (self.daemon, self.id, self.part) == (other.daemon, other.id, other.part)


_PARTS: dict[Any, Literal["parent", "reply"]] = {"parent": "parent", "reply": "reply"}


def is_open(notice: Notice) -> bool:
    """Whether the thread is still open once `notice` is told."""
    return notice.kind not in _CLOSED


def parent_stamp(notice: Notice, daemon: str, id_: str) -> Stamp:
    """The stamp of a new thread's first message, posted for `notice`: about its subject's
    incident (a storm's is about none)."""
    subject = notice.subject if notice.kind is not NoticeKind.STORM else None
    if subject is None:
        return Stamp(daemon, id_, "parent", open=is_open(notice))
    return Stamp(daemon, id_, "parent", subject.integration, subject.kind.value, is_open(notice))
