"""The daemon: the composition root that wires config, integrations, schedule, state,
metrics, endpoints and systemd together, and handles reload and shutdown.

Start-up: open the state, bind the address, build every integration with its breaker
restored from the state, start the schedule (a trial at once for any breaker whose open
period ended while we were down), serve, then tell systemd READY. A transition is
persisted (with its snapshot, in one transaction), counted, logged once, and plans the
trial when the breaker opens. SIGHUP reloads: a bad file keeps the old config; a good one
is applied by diff (an unchanged integration keeps everything; a changed one keeps its
breaker's state). SIGTERM or SIGINT: stop scheduling, let in-flight probes finish up to a
grace period, persist every breaker, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sqlite3
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from importlib.metadata import version
from typing import Any, TextIO

from alerts.alertmanager import ALERTNAMES, Ledger
from alerts.engine import Alerter
from alerts.messages import duration
from alerts.model import (
    AlertSettings,
    Event,
    EventKind,
    Facts,
    Failure,
    IncidentKind,
    Override,
    event_from_transition,
)
from alerts.outbox import Outbox
from alerts.policy import Hold, Policy
from alerts.silences import ALL, MaintenanceWindow, Silence, Silences
from alerts.sinks import SinkStats
from alerts.sinks.alertmanager import AlertmanagerSink
from daemon import logs
from daemon.access import exposure
from daemon.alerting import build_sinks
from daemon.config import (
    AlertmanagerConfig,
    AlertsConfig,
    Config,
    ConfigError,
    IntegrationConfig,
    load,
    parse_duration,
)
from daemon.integrations import Integration
from daemon.metrics import DaemonStats, ProbeStats, process_registry, render
from daemon.notify import Notifier
from daemon.scheduler import ProbeScheduler
from daemon.server import HttpServer, ListenError
from daemon.state import StateError, StateStore
from daemon.tls import TlsError
from probes import Breaker, BreakerSnapshot, Kind, State, Transition
from probes.adapters import ClientOptions
from probes.http import new_client
from probes.redact import Redactor
from probes.secrets import Secret
from probes.transport import AiohttpTransport

__all__ = ["Daemon"]

logger = logging.getLogger("breakerwatch")

HEARTBEAT_EVERY = 2.0  # seconds between scheduler heartbeats
HEARTBEAT_STALE = 10.0  # /healthz turns 503 (and the watchdog stops) after this
SHUTDOWN_GRACE = 10.0  # in-flight probes get this long to finish on SIGTERM
MAX_CONCURRENT_PROBES = 200
TROUBLE_QUIET = 30.0  # our own trouble is over after this long without a local failure
LOCAL = "breakerwatch"  # the name our own trouble goes by in alerts (its own incident kind)
_HELD = {State.FORCED_OPEN: "forced_open", State.DISABLED: "disabled"}


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        log_stream: TextIO = sys.stdout,
    ) -> None:
        self.config = config
        self._environ = environ
        self._clock = clock
        self._wall = wall
        self._log_stream = log_stream
        self.integrations: dict[str, Integration] = {}
        self.stats = DaemonStats(reload_successful=1, reload_success_at=wall())
        self.shard = config.daemon.shard  # fixed for the life of the process, like [daemon]
        self._standard = process_registry(str(self.shard))
        self._notifier = Notifier(environ)
        self._heartbeat = clock()
        self._ready = False
        self._stop = asyncio.Event()
        # One httpx client, so one connection pool and one TLS context (~19 ms to build), for
        # every integration: at 10,000 integrations, a client each costs 17 MB.
        self._http = new_client(AiohttpTransport(verify=ssl.create_default_context()))
        self._options: ClientOptions = {"http": self._http, "clock": clock, "wall": wall}
        self._background: set[asyncio.Task[Any]] = set()
        self.alerter: Alerter | None = None
        self.alertmanager: AlertmanagerSink | None = None
        self._pushing: asyncio.Future[None] | None = None
        self._silences = Silences((), ())
        self._windows: tuple[MaintenanceWindow, ...] = ()
        self._overrides: dict[str, tuple[Override, float]] = {}  # who holds which breaker
        self._trouble: tuple[str, float] | None = None  # (what, since) while we are in trouble
        self._trouble_last = 0.0  # monotonic time of the last local failure

    # -- life cycle ----------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 on a clean stop, 1 if start-up failed."""
        self._configure_logging(self.config)
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # first: a stop during start-up still counts
            self._loop.add_signal_handler(sig, self._stop.set)
        daemon = self.config.daemon
        try:
            self.store = StateStore.open(daemon.state_dir, wall=self._wall)
        except StateError as error:
            logger.error("cannot start: %s", error)
            return 1
        try:
            self.server = HttpServer(daemon, self, self._loop)
        except (ListenError, TlsError) as error:
            logger.error("cannot start: %s", error)
            self.store.close()
            return 1
        for note in exposure(daemon):
            logger.warning("%s", note)
        self._check_open_files()
        self._overrides = self.store.overrides()
        self.outbox = Outbox(self.store)
        self._configure_alerts(self.config.alerts)
        snapshots = self.store.snapshots()
        for config in self._mine(self.config):
            self._add(config, snapshots.get(config.name))
        self._end_unwatched()  # removed while we were down, or moved to another shard
        self.scheduler = ProbeScheduler(
            self._probe,
            missed=self._missed,
            started=self.stats.started,
            heartbeat=self._beat,
            heartbeat_every=HEARTBEAT_EVERY,
            concurrency=MAX_CONCURRENT_PROBES,
        )
        self.scheduler.start()
        for integration in self.integrations.values():
            self._schedule(integration)
        self.server.start()
        self._loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        self._ready = True
        logger.info(
            "breakerwatch %s started: %s; listening on %s",
            version("breakerwatch"), self._summary(), self.server.url,
        )  # fmt: skip
        self._notifier.ready(self._summary())
        watchdog = asyncio.ensure_future(self._watchdog())
        alerting = asyncio.ensure_future(self._alerting())
        trouble = asyncio.ensure_future(self._watch_trouble())
        await self._stop.wait()
        watchdog.cancel()
        trouble.cancel()
        await self._shutdown(alerting)
        return 0

    async def _alerting(self) -> None:
        """The alert loop, re-entered after a reload replaces it."""
        while True:
            alerter = self.alerter
            if alerter is None:
                await asyncio.sleep(1.0)
                continue
            await alerter.run()

    async def _shutdown(self, alerting: asyncio.Future[None]) -> None:
        self._notifier.stopping()
        logger.info("stopping: letting in-flight probes finish (up to %gs)", SHUTDOWN_GRACE)
        await self.scheduler.shutdown(grace=SHUTDOWN_GRACE)
        alerting.cancel()  # what is not sent yet stays in the outbox for the next start
        await asyncio.gather(alerting, return_exceptions=True)
        await self._stop_pushing()  # Alertmanager keeps our alerts until their endsAt
        for integration in self.integrations.values():
            self._persist_snapshot(integration)
            await integration.aclose()
        await self._http.aclose()
        self.server.close()
        self.store.close()
        logger.info("stopped")

    # -- integrations --------------------------------------------------------------------

    def _add(
        self,
        config: IntegrationConfig,
        snapshot: BreakerSnapshot | None,
        stats: ProbeStats | None = None,
    ) -> Integration:
        breaker = Breaker(
            config.name,
            config.breaker,
            clock=self._clock,
            wall=self._wall,
            listeners=[self._on_transition],
        )
        if snapshot is not None:
            breaker.restore(snapshot)
        integration = Integration(config, breaker, self._options, wall=self._wall, stats=stats)
        self.integrations[config.name] = integration
        return integration

    def _mine(self, config: Config) -> list[IntegrationConfig]:
        """The integrations this replica's shard probes (all of them when not sharded)."""
        return [c for c in config.integrations if self.shard.takes(c)]

    def _schedule(self, integration: Integration) -> None:
        config = integration.config
        spread = min(config.interval, max(1.0, len(self.integrations) / 300))
        self.scheduler.add(config.name, config.interval, spread=spread)
        remaining = integration.breaker.open_remaining
        if remaining is not None:  # restored open: the trial comes when the period ends
            self.scheduler.plan_trial(config.name, remaining)

    async def _probe(self, name: str) -> None:
        integration = self.integrations.get(name)
        if integration is not None:
            before = integration.stats.throttled_since
            result = await integration.probe()
            logger.debug("%s: %s", name, result.outcome.detail or result.outcome.kind)
            outcome = result.outcome
            if outcome.kind is Kind.LOCAL:
                self.local_failure(outcome.error or "local", outcome.detail)
            if self.alerter is not None:
                self._throttling(name, before, integration.stats.throttled_since, outcome.status)

    def local_failure(self, code: str, detail: str) -> None:
        """A probe (or the HTTP server) failed for want of our own resources: counted, never
        the vendor's; the first starts our own trouble (one log line, one alert), which ends
        after `TROUBLE_QUIET` seconds without another."""
        self.stats.failed_locally(code)
        self._trouble_last = self._clock()
        if self._trouble is not None:
            return
        now = self._wall()
        self._trouble = (detail, now)
        self.stats.local_trouble = 1
        logger.error(
            "breakerwatch itself is in trouble: %s; probes failing so are not counted against "
            "the vendors (LimitNOFILE and the connection cap: docs/operations.md)", detail,
        )  # fmt: skip
        failure = Failure("local", None, code, detail)
        self._alert(Event(LOCAL, EventKind.LOCAL_TROUBLE, now, failure))

    async def _watch_trouble(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            self._trouble_over()

    def _trouble_over(self) -> None:
        if self._trouble is None or self._clock() - self._trouble_last < TROUBLE_QUIET:
            return
        what, since = self._trouble
        self._trouble, self.stats.local_trouble = None, 0
        logger.info("breakerwatch is out of trouble (%s, since %.0fs ago)", what,
                    self._wall() - since)  # fmt: skip
        self._alert(Event(LOCAL, EventKind.LOCAL_TROUBLE_ENDED, self._wall()))

    def _check_open_files(self) -> None:
        """Warn when the open-file limit is below what this configuration can need."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = open_files_needed(len(self._mine(self.config)), self.config.daemon.max_connections)
        if soft != resource.RLIM_INFINITY and soft < needed:
            logger.warning(
                "the open-file limit is %d, below the %d that %d integrations and %d HTTP "
                "connections can need; raise LimitNOFILE (docs/operations.md)",
                soft, needed, len(self._mine(self.config)), self.config.daemon.max_connections,
            )  # fmt: skip

    def _throttling(
        self, name: str, before: float | None, since: float | None, status: int | None
    ) -> None:
        """Tell the policy when 429s begin and end (it decides when that is an incident)."""
        if since is not None and before is None:
            failure = Failure("throttled", status or 429, None, "HTTP 429 Too Many Requests")
            self._queue(Event(name, EventKind.THROTTLING, since, failure))
        elif since is None and self.outbox.state.throttled(name):
            self._queue(Event(name, EventKind.THROTTLE_ENDED, self._wall()))

    def _end_unwatched(self) -> None:
        """End the open incidents of integrations this replica no longer probes."""
        if self.alerter is None:
            return
        incidents = self.outbox.state.incidents.values()
        gone = {i.facts.integration for i in incidents if i.facts.kind is not IncidentKind.LOCAL}
        for name in sorted(gone - self.integrations.keys()):
            self._queue(Event(name, EventKind.RETIRED, self._wall()))

    def _alert(self, event: Event) -> None:
        """Queue `event` for the alert policy, when there is one ([alerts] is set)."""
        if self.alerter is not None:
            self._queue(event)

    def _queue(self, event: Event) -> None:
        try:
            self.store.record_event(event)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot queue the alert: %s", event.integration, error)
            return
        if self.alerter is not None:
            self.alerter.wake()

    def _missed(self, name: str) -> None:
        integration = self.integrations.get(name)
        if integration is not None:
            integration.stats.missed += 1
            logger.warning(
                "%s: a scheduled probe did not run on time (the daemon is overloaded?)", name
            )

    def _beat(self) -> None:
        self._heartbeat = self._clock()

    def _on_transition(self, event: Transition) -> None:
        integration = self.integrations.get(event.breaker)
        if integration is None:
            return
        integration.stats.transition(event)
        alert = None
        if self.alerter is not None:
            alert = event_from_transition(event, egress=integration.config.egress)
        try:
            self.store.record_transition(event, integration.breaker.snapshot(), alert)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist the transition: %s", event.breaker, error)
        if alert is not None and self.alerter is not None:
            self.alerter.wake()
        logger.log(_level(event.to_state), "%s", _describe(event))
        if event.to_state is State.OPEN and event.open_for is not None:
            self.scheduler.plan_trial(event.breaker, event.open_for)
        self._notifier.status(self._summary())

    def _persist_snapshot(self, integration: Integration) -> None:
        try:
            self.store.save_snapshot(integration.name, integration.breaker.snapshot())
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist the breaker: %s", integration.name, error)

    def _summary(self) -> str:
        states = Counter(i.breaker.state.value for i in self.integrations.values())
        counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        shard = f" (shard {self.shard})" if self.shard.count > 1 else ""
        return f"{len(self.integrations)} integrations{shard}: {counts or 'none'}"

    # -- reload --------------------------------------------------------------------------

    async def reload(self) -> None:
        """Re-read the config file; keep running the old one if the new one is invalid."""
        self._notifier.reloading()
        try:
            new = load(self.config.source, environ=self._environ)
        except ConfigError as error:
            self.stats.reload_successful = 0
            for line in error.errors:
                logger.error("reload failed, keeping the running configuration: %s", line)
            self._notifier.ready(f"reload failed; {self._summary()}")
            return
        if new.daemon != self.config.daemon:
            logger.warning("changes to [daemon] take effect when the daemon restarts")
        self._configure_logging(new)
        if new.alerts != self.config.alerts:
            self._configure_alerts(new.alerts)
        old = {i.name: i for i in self.integrations.values()}
        wanted = {c.name: c for c in self._mine(new)}
        counts: Counter[str] = Counter()
        for name in old.keys() - wanted.keys():
            self._retire(old[name])
            counts["removed"] += 1
        for name, config in wanted.items():
            current = old.get(name)
            if current is None:
                self._schedule(self._add(config, None))
                counts["added"] += 1
            elif current.config == config:
                counts["unchanged"] += 1
            else:
                self._replace(current, config)
                counts["changed"] += 1
        self._end_unwatched()
        self.config = new
        self.stats.reload_successful = 1
        self.stats.reload_success_at = self._wall()
        logger.info(
            "reloaded %s: %d added, %d changed, %d removed, %d unchanged",
            new.source, counts["added"], counts["changed"], counts["removed"], counts["unchanged"],
        )  # fmt: skip
        self._notifier.ready(self._summary())

    def _replace(self, current: Integration, config: IntegrationConfig) -> None:
        """A changed integration: a new adapter; the breaker's state carried over."""
        if current.config.breaker == config.breaker:
            breaker = current.breaker  # same settings: the very same breaker, counters and all
            integration = Integration(
                config, breaker, self._options, wall=self._wall, stats=current.stats
            )
            self.integrations[config.name] = integration
        else:  # new settings: restore the state (the fingerprint changed: counters reset)
            integration = self._add(config, current.breaker.snapshot(), stats=current.stats)
        self._close_later(current)
        if config.interval != current.config.interval:
            self._schedule(integration)

    def _retire(self, integration: Integration) -> None:
        self.scheduler.remove(integration.name)
        del self.integrations[integration.name]
        self.store.forget(integration.name)
        self._overrides.pop(integration.name, None)
        self._close_later(integration)
        logger.info("%s: removed from the configuration; no longer probed", integration.name)

    def _close_later(self, integration: Integration) -> None:
        """Close an adapter once any probe still using it has had time to finish."""

        self._loop.call_later(
            integration.config.deadline + 1.0, lambda: self._spawn(integration.aclose())
        )

    # -- what the endpoints ask (called from the server thread) --------------------------

    def metrics(self) -> bytes:
        rows = [integration.row for integration in list(self.integrations.values())]
        sinks = self._sink_stats() if self.alerter is not None else None
        self.stats.state_persisted = 0 if self.store.unpersisted else 1
        return render(rows, self.stats, self._standard, self._wall(), sinks, self.server.stats)

    def health(self) -> tuple[bool, str]:
        age = self._clock() - self._heartbeat
        if age > HEARTBEAT_STALE:
            return False, f"unhealthy: the scheduler heartbeat is {age:.0f}s old"
        trouble = self._trouble
        if trouble is not None:  # still probing: healthy, and saying what is wrong
            return True, (
                f"degraded: breakerwatch itself is in trouble: {trouble[0]}; probes failing "
                "so are not counted against the vendors"
            )
        store = getattr(self, "store", None)  # none until run() has opened it
        problem = store.unpersisted if store is not None else None
        if problem is not None:  # still probing and alerting: healthy, and saying what is wrong
            return True, f"ok, but not persisting: {problem}; the state is kept in memory"
        return True, "ok"

    def ready(self) -> bool:
        return self._ready

    def status(self) -> dict[str, Any]:
        now = self._wall()
        integrations = []
        overrides = self._overrides
        for integration in list(self.integrations.values()):
            row = integration.status()
            row["silenced"] = self._silences.reason(integration.name, now)
            held = overrides.get(integration.name) if row["state"] in _HELD.values() else None
            row["override"] = None if held is None else {
                "mode": row["state"], "by": held[0].by, "reason": held[0].reason, "at": held[1],
            }  # fmt: skip
            integrations.append(row)
        alerts = {
            name: {"sent": stats.sent, "queued": stats.depth, "failures": dict(stats.failures)}
            for name, stats in self._sink_stats().items()
        }
        return {
            "version": version("breakerwatch"),
            "shard": str(self.shard),
            "summary": self._summary(),
            "state": {"path": str(self.store.path), "problem": self.store.unpersisted},
            "trouble": self._trouble[0] if self._trouble is not None else None,
            "integrations": integrations,
            "alerts": alerts,
        }

    # -- silences (run on the loop, for the server thread) ------------------------------

    async def silences(self, action: str, **arguments: Any) -> tuple[int, Any]:
        """List, add or end silences: (HTTP status, JSON body)."""
        now = self._wall()
        if action == "add":
            name, by = arguments["integration"], arguments["by"]
            if name != ALL and name not in self.integrations:
                return 404, {"error": f"no integration named {name!r} (use * for all)"}
            longest = self._settings().max_silence
            try:
                seconds = parse_duration(arguments["duration"])
            except ValueError as error:
                return 400, {"error": f"duration {error}"}
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
        if self.alerter is not None:
            self.alerter.wake()
        return 200, {"silences": [_silence_json(s) for s in self._silences.silences]}

    def _settings(self) -> AlertSettings:
        alerts = self.config.alerts
        return alerts.settings if alerts is not None else AlertSettings()

    def _refresh_silences(self) -> None:
        self._silences = Silences(self.outbox.silences(self._wall()), self._windows)

    def _silenced(self, integration: str, now: float) -> str | None:
        return self._silences.reason(integration, now)

    def _configure_alerts(self, config: AlertsConfig | None) -> None:
        """Build (or rebuild, on reload) the alerter; pending notices stay in the outbox."""
        self._windows = config.maintenance if config is not None else ()
        self._refresh_silences()
        if self.alerter is not None:
            self.alerter.stop()
        previous = self._sink_stats()
        self._configure_alertmanager(config.alertmanager if config is not None else None)
        if config is None:
            self.alerter = None
            return
        wake = self.alertmanager.wake if self.alertmanager is not None else (lambda: None)
        self.alerter = Alerter(
            self.outbox, build_sinks(config, self._log_stream), Policy(config.settings),
            self._silenced, wall=self._wall, dashboard_url=config.settings.dashboard_url,
            decided=wake,
        )  # fmt: skip
        for stats in (self.alerter.stats, self.alertmanager.stats if self.alertmanager else {}):
            for name in stats.keys() & previous.keys():  # counters never go back
                stats[name] = previous[name]

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
        self.alertmanager = AlertmanagerSink(
            config.urls, ledger, self._open_incidents, resend_interval=config.resend_interval,
            wall=self._wall, timeout=config.timeout,
        )  # fmt: skip
        self._pushing = asyncio.ensure_future(self.alertmanager.run())

    async def _stop_pushing(self) -> None:
        if self._pushing is not None:
            self._pushing.cancel()
            await asyncio.gather(self._pushing, return_exceptions=True)

    def _open_incidents(self) -> dict[str, Facts]:
        """What Alertmanager hears: open incidents of the integrations this replica probes,
        except those a silence or maintenance window holds (as Slack would not hear of them).
        Operator holds and our own trouble are Prometheus rules' to tell (docs/monitoring.md)."""
        return {
            key: incident.facts
            for key, incident in self.outbox.state.incidents.items()
            if incident.facts.integration in self.integrations
            and incident.held is not Hold.SILENCE
            and incident.facts.kind in ALERTNAMES
        }

    def _sink_stats(self) -> dict[str, SinkStats]:
        """Every sink's counters: the alerter's, then each Alertmanager's."""
        stats = dict(self.alerter.stats) if self.alerter is not None else {}
        if self.alertmanager is not None:
            stats.update(self.alertmanager.stats)
        return stats

    async def breaker_action(
        self, name: str, action: str, *, reason: str, by: str
    ) -> tuple[int, Any]:
        """An operator forces a breaker open, disables it or resets it: kept across
        restarts, logged, and told (who, why) when it is held and when it is let go."""
        integration = self.integrations.get(name)
        if integration is None:
            return 404, {"error": f"no integration named {name!r}"}
        breaker = integration.breaker
        was = self._overrides.get(name) if breaker.state in _HELD else None
        {"force-open": breaker.force_open, "disable": breaker.disable, "reset": breaker.reset}[
            action
        ]()
        self._persist_snapshot(integration)  # also when nothing changed state (a reset of closed)
        now = self._wall()
        mode = _HELD.get(breaker.state)
        if mode is not None:
            held = Override(mode, by, reason)
            if was is None or was[0] != held:
                self._hold(name, (held, now))
                logger.warning("%s: breaker %s by %s: %s", name, mode, by, reason)
                self._alert(Event(name, EventKind.OVERRIDDEN, now, cause=mode, override=held))
        elif was is not None:
            self._hold(name, None)
            logger.info("%s: breaker reset by %s (it was %s by %s)%s", name, by, was[0].mode,
                        was[0].by, f": {reason}" if reason else "")  # fmt: skip
            ended = Override(was[0].mode, by, reason)
            self._alert(Event(name, EventKind.OVERRIDE_ENDED, now, override=ended))
        else:
            logger.info("%s: breaker reset by %s%s", name, by, f": {reason}" if reason else "")
        return 200, integration.status() | {"override": self._override_json(name)}

    def _hold(self, name: str, held: tuple[Override, float] | None) -> None:
        if held is None:
            self._overrides.pop(name, None)
        else:
            self._overrides[name] = held
        try:
            self.store.save_override(name, held[0] if held else None, held[1] if held else 0.0)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist who holds the breaker: %s", name, error)

    def _override_json(self, name: str) -> dict[str, Any] | None:
        held = self._overrides.get(name)
        if held is None:
            return None
        return {"mode": held[0].mode, "by": held[0].by, "reason": held[0].reason, "at": held[1]}

    # -- plumbing ------------------------------------------------------------------------

    def _configure_logging(self, config: Config) -> None:
        secrets = [
            value.reveal()
            for integration in config.integrations
            for value in _secrets(integration.settings)
        ]
        if config.alerts is not None:
            secrets += [secret.reveal() for secret in config.alerts.secrets()]
        logs.configure(
            config.daemon.log_level, config.daemon.log_format, Redactor(secrets), self._log_stream
        )

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _watchdog(self) -> None:
        """WATCHDOG=1 only while the scheduler heartbeat is fresh: a wedged daemon is restarted."""
        interval = self._notifier.watchdog_interval
        if interval is None:
            return
        while True:
            if self.health()[0]:
                self._notifier.watchdog()
            await asyncio.sleep(interval)


def _secrets(settings: Mapping[str, Any]) -> list[Secret]:
    found = [v for v in settings.values() if isinstance(v, Secret)]
    headers = settings.get("headers") or {}
    return found + [v for v in headers.values() if isinstance(v, Secret)]


def open_files_needed(integrations: int, connections: int) -> int:
    """File descriptors this daemon can need at once: an idle pooled connection per
    integration (at most), the probes in flight, the HTTP connections, and 64 for SQLite,
    Slack, Alertmanager, logs and Python itself (docs/operations.md, "Open files")."""
    return integrations + MAX_CONCURRENT_PROBES + connections + 64


def _silence_json(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "integration": silence.integration,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "reason": silence.reason,
        "by": silence.created_by,
    }


def _level(state: State) -> int:
    return logging.WARNING if state in (State.OPEN, State.FORCED_OPEN) else logging.INFO


def _describe(event: Transition) -> str:
    """One line per transition: what, why, and when the next trial is."""
    text = f"{event.breaker}: breaker {event.from_state} -> {event.to_state} ({event.cause}"
    failure = event.last_failure
    if event.to_state is State.OPEN and failure is not None:
        text += f"; {event.consecutive_failures} consecutive failures; last: {failure.detail}"
    text += ")"
    if event.open_for is not None:
        text += f"; next trial in {event.open_for:.0f}s"
    return text
