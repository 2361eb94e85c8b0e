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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from alerts.messages import Message, render
from alerts.model import Notice
from alerts.outbox import Delivery, Outbox
from alerts.policy import Policy
from alerts.sinks import FailureReason, Sink, SinkError, SinkStats
from probes.retry import capped_exponential

__all__ = ["Alerter"]

logger = logging.getLogger("breakerwatch.alerts")

TICK = 1.0
BASE_BACKOFF = 1.0
MAX_BACKOFF = 60.0
CONFIG_BACKOFF = 300.0
_CONFIG = (FailureReason.AUTH, FailureReason.CHANNEL)


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
        self.stats = {sink.name: SinkStats() for sink in sinks}
        self._wall = wall
        self._decided = decided  # told after each decision (the Alertmanager sink looks then)
        self._wake = asyncio.Event()
        self._paused: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # consecutive failed sends per sink
        self._payload_refused: set[int] = set()  # deliveries to retry once as plain text
        self._stopped = False

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
        while self._paused.get(name, 0.0) <= self._wall():
            due = self.outbox.due(name, self._wall())
            if not due:
                return
            for delivery in due:
                if self._stopped or not await self._deliver(name, sink, delivery):
                    return
        self.stats[name].depth = self.outbox.depth(name)

    async def _deliver(self, name: str, sink: Sink, delivery: Delivery) -> bool:
        """Send one delivery; False if the sink is now paused."""
        stats = self.stats[name]
        if delivery.unknown:
            logger.warning(
                "%s: sending a %s notice for %s again: an earlier attempt was cut off before "
                "Slack's answer was recorded, so it may show twice",
                name, delivery.notice.kind, delivery.thread,
            )  # fmt: skip
        self.outbox.attempt(delivery)
        try:
            await self._send(name, sink, delivery, plain=delivery.id in self._payload_refused)
        except SinkError as error:
            return self._failed(name, delivery, error)
        self.outbox.delivered(delivery, self._wall())
        self._payload_refused.discard(delivery.id)
        self._failures[name] = 0
        stats.sent += 1
        stats.depth = self.outbox.depth(name)
        return True

    def _failed(self, name: str, delivery: Delivery, error: SinkError) -> bool:
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
            self.outbox.retry_later(delivery, now, str(error))
            return True
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        cap = CONFIG_BACKOFF if error.reason in _CONFIG else MAX_BACKOFF
        backoff = capped_exponential(BASE_BACKOFF, 2.0, failures - 1, cap)
        if error.retry_after is not None:
            backoff = max(
                backoff if error.reason is not FailureReason.RATE_LIMITED else 0.0,
                error.retry_after,
            )
        until = now + backoff
        self._paused[name] = until
        self.outbox.retry_later(delivery, until, str(error))
        depth = self.outbox.depth(name)
        stats.depth = depth
        hint = {
            FailureReason.AUTH: "; check the token or webhook URL in [alerts.slack]",
            FailureReason.CHANNEL: "; check [alerts.slack] channel and that the bot is in it",
        }.get(error.reason, "")
        log = logger.error if error.reason in _CONFIG else logger.warning
        log(
            "%s: cannot deliver (%s)%s; %d notification%s waiting, next try in %s",
            name, error, hint, depth, "" if depth == 1 else "s", _seconds(backoff),
        )  # fmt: skip
        return False

    async def _send(self, name: str, sink: Sink, delivery: Delivery, *, plain: bool) -> None:
        rendered = render(delivery.notice, self.dashboard_url)

        def shape(message: Message) -> Message:
            return Message(message.text) if plain else message

        if not sink.edits:
            if rendered.standalone is not None:
                await sink.post(shape(rendered.standalone))
            return
        where = self.outbox.thread_ts(name, delivery.thread)
        if rendered.parent is not None:
            if where is None:
                where = await sink.post(shape(rendered.parent))
                self.outbox.save_thread(name, delivery.thread, *where)  # before anything else
            else:
                try:
                    await sink.update(where, shape(rendered.parent))
                except SinkError as error:
                    if error.reason is not FailureReason.GONE:
                        raise
                    # Someone deleted the message: start the thread again.
                    where = await sink.post(shape(rendered.parent))
                    self.outbox.save_thread(name, delivery.thread, *where)
        if rendered.reply is not None and where is not None:
            await sink.post(shape(rendered.reply), thread=where)


def _seconds(value: float) -> str:
    return f"{math.ceil(value)}s"
