"""Exactly once to Slack, window by window: the real outbox over a real SQLite file, the
real slack-sdk client, the fake Slack on loopback acting and then letting the client down.

For every window where a post's fate is unknown (a crash after Slack acted and before our
commit; a connection dropped after acting; a timeout after acting; a 5xx after acting) and
the two where it never acted (a connection dropped before acting, a hang that ends in a
503), 50 seeded runs, each meeting the window at the thread's message or at the recovery's
reply: one message per incident, never two, never none; the recovery an edit of it plus
one thread reply; each unsure resend looked up once and adopted when it was there."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from alerts.model import EventKind
from alerts.sinks.slack import SlackSink
from alerts.stamp import Stamp
from tests.alerts.world import TOKEN, World
from tests.fakes.slack import FakeSlack

RUNS = 50
ACTED = ("crash", "acted_disconnect", "acted_stall", "acted_5xx")  # Slack posted it
NOT_ACTED = ("disconnect", "stall")  # Slack did not
STALLS = ("acted_stall", "stall")  # where the client's timeout ends the attempt
SHORT = 0.1  # the client's timeout in those, so a stall is a timeout soon


def bot(slack: FakeSlack, identity: str, timeout: float = 10) -> SlackSink:
    return SlackSink(TOKEN, "#integrations", slack.api_url, identity=identity, timeout=timeout,
                     settle=30)  # fmt: skip


def started(directory: Path, slack: FakeSlack, identity: str = "d", timeout: float = 10) -> World:
    """A world whose Slack sink has read the channel, as after the daemon's start."""
    world = World(directory, [bot(slack, identity, timeout)])
    world.step()
    return world


def meet(world: World, slack: FakeSlack, window: str, *, second: bool) -> None:
    """One turn whose post (the turn's `second` request, after an edit) meets `window`."""
    lead = ("healthy",) if second else ()
    if window == "crash":
        held = slack.held
        slack.fail_next(*lead, "hold")
        world.crash_during_step(lambda: slack.held > held)  # Slack acted; we die unanswered
        slack.release()
        slack.rearm()
        world.restart([bot(slack, world.sinks[0].identity)])  # type: ignore[attr-defined]
        return
    slack.fail_next(*lead, window)
    if window in STALLS:
        world.step()  # the client gives up after its timeout
        slack.release()
        slack.rearm()
    else:
        world.step()


def drain(world: World, slack: FakeSlack) -> None:
    """Turns, a backoff apart (past the settle time), until the outbox is empty. Before each,
    Slack finishes what it received: the settle time's real seconds, which the world's
    clock skips (a loaded machine can leave a request in flight past the client's timeout)."""
    for _ in range(20):
        slack.settle()
        world.step(120)
        if world.rows("SELECT COUNT(*) FROM deliveries WHERE done_at IS NULL") == [(0,)]:
            return
    raise AssertionError("the outbox never drained")


@pytest.mark.parametrize("window", ACTED + NOT_ACTED)
def test_fifty_runs_per_window_one_message_per_incident(tmp_path: Path, window: str) -> None:
    with FakeSlack(rate=1000.0, burst=1000) as slack:  # no 429 in the way: windows only
        fifty_runs(tmp_path, slack, window)


def fifty_runs(tmp_path: Path, slack: FakeSlack, window: str) -> None:
    for seed in range(RUNS):
        chance = random.Random(f"{window}-{seed}")
        name = f"vendor-{seed}"
        timeout = SHORT if window in STALLS else 10
        world = started(tmp_path / str(seed), slack, f"daemon-{seed}", timeout)
        at_reply = chance.random() < 0.5  # the window meets the recovery's reply instead
        world.event(EventKind.OPENED, name)
        if not at_reply:
            meet(world, slack, window, second=False)
        drain(world, slack)
        world.event(EventKind.CLOSED, name, after=chance.uniform(60, 7200))
        if at_reply:
            meet(world, slack, window, second=True)  # the edit goes through, the reply not
        drain(world, slack)
        told = [m for m in slack.top_level() if (m.text or "").startswith(f"{name} ")]
        assert len(told) == 1, (seed, at_reply, [m.text for m in told])
        (message,) = told
        assert (message.text or "").startswith(f"{name} recovered"), (seed, message.text)
        assert message.edits, seed  # the recovery edited the message
        replies = slack.replies(message.ts)
        assert [(r.text or "").split(" after")[0] for r in replies] == ["Recovered"], seed
        looked = world.alerter.stats["slack"].lookups
        # Looked up, and found where Slack acted; never unsure. (A request of the run that
        # a loaded machine makes time out too is looked up as well, and taken where found.)
        assert looked.get("found" if window in ACTED else "absent", 0) >= 1, (seed, looked)
        assert "unsure" not in looked, (seed, looked)
        world.store.close()


def test_every_message_carries_its_stamp(tmp_path: Path, slack: FakeSlack) -> None:
    world = started(tmp_path, slack, "host-a:/var/lib/breakerwatch")
    world.event(EventKind.OPENED)
    world.step()
    world.event(EventKind.CLOSED, after=60)
    world.step()
    (message,) = slack.top_level()
    (reply,) = slack.replies(message.ts)
    parent = Stamp.read({"metadata": message.metadata})
    assert parent is not None
    assert (parent.daemon, parent.part, parent.subject, parent.kind) == (
        "host-a:/var/lib/breakerwatch", "parent", "mailchimp", "outage",
    )  # fmt: skip
    assert parent.open is False  # the recovery's edit closed it
    assert len(parent.id) == 32  # a random UUID, minted with the delivery
    posted = Stamp.read({"metadata": slack.calls("chat.postMessage")[0].payload["metadata"]})
    assert posted is not None
    assert posted.open is True  # as first posted
    stamp = Stamp.read({"metadata": reply.metadata})
    assert stamp is not None
    assert stamp.part == "reply"
    assert stamp.id != parent.id  # the reply is the recovery delivery's


def test_without_the_history_scope_it_is_at_least_once_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlack(history_scope=False) as slack:
        world = started(tmp_path, slack, "d")
        assert world.alerter.stats["slack"].exactly_once is False
        assert "at least once, not exactly once" in caplog.text
        assert "add channels:history (groups:history for a private channel)" in caplog.text
        world.event(EventKind.OPENED)
        meet(world, slack, "acted_disconnect", second=False)
        drain(world, slack)
        assert len(slack.top_level()) == 2  # the old bound: at most once more per window
        assert "may show twice" in caplog.text
        assert world.alerter.stats["slack"].lookups == {"unsure": 1}


def test_when_threads_cannot_be_read_a_reply_is_at_least_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """conversations.replies refused (Slack's page says a bot token may be): the thread's
    message is still found, its reply sent again with a warning."""
    with FakeSlack(replies_scope=False) as slack:
        world = started(tmp_path, slack, "d")
        world.event(EventKind.OPENED)
        meet(world, slack, "acted_5xx", second=False)
        drain(world, slack)
        world.event(EventKind.CLOSED, after=60)
        meet(world, slack, "acted_5xx", second=True)
        drain(world, slack)
        (message,) = slack.top_level()
        assert len(slack.replies(message.ts)) == 2
        assert "conversations.replies" in caplog.text
        assert world.alerter.stats["slack"].lookups == {"found": 1, "unsure": 1}
        assert world.alerter.stats["slack"].exactly_once is False


def test_a_channel_the_bot_cannot_find_by_name_is_named_by_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlack(list_scope=False) as slack:
        world = started(tmp_path, slack, "d")
        assert world.alerter.stats["slack"].exactly_once is False
        assert "give its ID (C0123ABCD) as [alerts.slack] channel, or add channels:read" in (
            caplog.text
        )
        listed = len(slack.calls("conversations.list"))
        by_id = SlackSink(TOKEN, slack.channels["#integrations"], slack.api_url, identity="d")
        world.restart([by_id])
        world.step()
        assert world.alerter.stats["slack"].exactly_once is True
        assert len(slack.calls("conversations.list")) == listed  # an ID needs no list


def test_a_lost_state_takes_up_the_open_incident_and_the_recovery_edits_it(
    tmp_path: Path, slack: FakeSlack
) -> None:
    world = started(tmp_path / "state", slack, "host-a")
    world.event(EventKind.OPENED)
    world.step()
    (message,) = slack.top_level()
    world.store.close()
    shutil.rmtree(tmp_path / "state")  # the state directory is gone
    world = World(tmp_path / "state", [bot(slack, "host-a")])
    world.event(EventKind.OPENED, after=90)  # the breaker opens again after the restart
    world.step()
    assert slack.top_level() == [message]  # taken up, not announced again
    assert len(message.edits) == 1
    world.event(EventKind.CLOSED, after=600)
    world.step()
    (resolved,) = slack.top_level()
    assert (resolved.text or "").startswith("mailchimp recovered")
    assert len(slack.replies(message.ts)) == 1
    assert world.alerter.stats["slack"].lookups == {"adopted": 1}
    stamp = Stamp.read({"metadata": resolved.metadata})
    assert stamp is not None
    assert stamp.open is False


def test_another_daemons_open_incident_is_never_taken(tmp_path: Path, slack: FakeSlack) -> None:
    first = started(tmp_path / "a", slack, "host-a")
    first.event(EventKind.OPENED)
    first.step()
    second = World(tmp_path / "b", [bot(slack, "host-b")])  # shares the channel
    second.event(EventKind.OPENED)
    second.step()
    assert len(slack.top_level()) == 2
    assert second.alerter.stats["slack"].lookups == {}


def test_a_forgotten_incident_not_seen_again_is_closed_with_a_line(
    tmp_path: Path, slack: FakeSlack
) -> None:
    world = started(tmp_path / "state", slack, "host-a")
    world.event(EventKind.OPENED)
    world.step()
    world.store.close()
    shutil.rmtree(tmp_path / "state")
    world = World(tmp_path / "state", [bot(slack, "host-a")])
    world.step()  # it learns of the open incident
    world.step(1801)  # nothing took it up within ADOPT_WITHIN
    (message,) = slack.top_level()
    assert (message.text or "").startswith("mailchimp's outage incident: no longer followed")
    stamp = Stamp.read({"metadata": message.metadata})
    assert stamp is not None
    assert stamp.open is False
    world.event(EventKind.OPENED, after=60)  # a new incident later is a new message
    world.step()
    assert len(slack.top_level()) == 2
