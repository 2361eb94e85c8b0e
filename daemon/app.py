"""The daemon's life: start-up, what each part is wired to, reload, and shutdown.

Start-up: open the state, bind the address, build every integration with its breaker
restored from the state (`Fleet`), start the alerts (`AlertRuntime`), start the schedule
(a trial at once for any breaker whose open period ended while we were down), serve, then
tell systemd READY. A transition is persisted (with its snapshot and its alert event, in one
transaction), counted, logged once, and plans the trial when the breaker opens. SIGHUP
reloads: a bad file keeps the old config; a good one is applied by difference. SIGTERM or
SIGINT: stop scheduling, let in-flight probes finish up to a grace period, persist every
breaker, exit 0. The HTTP endpoints ask the daemon through `Endpoints` (daemon/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from importlib.metadata import version
from typing import Any, TextIO

from alerts.model import Event, EventKind, Failure, IncidentKind, Slow, event_from_transition
from daemon import logs
from daemon.access import exposure
from daemon.alerting import AlertRuntime
from daemon.answers import Answers
from daemon.canaries import CanaryWrites
from daemon.config import Config, ConfigError, load
from daemon.degraded import Change
from daemon.fleet import Fleet
from daemon.holds import Holds
from daemon.integrations import Integration
from daemon.metrics import DaemonStats, process_registry
from daemon.notify import Notifier
from daemon.scheduler import ProbeScheduler
from daemon.scopes import ScopeChecks
from daemon.server import HttpServer, ListenError
from daemon.state import StateError, StateStore
from daemon.tls import TlsError
from daemon.trouble import TroubleWatch, health
from daemon.vendor_pages import VendorPages
from daemon.verdicts import Verdicts
from probes import Kind, Outcome, State, Transition
from probes.adapters import ClientOptions
from probes.http import new_client
from probes.outbound import Outbound
from probes.redact import Redactor

__all__ = ["Daemon", "open_files_needed"]

logger = logging.getLogger("breakerwatch")

HEARTBEAT_EVERY = 2.0  # seconds between scheduler heartbeats
HEARTBEAT_STALE = 10.0  # /healthz turns 503 (and the watchdog stops) after this
SHUTDOWN_GRACE = 10.0  # in-flight probes get this long to finish on SIGTERM
MAX_CONCURRENT_PROBES = 200
TROUBLE_QUIET = 30.0  # our own trouble is over after this long without a local failure
BASELINES_EVERY = 60.0  # seconds between saves of the learned latency baselines
PRUNE_EVERY = 3600.0  # seconds between prunings of the transition history


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
        self.stats = DaemonStats(reload_successful=1, reload_success_at=wall())
        self._standard = process_registry(str(config.daemon.shard))
        self._notifier = Notifier(environ)
        self._heartbeat = clock()
        self.trouble = TroubleWatch(self.stats, lambda event: self.alerts.queue(event),
                                    quiet=TROUBLE_QUIET, clock=clock, wall=wall)  # fmt: skip
        self._ready = False
        self._stop = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 on a clean stop, 1 if start-up failed."""
        reload = lambda: self._spawn(self.reload()) if self._ready else None  # noqa: E731
        actions = {signal.SIGTERM: self.stop, signal.SIGINT: self.stop, signal.SIGHUP: reload}
        gc.disable()  # until _settled(): start-up builds, it makes no garbage worth a scan
        try:
            with _signals(asyncio.get_running_loop(), actions):  # a stop during start-up counts
                return await self._serve()
        finally:
            gc.unfreeze()  # all of it is garbage once the daemon is gone
            gc.enable()

    async def _serve(self) -> int:
        self._configure_logging(self.config)
        loop = asyncio.get_running_loop()
        daemon = self.config.daemon
        try:
            self.store = StateStore.open(daemon.state_dir, wall=self._wall)
        except StateError as error:
            logger.error("cannot start: %s", error)
            return 1
        answers = self._parts()
        try:
            self.server = HttpServer(daemon, answers, loop)
        except (ListenError, TlsError) as error:
            logger.error("cannot start: %s", error)
            self.store.close()
            return 1
        answers.http = self.server.stats
        for note in exposure(daemon):
            logger.warning("%s", note)
        self.alerts.configure(self.config.alerts)
        self.fleet.build(self.config, self.alerts.open_incidents(IncidentKind.DEGRADED))
        self.verdicts.refresh()
        _check_open_files(len(self.fleet), daemon.max_connections)
        self.alerts.end_unwatched()  # removed while we were down, or moved to another shard
        self.scheduler = ProbeScheduler(
            self._probe, missed=self._missed, started=self.stats.started, heartbeat=self._beat,
            heartbeat_every=HEARTBEAT_EVERY, concurrency=MAX_CONCURRENT_PROBES,
        )  # fmt: skip
        self.fleet.start(self.scheduler)  # every first run planned before the wheel turns
        self.scheduler.start()
        self.server.start()
        _settled()
        self._ready = True
        logger.info("breakerwatch %s started: %s; listening on %s", version("breakerwatch"),
                    self.fleet.summary(), self.server.url)  # fmt: skip
        self._notifier.ready(self.fleet.summary())
        watchdog = asyncio.ensure_future(self._notifier.keep_alive(lambda: self.health()[0]))
        trouble = asyncio.ensure_future(self.trouble.run(HEARTBEAT_EVERY))
        pages = asyncio.ensure_future(self.pages.run())
        scopes = asyncio.ensure_future(self.scopes.run())
        canaries = asyncio.ensure_future(self.canaries.run())
        baselines = asyncio.ensure_future(self._keep_baselines())
        history = asyncio.ensure_future(self._prune_history())
        alerting = asyncio.ensure_future(self.alerts.run())
        await self._stop.wait()
        for task in (watchdog, trouble, pages, scopes, baselines, canaries, history):
            task.cancel()
        await self._shutdown(alerting)
        return 0

    def stop(self) -> None:
        """Ask `run()` to finish, as SIGTERM does."""
        self._stop.set()

    async def _keep_baselines(self) -> None:
        """Persist the learned latency baselines every `BASELINES_EVERY` seconds."""
        while True:
            await asyncio.sleep(BASELINES_EVERY)
            self.fleet.save_baselines()

    async def _prune_history(self) -> None:
        """Drop transitions older than `history_retention`, a batch at a time (probes run
        between batches), every `PRUNE_EVERY` seconds."""
        while True:
            before = self._wall() - self.config.daemon.history_retention
            while self.store.prune_history(before) > 0:
                await asyncio.sleep(0)
            await asyncio.sleep(PRUNE_EVERY)

    def _parts(self) -> Answers:
        """The fleet, the alerts and the holds over the opened state; what the endpoints
        are told about them."""
        # One httpx client, so one connection pool and one TLS context (~19 ms to build), for
        # every integration: at 10,000 integrations, a client each costs 17 MB.
        self.outbound = Outbound.build(self.config.proxies, self.config.daemon.ca_file)
        self._http = new_client(self.outbound.transport())
        options: ClientOptions = {"http": self._http, "clock": self._clock, "wall": self._wall}
        self.fleet = Fleet(self.config.daemon.shard, options, self.store, self._on_transition,
                           clock=self._clock, wall=self._wall)  # fmt: skip
        self.alerts = AlertRuntime(self.store, lambda: self.fleet.integrations, wall=self._wall,
                                   console=self._log_stream, outbound=self.outbound)  # fmt: skip
        self.holds = Holds(self.store, self.alerts, self.fleet.persist, wall=self._wall)
        daemon = self.config.daemon
        self.pages = VendorPages(lambda: self.fleet, self._http, clock=self._clock,
                                 changed=self._vendor_changed, quiet=daemon.status_page_interval,
                                 watchful=daemon.status_page_interval_open)  # fmt: skip
        self.verdicts = Verdicts(self.fleet, self.pages)
        self.canaries = CanaryWrites(lambda: self.fleet, options, clock=self._clock,
                                     wall=self._wall, changed=self._writes_changed)  # fmt: skip
        self.scopes = ScopeChecks(lambda: self.fleet, clock=self._clock, wall=self._wall,
                                  changed=self._scopes_changed,
                                  every=daemon.scope_check_interval)  # fmt: skip
        return Answers(
            self.fleet, self.alerts, self.holds, self.store, self.stats, self._standard,
            health=self.health, ready=lambda: self._ready,
            local_failure=self.trouble.failed, trouble=lambda: self.trouble.what, wall=self._wall,
            reload_config=self.reload, pages=self.pages, verdicts=self.verdicts,
            scopes=self.scopes, canaries=self.canaries,
            report_zone=lambda: self.config.daemon.report_timezone,
            page_mode=lambda: self.config.daemon.status_page,
        )  # fmt: skip

    async def _shutdown(self, alerting: asyncio.Future[None]) -> None:
        self._notifier.stopping()
        logger.info("stopping: letting in-flight probes finish (up to %gs)", SHUTDOWN_GRACE)
        await self.scheduler.shutdown(grace=SHUTDOWN_GRACE)
        alerting.cancel()  # what is not sent yet stays in the outbox for the next start
        await asyncio.gather(alerting, return_exceptions=True)
        await self.alerts.stop()
        await self.canaries.aclose()
        await self.fleet.aclose()
        await self._http.aclose()
        self.server.close()
        self.store.close()
        logger.info("stopped")

    async def reload(self, by: str = "SIGHUP") -> list[str]:
        """Re-read the config file (asked by `by`); keep running the old one if the new one
        is invalid, and return its problems."""
        self._notifier.reloading()
        try:
            new = load(self.config.source, environ=self._environ)
        except ConfigError as error:
            self.stats.reload_successful = 0
            for line in error.errors:
                logger.error("reload (%s) failed, keeping the running configuration: %s", by, line)
            self._notifier.ready(f"reload failed; {self.fleet.summary()}")
            return error.errors
        if new.daemon != self.config.daemon:
            logger.warning("changes to [daemon] take effect when the daemon restarts")
        self._configure_logging(new)
        if new.alerts != self.config.alerts:
            self.alerts.configure(new.alerts)
        gc.unfreeze()  # what the old configuration leaves becomes collectable again
        counts = self.fleet.apply(new)
        self.verdicts.refresh()
        self.alerts.end_unwatched()
        self.config = new
        self.stats.reload_successful, self.stats.reload_success_at = 1, self._wall()
        _settled()
        logger.info(
            "reloaded %s (%s): %d added, %d changed, %d removed, %d unchanged", new.source, by,
            counts["added"], counts["changed"], counts["removed"], counts["unchanged"],
        )  # fmt: skip
        self._notifier.ready(self.fleet.summary())
        return []

    # -- what the parts tell the daemon --------------------------------------------------

    async def _probe(self, name: str) -> None:
        integration = self.fleet.get(name)
        if integration is not None:
            before = integration.stats.throttled_since
            result = await integration.probe()
            outcome = result.outcome
            if outcome.ok and result.attempts == 1:  # a retried success times the retries too
                change = integration.latency.observe(result.duration, self._clock())
                if change is not None:
                    self._degraded_changed(integration, change)
            logger.debug("%s: %s", name, outcome.detail or outcome.kind,
                         extra={"integration": name, "reason": outcome.reason})  # fmt: skip
            if outcome.kind is Kind.LOCAL:
                self.trouble.failed(outcome.error or "local", outcome.detail)
            since = integration.stats.throttled_since
            self.alerts.throttling(name, before, since, outcome.status)

    def _on_transition(self, event: Transition) -> None:
        integration = self.fleet.get(event.breaker)
        if integration is None:
            return
        integration.stats.transition(event)
        config, failure = integration.config, event.last_failure
        verdict = None
        if event.to_state is State.OPEN and self.alerts.on:
            verdict = self.verdicts.of(event.breaker, failure.reason if failure else None)
        alert = event_from_transition(event, egress=config.egress, parents=config.parents,
                                      gate=config.gate, verdict=verdict)  # fmt: skip
        alert = alert if self.alerts.on else None
        try:
            self.store.record_transition(event, integration.breaker.snapshot(), alert)
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist the transition: %s", event.breaker, error)
        if alert is not None:
            self.alerts.wake()
        logger.log(_level(event.to_state), "%s", _describe(event), extra=_facts(event))
        if event.to_state is State.OPEN and event.open_for is not None:
            self.fleet.plan_trial(event.breaker, event.open_for)
        self._notifier.status(self.fleet.summary())

    def _vendor_changed(self, name: str) -> None:
        """The vendor's page posted or resolved something about `name`: the policy hears."""
        self.alerts.queue(Event(name, EventKind.VENDOR, self._wall(),
                                verdict=self.verdicts.of(name)))  # fmt: skip

    def _degraded_changed(self, integration: Integration, change: Change) -> None:
        """`integration` became slow but working, or back to its usual speed: the policy hears."""
        name, latency = integration.name, integration.latency
        assert latency.p95 is not None
        assert latency.baseline is not None
        slow = Slow(latency.p95, latency.baseline, latency.threshold or latency.p95)
        degraded = change is Change.DEGRADED
        logger.log(logging.WARNING if degraded else logging.INFO,
                   "%s: %s: p95 %.0f ms, usually %.0f ms", name,
                   "slow but working" if degraded else "back to its usual speed",
                   slow.p95 * 1000, slow.baseline * 1000,
                   extra={"integration": name})  # fmt: skip
        kind = EventKind.DEGRADED if degraded else EventKind.DEGRADED_ENDED
        self.alerts.queue(Event(name, kind, self._wall(), slow=slow))

    def _writes_changed(self, name: str, failure: Outcome | None) -> None:
        """`name`'s canary writes began failing while its reads succeed, or recovered."""
        if failure is None:
            self.alerts.queue(Event(name, EventKind.WRITES_RECOVERED, self._wall()))
            return
        told = Failure(failure.reason.value if failure.reason else None, failure.status,
                       failure.error, failure.detail)  # fmt: skip
        self.alerts.queue(Event(name, EventKind.WRITES_FAILING, self._wall(), failure=told))

    def _scopes_changed(self, name: str, missing: tuple[str, ...]) -> None:
        """What `name`'s credential lacks changed (or was first learned): the policy hears."""
        if missing:
            logger.warning("%s: the credential lacks %s; writes will be refused", name,
                           ", ".join(missing), extra={"integration": name})  # fmt: skip
        kind = EventKind.SCOPES_MISSING if missing else EventKind.SCOPES_GRANTED
        self.alerts.queue(Event(name, kind, self._wall(), scopes=missing))

    def _missed(self, name: str) -> None:
        integration = self.fleet.get(name)
        if integration is not None:
            integration.stats.missed += 1
            logger.warning(
                "%s: a scheduled probe did not run on time (the daemon is overloaded?)", name,
                extra={"integration": name},
            )  # fmt: skip

    def _beat(self) -> None:
        self._heartbeat = self._clock()

    def health(self) -> tuple[bool, str]:
        store = getattr(self, "store", None)  # none until run() has opened it
        return health(self._clock() - self._heartbeat, HEARTBEAT_STALE, self.trouble.what,
                      store.unpersisted if store is not None else None)  # fmt: skip

    # -- plumbing ------------------------------------------------------------------------

    def _configure_logging(self, config: Config) -> None:
        redact = Redactor(secret.reveal() for secret in config.secrets())
        logs.configure(config.daemon.log_level, config.daemon.log_format, redact, self._log_stream)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


@contextlib.contextmanager
def _signals(
    loop: asyncio.AbstractEventLoop, actions: Mapping[signal.Signals, Callable[[], Any]]
) -> Iterator[None]:
    """Run each action on the loop when its signal arrives, never losing one; the previous
    handlers are back afterwards. asyncio's own add_signal_handler learns of a signal
    through its self-pipe, which thousands of completions from other threads can fill: a
    SIGTERM that arrives then is dropped ("Exception ignored when trying to write to the
    signal wakeup fd") and the daemon never stops. A Python-level handler runs on the main
    thread whatever the pipe holds."""
    previous = {sig: signal.getsignal(sig) for sig in actions}
    for sig, act in actions.items():
        signal.signal(sig, lambda *_, act=act: loop.call_soon_threadsafe(act))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _settled() -> None:
    """Start-up (or a reload) is done: what it built lives as long as the daemon, so the
    garbage collector is told to stop scanning it (`gc.freeze`), and runs again (it is off
    while the daemon starts). At 10,000 integrations a full collection over them paused the
    loop for 235 to 338 ms while probes waited, and collections during start-up took much
    of its time (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.enable()


def _check_open_files(integrations: int, connections: int) -> None:
    """Warn when the open-file limit is below what this configuration can need."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = open_files_needed(integrations, connections)
    if soft != resource.RLIM_INFINITY and soft < needed:
        logger.warning(
            "the open-file limit is %d, below the %d that %d integrations and %d HTTP "
            "connections can need; raise LimitNOFILE (docs/operations.md)",
            soft, needed, integrations, connections,
        )  # fmt: skip


def open_files_needed(integrations: int, connections: int) -> int:
    """File descriptors this daemon can need at once: an idle pooled connection per
    integration (at most), the probes in flight, the HTTP connections, and 64 for SQLite,
    Slack, Alertmanager, logs and Python itself (docs/operations.md, "Open files")."""
    return integrations + MAX_CONCURRENT_PROBES + connections + 64


def _level(state: State) -> int:
    return logging.WARNING if state in (State.OPEN, State.FORCED_OPEN) else logging.INFO


def _facts(event: Transition) -> dict[str, object]:
    """A transition's facts as log fields (`daemon.logs.FIELDS`)."""
    failure = event.last_failure
    return {
        "integration": event.breaker, "from_state": event.from_state, "to_state": event.to_state,
        "cause": event.cause, "reason": failure.reason if failure is not None else None,
    }  # fmt: skip


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
