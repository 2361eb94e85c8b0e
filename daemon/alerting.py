"""Alerts at run time: the alert loop over the outbox, the Alertmanager sink, silences and
maintenance windows, their counters (rebuilt by a reload, counters kept); and `breakerwatch
test-alert`.

Everything the daemon has to say goes through `AlertRuntime.queue` as an `Event`: written
to the state file, then the alert loop wakes. With no `[alerts]`, nothing is queued.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import sqlite3
import time
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any, TextIO

from alerts.alertmanager import ALERTNAMES, Alert, Ledger
from alerts.engine import Alerter
from alerts.messages import duration, render
from alerts.model import (
    AlertSettings,
    Event,
    EventKind,
    Facts,
    Failure,
    IncidentKind,
    Notice,
    NoticeKind,
)
from alerts.outbox import Outbox
from alerts.policy import Hold, Policy
from alerts.silences import ALL, MaintenanceWindow, Silence, Silences
from alerts.sinks import Reconciling, Sink, SinkError, SinkStats
from alerts.sinks.alertmanager import AlertmanagerSink, channel_name, push
from alerts.sinks.console import ConsoleSink
from daemon.config import AlertmanagerConfig, AlertsConfig, parse_duration
from daemon.state import StateStore
from probes.http import new_client
from probes.outbound import Outbound

__all__ = ["AlertRuntime", "build_sinks", "identity", "test_alert"]

logger = logging.getLogger("breakerwatch")

TEST_FOR = 300.0  # seconds a test alert fires in Alertmanager


class AlertRuntime:
    """What `[alerts]` asks for, running: `watched()` says which integrations this replica
    probes (Alertmanager hears only of theirs)."""

    def __init__(
        self,
        store: StateStore,
        watched: Callable[[], Container[str]],
        *,
        wall: Callable[[], float],
        console: TextIO,
        outbound: Outbound,
    ) -> None:
        self.outbox = Outbox(store)
        self.outbound = outbound
        self.alerter: Alerter | None = None
        self.alertmanager: AlertmanagerSink | None = None
        self.settings = AlertSettings()
        self._store = store
        self._watched = watched
        self._wall = wall
        self._console = console
        self._pushing: asyncio.Future[None] | None = None
        self._silences = Silences((), ())
        self._windows: tuple[MaintenanceWindow, ...] = ()

    def configure(self, config: AlertsConfig | None) -> None:
        """Build (or rebuild, on reload) the alerter; pending notices stay in the outbox."""
        self.settings = config.settings if config is not None else AlertSettings()
        self._windows = config.maintenance if config is not None else ()
        self._refresh_silences()
        if self.alerter is not None:
            self.alerter.stop()
        previous = self.sink_stats()
        self._configure_alertmanager(config.alertmanager if config is not None else None)
        if config is None:
            self.alerter = None
            return
        if config.slack is not None and config.slack.webhook_url is not None:
            logger.warning("slack: notices are delivered at least once, not exactly once: a "
                           "webhook cannot look up what it sent (a bot token can)")  # fmt: skip
        wake = self.alertmanager.wake if self.alertmanager is not None else (lambda: None)
        sinks = build_sinks(config, self.outbound, self._console,
                            identity(config, self._store.path.parent))  # fmt: skip
        self.alerter = Alerter(
            self.outbox, sinks, Policy(config.settings),
            self.silenced, wall=self._wall, dashboard_url=config.settings.dashboard_url,
            decided=wake,
        )  # fmt: skip
        for stats in (self.alerter.stats, self.alertmanager.stats if self.alertmanager else {}):
            for name in stats.keys() & previous.keys():  # counters never go back
                stats[name] = previous[name]

    async def run(self) -> None:
        """The alert loop, re-entered after a reload replaces it; until cancelled."""
        while True:
            alerter = self.alerter
            if alerter is None:
                await asyncio.sleep(1.0)
                continue
            await alerter.run()

    async def stop(self) -> None:
        """Stop telling Alertmanager (it keeps our alerts until their endsAt)."""
        if self._pushing is not None:
            self._pushing.cancel()
            await asyncio.gather(self._pushing, return_exceptions=True)

    # -- what the daemon says ------------------------------------------------------------

    @property
    def on(self) -> bool:
        """Whether anything is told at all (`[alerts]` is set)."""
        return self.alerter is not None

    def queue(self, event: Event) -> None:
        """Queue `event` for the policy and wake the alert loop (nothing without [alerts])."""
        if self.alerter is None:
            return
        try:
            self._store.record_event(event)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot queue the alert: %s", event.integration, error)
            return
        self.alerter.wake()

    def wake(self) -> None:
        if self.alerter is not None:
            self.alerter.wake()

    def throttling(
        self, name: str, before: float | None, since: float | None, status: int | None
    ) -> None:
        """Tell the policy when 429s begin and end (it decides when that is an incident)."""
        if since is not None and before is None:
            failure = Failure("throttled", status or 429, None, "HTTP 429 Too Many Requests")
            self.queue(Event(name, EventKind.THROTTLING, since, failure))
        elif since is None and self.on and self.outbox.state.throttled(name):
            self.queue(Event(name, EventKind.THROTTLE_ENDED, self._wall()))

    def open_incidents(self, kind: IncidentKind) -> set[str]:
        """The integrations with an unresolved incident of `kind` (none with alerts off)."""
        if not self.on:
            return set()
        return {i.facts.integration for i in self.outbox.state.incidents.values()
                if i.facts.kind is kind}  # fmt: skip

    def end_unwatched(self) -> None:
        """End the open incidents of integrations this replica no longer probes."""
        if not self.on:
            return
        watched = self._watched()
        incidents = self.outbox.state.incidents.values()
        named = {i.facts.integration for i in incidents if i.facts.kind is not IncidentKind.LOCAL}
        for name in sorted(n for n in named if n not in watched):
            self.queue(Event(name, EventKind.RETIRED, self._wall()))

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        """The maintenance windows configured."""
        return self._windows

    # -- silences ------------------------------------------------------------------------

    def silenced(self, integration: str, now: float) -> str | None:
        """The reason of the silence or maintenance window covering `integration` now."""
        return self._silences.reason(integration, now)

    async def silences(self, action: str, **arguments: Any) -> tuple[int, Any]:
        """List, add or end silences: (HTTP status, JSON body)."""
        now = self._wall()
        if action == "add":
            name, by = arguments["integration"], arguments["by"]
            if name != ALL and name not in self._watched():
                return 404, {"error": f"no integration named {name!r} (use * for all)"}
            try:
                seconds = parse_duration(arguments["duration"])
            except ValueError as error:
                return 400, {"error": f"duration {error}"}
            longest = self.settings.max_silence
            if not 0 < seconds <= longest:
                limit = duration(longest)
                return 400, {
                    "error": f"a silence lasts more than 0s and at most {limit} "
                    "([alerts] max_silence)"
                }
            silence = self.outbox.add_silence(name, now, now + seconds, arguments["reason"], by)
            logger.info("silenced %s for %ds by %s: %s", name, seconds, by, silence.reason)
        elif action == "remove":
            if not self.outbox.end_silence(arguments["id"], now):
                return 404, {"error": f"no active silence with id {arguments['id']}"}
            logger.info("silence %d ended by %s", arguments["id"], arguments["by"])
        self._refresh_silences()
        self.wake()
        return 200, {"silences": [_silence_json(s) for s in self._silences.silences]}

    def _refresh_silences(self) -> None:
        self._silences = Silences(self.outbox.silences(self._wall()), self._windows)

    # -- counters and Alertmanager -------------------------------------------------------

    def sink_stats(self) -> dict[str, SinkStats]:
        """Every sink's counters: the alerter's, then each Alertmanager's."""
        stats = dict(self.alerter.stats) if self.alerter is not None else {}
        if self.alertmanager is not None:
            stats.update(self.alertmanager.stats)
        return stats

    def _configure_alertmanager(self, config: AlertmanagerConfig | None) -> None:
        """The Alertmanager sink, (re)started; its ledger kept while its labels stay."""
        old = self.alertmanager
        if old is not None and self._pushing is not None:
            self._pushing.cancel()
        self.alertmanager, self._pushing = None, None
        if config is None:
            return
        ledger = Ledger(config.resend_interval, dict(config.labels), ha=config.ha)
        if old is not None and (old.ledger.hold, old.ledger.extra) == (ledger.hold, ledger.extra):
            old.ledger.ha = config.ha
            ledger = old.ledger
        outbound, headers = _access(config, self.outbound)
        self.alertmanager = AlertmanagerSink(
            config.urls, ledger, self._open_incidents, resend_interval=config.resend_interval,
            wall=self._wall, timeout=config.timeout, outbound=outbound, headers=headers,
        )  # fmt: skip
        self._pushing = asyncio.ensure_future(self.alertmanager.run())

    def _open_incidents(self) -> dict[str, Facts]:
        """What Alertmanager hears: open incidents of the integrations this replica probes,
        except those a silence or maintenance window holds (as Slack would not hear of them).
        Operator holds and our own trouble are Prometheus rules' to tell (docs/monitoring.md)."""
        watched = self._watched()
        return {
            key: incident.facts
            for key, incident in self.outbox.state.incidents.items()
            if incident.facts.integration in watched
            and incident.held is not Hold.SILENCE
            and incident.facts.kind in ALERTNAMES
        }


def _silence_json(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "integration": silence.integration,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "reason": silence.reason,
        "by": silence.created_by,
    }


def identity(config: AlertsConfig | None, state_dir: Path) -> str:
    """The daemon's name in its Slack messages' stamps: `[alerts.slack] identity`, else this
    host and the state directory (two daemons sharing a channel never take up each other's
    messages; one that lost its state file finds its own again)."""
    named = config.slack.identity if config is not None and config.slack is not None else ""
    return named or f"{socket.gethostname()}:{state_dir.resolve()}"


def build_sinks(
    config: AlertsConfig, outbound: Outbound, console: TextIO | None = None, identity: str = ""
) -> list[Sink]:
    """The configured sinks; slack-sdk (4 MB of memory) is imported only for a Slack one."""
    sinks: list[Sink] = []
    slack = config.slack
    if slack is not None and slack.token is not None:
        from alerts.sinks.slack import SlackSink

        sinks.append(SlackSink(slack.token.reveal(), slack.channel, slack.base_url, outbound,
                               identity, settle=slack.settle))  # fmt: skip
    elif slack is not None and slack.webhook_url is not None:
        from alerts.sinks.webhook import WebhookSink

        sinks.append(WebhookSink(slack.webhook_url.reveal(), outbound))
    if config.console:
        sinks.append(ConsoleSink(console))
    return sinks


async def test_alert(config: AlertsConfig | None, outbound: Outbound, out: TextIO) -> int:
    """Send one test message through every configured sink; report each; 0 if all worked."""
    sinks = build_sinks(config, outbound, out) if config is not None else []
    alertmanager = config.alertmanager if config is not None else None
    if not sinks and alertmanager is None:
        out.write(
            "no alert sinks are configured: add [alerts] with console = true, "
            "[alerts.slack] with a token or webhook_url, or [alerts.alertmanager] with urls "
            "(see docs/alerts.md)\n"
        )
        return 1
    notice = Notice(NoticeKind.TEST, "test", time.time())
    message = render(notice).standalone
    assert message is not None
    failed = 0
    for sink in sinks:
        try:
            channel, _ = await sink.post(message)
            where = f" to {channel}" if channel else ""
            out.write(f"{sink.name}: sent{where}{await _guarantee(sink)}\n")
        except SinkError as error:
            failed += 1
            out.write(f"{sink.name}: FAILED: {error} ({error.reason})\n")
        finally:
            await sink.aclose()
    if alertmanager is not None:
        failed += await _test_alertmanager(alertmanager, outbound, out)
    return 1 if failed else 0


async def _guarantee(sink: Sink) -> str:
    """What `test-alert` says of how often a notice arrives through `sink`."""
    if isinstance(sink, Reconciling):
        await sink.prepare(time.time())
        if sink.exactly_once:
            return "; exactly once: an interrupted send is looked up before it is sent again"
        return f"; at least once, not exactly once: {sink.why_not}"
    if sink.name == "slack":  # not reconciling: the webhook
        return (
            "; at least once, not exactly once: a webhook cannot look up what it sent "
            "(use a bot token, docs/alerts.md)"
        )
    return ""


async def _test_alertmanager(config: AlertmanagerConfig, outbound: Outbound, out: TextIO) -> int:
    """A `BreakerwatchTest` alert to each Alertmanager; it resolves by itself (TEST_FOR)."""
    now = time.time()
    labels = (("alertname", "BreakerwatchTest"), ("severity", "info"), *config.labels)
    summary = "breakerwatch test alert: this Alertmanager receives and routes our alerts"
    alert = Alert(tuple(sorted(labels)), (("summary", summary),), now, now + TEST_FOR)
    failed = 0
    outbound, headers = _access(config, outbound)
    async with new_client(outbound.transport(), timeout=config.timeout) as http:
        http.headers.update(headers)
        for url in config.urls:
            try:
                await push(http, url, [alert.to_json(now, 0.0)])
            except SinkError as error:
                failed += 1
                out.write(f"{channel_name(url)}: FAILED: {error} ({error.reason})\n")
            else:
                out.write(f"{channel_name(url)}: sent BreakerwatchTest (resolves in 5 minutes)\n")
    return failed


def _access(config: AlertmanagerConfig, outbound: Outbound) -> tuple[Outbound, dict[str, str]]:
    """How to reach these Alertmanagers: the TLS to use (a client certificate and a CA of
    their own, if configured) and the Authorization header (basic auth or a bearer token)."""
    tls = config.tls
    if tls is not None:
        outbound = outbound.for_client(tls.cert_file, tls.key_file, tls.ca_file)
    if config.basic_auth is not None:
        user, password = config.basic_auth
        pair = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
        return outbound, {"Authorization": f"Basic {pair}"}
    if config.bearer_token is not None:
        return outbound, {"Authorization": f"Bearer {config.bearer_token.reveal()}"}
    return outbound, {}
