"""The alert loop: decide (policy over the outbox), then send what is due, per sink, in order.

It runs as one asyncio task beside the probes and never blocks them: sends are awaited
network calls, the SQLite work is a few small transactions. `wake()` after queueing an
event makes the loop decide at once (alert latency is one loop turn plus Slack's round
trip); otherwise it wakes every `TICK` for what time alone decides (a storm window ending,
a silence ending, a reminder) and for retries.

Failures never lose a notice: it stays in the outbox and the sink pauses, for Slack's
Retry-After when given, else with exponential backoff (capped: `MAX_BACKOFF`, and
`CONFIG_BACKOFF` when the token or channel is wrong and only a person can fix it).
A message Slack refuses as such (its blocks, its length) is retried once as plain text,
then given up with an error log and counted, so one bad message cannot block the rest.

Exactly once, where the sink can look (`Reconciling`: Slack with a bot token): every
message carries its delivery's stamp, and a delivery whose earlier attempt's fate is
unknown (`Delivery.unsure_since`) waits until the sink's `settle` time has passed since
then (Slack may still be acting on it), then looks for each message it would send again
(the thread's message in the channel's history, a reply in the thread) and takes the one
found instead of sending it again. Before its first delivery the sink learns whether it
can look at all (`prepare`), and which open incidents of this daemon the channel already
shows: a thread the state no longer knows (it was lost, or restored from an old backup) is
taken up by the first notice about the same integration and incident kind within
`ADOPT_WITHIN` of that, instead of being announced again; one not taken up by then is
closed with a line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import replace

from alerts.messages import Message, orphaned, render
from alerts.model import Notice
from alerts.outbox import Delivery, Outbox
from alerts.policy import Policy
from alerts.sinks import FailureReason, Reconciling, Sink, SinkError, SinkStats
from alerts.stamp import Stamp, is_open, parent_stamp
from probes.retry import capped_exponential

__all__ = ["Alerter"]

logger = logging.getLogger("breakerwatch.alerts")

TICK = 1.0
BASE_BACKOFF = 1.0
MAX_BACKOFF = 60.0
CONFIG_BACKOFF = 300.0
_CONFIG = (FailureReason.AUTH, FailureReason.CHANNEL)
LOOK_BACK = 7 * 86400.0  # how far back a start looks for open incidents the state forgot
ADOPT_WITHIN = 1800.0  # how long after the start such an incident may be taken up again
_Thread = tuple[Stamp, tuple[str, str]]  # a thread's stamp and where its message is


class Alerter:
    def __init__(
        self,
        outbox: Outbox,
        sinks: list[Sink],
        policy: Policy,
        silenced: Callable[[str, float], str | None],
        *,
        wall: Callable[[], float],
        dashboard_url: str | None = None,
        decided: Callable[[], None] = lambda: None,
    ) -> None:
        self.outbox = outbox
        self.sinks = {sink.name: sink for sink in sinks}
        self.policy = policy
        self.silenced = silenced
        self.dashboard_url = dashboard_url
        self.stats = {
            sink.name: SinkStats(exactly_once=None if isinstance(sink, Reconciling) else False)
            for sink in sinks
        }
        self._wall = wall
        self._decided = decided  # told after each decision (the Alertmanager sink looks then)
        self._wake = asyncio.Event()
        self._paused: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # consecutive failed sends per sink
        self._payload_refused: set[int] = set()  # deliveries to retry once as plain text
        self._stopped = False
        # Per reconciling sink, once prepared: open threads of ours the state does not know,
        # newest first, and until when they may be taken up.
        self._orphans: dict[str, list[_Thread]] = {}
        self._adopt_until: dict[str, float] = {}
        self._prepare_at: dict[str, float] = {}  # when to try `prepare` again, after a failure
        self._prepare_tries: dict[str, int] = {}

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Make `run` return after its current step (a reload replaces this alerter)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Decide and send until cancelled or stopped."""
        self.outbox.prune(self._wall())
        while not self._stopped:
            self._wake.clear()
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end alerting; say so and go on
                logger.exception("the alert loop failed; retrying in %gs", TICK)
            await self._sleep()

    async def step(self) -> list[Notice]:
        """One turn: decide, then send everything due; the notices decided."""
        notices = self.decide()
        for name, sink in self.sinks.items():
            await self._drain(name, sink)
        return notices

    def decide(self) -> list[Notice]:
        names = tuple(self.sinks)
        notices = self.outbox.decide(self.policy, self._wall(), self.silenced, names)
        for notice in notices:
            logger.debug("notice %s on %s", notice.kind, notice.thread)
        for name in names:
            self.stats[name].depth = self.outbox.depth(name)
        self._decided()
        return notices

    async def _sleep(self) -> None:
        now = self._wall()
        wait = TICK
        for name in self.sinks:
            due = self.outbox.next_due(name)
            if due is not None:
                wait = min(wait, max(due, self._paused.get(name, 0.0)) - now)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, TICK))

    async def _drain(self, name: str, sink: Sink) -> None:
        if isinstance(sink, Reconciling) and not await self._ready(name, sink):
            return
        while self._paused.get(name, 0.0) <= self._wall():
            due = self.outbox.due(name, self._wall())
            if not due:
                return
            for delivery in due:
                if self._stopped or not await self._deliver(name, sink, delivery):
                    return
        self.stats[name].depth = self.outbox.depth(name)

    async def _ready(self, name: str, sink: Reconciling) -> bool:
        """Learn whether `sink` can look, and the open threads the state forgot (tried again
        with a backoff while Slack cannot be asked; sending goes on meanwhile, and only an
        unsure resend waits for it); close forgotten threads nobody took up in time. False
        while the sink is paused."""
        now = self._wall()
        if self._paused.get(name, 0.0) > now:
            return False
        if sink.exactly_once is None and self._prepare_at.get(name, 0.0) <= now:
            tries = self._prepare_tries.get(name, 0)
            try:
                found = await sink.prepare(now - LOOK_BACK)
            except SinkError as error:
                backoff = capped_exponential(BASE_BACKOFF, 2.0, tries, MAX_BACKOFF)
                self._prepare_at[name], self._prepare_tries[name] = now + backoff, tries + 1
                logger.warning("%s: cannot look at the channel yet (%s); trying again in %s",
                               name, error, _seconds(backoff))  # fmt: skip
                return True
            known = self.outbox.thread_stamps(name)
            self._orphans[name] = [(s, w) for s, w in found if s.open and s.id not in known]
            self._adopt_until[name] = self._wall() + ADOPT_WITHIN
            self.stats[name].exactly_once = sink.exactly_once
            if not sink.exactly_once:
                logger.warning("%s: notices are delivered at least once, not exactly once: %s",
                               name, sink.why_not)  # fmt: skip
        orphans = self._orphans.get(name)
        while orphans and self._wall() > self._adopt_until[name]:
            stamp, where = orphans[0]
            try:
                await sink.update(where, orphaned(stamp.subject, stamp.kind),
                                  replace(stamp, open=False))  # fmt: skip
            except SinkError as error:
                if error.reason is not FailureReason.GONE:
                    self._pause(name, error, "cannot close a forgotten incident's message")
                    return False
            orphans.pop(0)
        return True

    async def _deliver(self, name: str, sink: Sink, delivery: Delivery) -> bool:
        """Send one delivery; False if the sink is now paused."""
        stats = self.stats[name]
        since = delivery.unsure_since
        if (
            since is not None
            and isinstance(sink, Reconciling)
            and since + sink.settle > self._wall()
        ):
            # Slack may still be working on it: look only once it has had time to finish.
            self.outbox.retry_later(delivery, since + sink.settle, "settling", unsure=True)
            return True
        if delivery.unknown and not isinstance(sink, Reconciling):
            logger.warning(
                "%s: sending a %s notice for %s again: an earlier attempt was cut off before "
                "Slack's answer was recorded, so it may show twice",
                name, delivery.notice.kind, delivery.thread,
            )  # fmt: skip
        self.outbox.attempt(delivery, self._wall())
        # The messages an earlier, unsure attempt may have sent, until each is looked for.
        unsure = {"parent", "reply"} if delivery.unknown else set()
        try:
            await self._send(name, sink, delivery, unsure,
                             plain=delivery.id in self._payload_refused)  # fmt: skip
        except SinkError as error:
            return self._failed(name, delivery, error, unsure=error.uncertain or bool(unsure))
        self.outbox.delivered(delivery, self._wall())
        self._payload_refused.discard(delivery.id)
        self._failures[name] = 0
        stats.sent += 1
        stats.depth = self.outbox.depth(name)
        return True

    def _failed(self, name: str, delivery: Delivery, error: SinkError, *, unsure: bool) -> bool:
        stats = self.stats[name]
        stats.failed(error.reason)
        now = self._wall()
        if error.reason is FailureReason.PAYLOAD:
            if delivery.id in self._payload_refused:
                self._payload_refused.discard(delivery.id)
                self.outbox.delivered(delivery, now, outcome=f"refused: {error}")
                logger.error(
                    "%s: gave up one %s notice for %s: %s, also as plain text",
                    name, delivery.notice.kind, delivery.thread, error,
                )  # fmt: skip
                return True
            self._payload_refused.add(delivery.id)
            self.outbox.retry_later(delivery, now, str(error), unsure=unsure)
            return True
        until = self._pause(name, error, "cannot deliver")
        self.outbox.retry_later(delivery, until, str(error), unsure=unsure)
        return False

    def _pause(self, name: str, error: SinkError, what: str) -> float:
        """Pause `name` after a failure, for Retry-After or a backoff; says so; until when."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        cap = CONFIG_BACKOFF if error.reason in _CONFIG else MAX_BACKOFF
        backoff = capped_exponential(BASE_BACKOFF, 2.0, failures - 1, cap)
        if error.retry_after is not None:
            backoff = max(
                backoff if error.reason is not FailureReason.RATE_LIMITED else 0.0,
                error.retry_after,
            )
        until = self._wall() + backoff
        self._paused[name] = until
        depth = self.outbox.depth(name)
        self.stats[name].depth = depth
        hint = {
            FailureReason.AUTH: "; check the token or webhook URL in [alerts.slack]",
            FailureReason.CHANNEL: "; check [alerts.slack] channel and that the bot is in it",
        }.get(error.reason, "")
        log = logger.error if error.reason in _CONFIG else logger.warning
        log(
            "%s: %s (%s)%s; %d notification%s waiting, next try in %s",
            name, what, error, hint, depth, "" if depth == 1 else "s", _seconds(backoff),
        )  # fmt: skip
        return until

    async def _send(
        self, name: str, sink: Sink, delivery: Delivery, unsure: set[str], *, plain: bool
    ) -> None:
        rendered = render(delivery.notice, self.dashboard_url)

        def shape(message: Message) -> Message:
            return Message(message.text) if plain else message

        if not sink.edits:
            if rendered.standalone is not None:
                await sink.post(shape(rendered.standalone))
            return
        unsure.difference_update(
            part for part, message in (("parent", rendered.parent), ("reply", rendered.reply))
            if message is None
        )  # fmt: skip
        known = self.outbox.thread(name, delivery.thread)
        where, stamp = known if known is not None else (None, None)
        if rendered.parent is not None:
            if where is not None:
                # The thread's stamp as this notice leaves it (open or not).
                restamped = None if stamp is None else replace(stamp, open=is_open(delivery.notice))
                try:
                    await sink.update(where, shape(rendered.parent), restamped)
                except SinkError as error:
                    if error.reason is not FailureReason.GONE:
                        raise
                    where = None  # someone deleted the message: start the thread again
            if where is None:
                where = await self._open(name, sink, delivery, shape(rendered.parent), unsure)
        if rendered.reply is None or where is None:
            return
        reply = Stamp(sink.identity, delivery.stamp) if isinstance(sink, Reconciling) else None
        if isinstance(sink, Reconciling) and reply is not None and "reply" in unsure:
            found = await self._look(name, sink, delivery, reply, where)
            unsure.discard("reply")
            if found is not None:
                return
        await sink.post(shape(rendered.reply), thread=where, stamp=reply)

    async def _open(
        self, name: str, sink: Sink, delivery: Delivery, parent: Message, unsure: set[str]
    ) -> tuple[str, str]:
        """The thread's first message: found where an unsure attempt sent it, taken up from
        before a lost state, or posted; stored before anything else is sent."""
        if not isinstance(sink, Reconciling):
            where = await sink.post(parent)
            self.outbox.save_thread(name, delivery.thread, *where)
            return where
        stamp = parent_stamp(delivery.notice, sink.identity, delivery.stamp)
        found = None
        if "parent" in unsure:
            found = await self._look(name, sink, delivery, stamp, None)
            unsure.discard("parent")
        orphan = self._orphan(name, stamp) if found is None else None
        if orphan is not None:
            stamp, found = replace(orphan[0], open=stamp.open), orphan[1]
            await sink.update(found, parent, stamp)
            self._orphans[name].remove(orphan)
            self.stats[name].looked("adopted")
            logger.info("%s: took up the message of %s's open incident from before the "
                        "state was lost, instead of announcing it again", name,
                        stamp.subject)  # fmt: skip
        where = found or await sink.post(parent, stamp=stamp)
        self.outbox.save_thread(name, delivery.thread, *where, stamp)
        return where

    def _orphan(self, name: str, stamp: Stamp) -> _Thread | None:
        """The newest forgotten open thread about the same integration and incident kind."""
        if not stamp.subject or self._wall() > self._adopt_until.get(name, 0.0):
            return None
        return next(
            (
                o
                for o in self._orphans.get(name, ())
                if (o[0].subject, o[0].kind) == (stamp.subject, stamp.kind)
            ),
            None,
        )

    async def _look(
        self,
        name: str,
        sink: Reconciling,
        delivery: Delivery,
        stamp: Stamp,
        thread: tuple[str, str] | None,
    ) -> tuple[str, str] | None:
        """Where an unsure attempt's message is, if it is there (else it is sent again)."""
        assert delivery.unsure_since is not None
        lookup = await sink.find(stamp, delivery.unsure_since, thread)
        outcome = "found" if lookup.where else "absent" if lookup.sure else "unsure"
        self.stats[name].looked(outcome)
        self.stats[name].exactly_once = sink.exactly_once  # a refusal may have just said no
        what = "reply" if thread else "message"
        if lookup.where is not None:
            logger.info("%s: the %s notice's %s for %s was in Slack already (an attempt was "
                        "cut off before its answer): not sent again", name,
                        delivery.notice.kind, what, delivery.thread)  # fmt: skip
        elif not lookup.sure:
            logger.warning("%s: sending a %s notice's %s for %s again: an earlier attempt was cut "
                           "off and Slack cannot be looked at (%s), so it may show twice", name,
                           delivery.notice.kind, what, delivery.thread, lookup.why)  # fmt: skip
        return lookup.where


def _seconds(value: float) -> str:
    return f"{math.ceil(value)}s"
