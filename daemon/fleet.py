"""The integrations this replica probes: built with their breakers restored from the state,
scheduled, and changed by a reload's difference.

An unchanged integration keeps everything; a changed one gets a new adapter and keeps its
breaker (the very same one when its breaker settings did not change, else one restored
from its snapshot); a removed one is unscheduled, forgotten by the state, and its adapter
closed once any probe still using it has had time to finish.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from daemon.config import Config, IntegrationConfig
from daemon.degraded import Baseline
from daemon.integrations import Integration, oauth_tokens
from daemon.metrics import ProbeStats, Row
from daemon.scheduler import ProbeScheduler
from daemon.sharding import Shard
from daemon.state import StateStore
from probes import Breaker, BreakerSnapshot, Transition
from probes.adapters import ClientOptions

__all__ = ["Fleet"]

logger = logging.getLogger("breakerwatch")


class Fleet:
    """`integrations` by name; every breaker tells `on_transition` of its transitions."""

    def __init__(
        self,
        shard: Shard,
        options: ClientOptions,
        store: StateStore,
        on_transition: Callable[[Transition], None],
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.shard = shard
        self.integrations: dict[str, Integration] = {}
        self._options = options
        self._store = store
        self._on_transition = on_transition
        self._clock = clock
        self._wall = wall
        self._closing: set[asyncio.Task[Any]] = set()
        self.scheduler: ProbeScheduler | None = None  # set by `start`

    def __iter__(self) -> Iterator[Integration]:
        return iter(list(self.integrations.values()))  # a copy: scrapes read from a thread

    def __len__(self) -> int:
        return len(self.integrations)

    def get(self, name: str) -> Integration | None:
        return self.integrations.get(name)

    def mine(self, config: Config) -> list[IntegrationConfig]:
        """The integrations this replica's shard probes (all of them when not sharded)."""
        return [c for c in config.integrations if self.shard.takes(c)]

    def build(self, config: Config, degraded: Iterable[str] = ()) -> None:
        """Every integration of `config` this replica probes, breakers and latency
        baselines restored; `degraded` names those told as slow and not yet recovered."""
        snapshots, baselines, slow = self._store.snapshots(), self._store.baselines(), set(degraded)
        for wanted in self.mine(config):
            name = wanted.name
            self._add(wanted, snapshots.get(name), learned=baselines.get(name),
                      degraded=name in slow)  # fmt: skip

    def save_baselines(self) -> None:
        """Persist every learned latency baseline (a restart keeps what was learned)."""
        learned = {i.name: i.latency.learned for i in self if i.latency.learned is not None}
        try:
            self._store.save_baselines(learned)
        except (sqlite3.Error, OSError) as error:
            logger.error("cannot persist the latency baselines: %s", error)

    def start(self, scheduler: ProbeScheduler) -> None:
        self.scheduler = scheduler
        for integration in self.integrations.values():
            self._schedule(integration)

    def apply(self, config: Config) -> Counter[str]:
        """Bring the fleet to `config`; how many were added, changed, removed, unchanged."""
        old = dict(self.integrations)
        wanted = {c.name: c for c in self.mine(config)}
        counts: Counter[str] = Counter()
        for name in old.keys() - wanted.keys():
            self._retire(old[name])
            counts["removed"] += 1
        for name, integration in wanted.items():
            current = old.get(name)
            if current is None:
                self._schedule(self._add(integration, None))
                counts["added"] += 1
            elif current.config == integration:
                counts["unchanged"] += 1
            else:
                self._replace(current, integration)
                counts["changed"] += 1
        return counts

    def plan_trial(self, name: str, after: float) -> None:
        """Probe `name` once its open period ends, `after` seconds from now."""
        if self.scheduler is not None:
            self.scheduler.plan_trial(name, after)

    def persist(self, integration: Integration) -> None:
        """Save the breaker's snapshot (its state survives a restart)."""
        try:
            self._store.save_snapshot(integration.name, integration.breaker.snapshot())
        except (sqlite3.Error, OSError) as error:
            logger.error("%s: cannot persist the breaker: %s", integration.name, error)

    async def aclose(self) -> None:
        """Persist every breaker and baseline, and close every adapter (at shutdown)."""
        self.save_baselines()
        for integration in self.integrations.values():
            self.persist(integration)
            await integration.aclose()

    def rows(self) -> list[Row]:
        return [integration.row for integration in self]

    def summary(self) -> str:
        """`5 integrations: 4 closed, 1 open`: the line systemd and the log show."""
        states = Counter(i.breaker.state.value for i in self)
        counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        shard = f" (shard {self.shard})" if self.shard.count > 1 else ""
        return f"{len(self.integrations)} integrations{shard}: {counts or 'none'}"

    # -- changes -------------------------------------------------------------------------

    def _add(
        self,
        config: IntegrationConfig,
        snapshot: BreakerSnapshot | None,
        stats: ProbeStats | None = None,
        learned: Baseline | None = None,
        degraded: bool = False,
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
        integration = Integration(config, breaker, self._options, wall=self._wall, stats=stats,
                                  learned=learned, degraded=degraded,
                                  oauth=oauth_tokens(config, self._store, self._clock))  # fmt: skip
        self.integrations[config.name] = integration
        return integration

    def _schedule(self, integration: Integration) -> None:
        assert self.scheduler is not None
        config = integration.config
        spread = min(config.interval, max(1.0, len(self.integrations) / 300))
        self.scheduler.add(config.name, config.interval, spread=spread)
        remaining = integration.breaker.open_remaining
        if remaining is not None:  # restored open: the trial comes when the period ends
            self.scheduler.plan_trial(config.name, remaining)

    def _replace(self, current: Integration, config: IntegrationConfig) -> None:
        """A changed integration: a new adapter; the breaker's state carried over."""
        if current.config.breaker == config.breaker:
            breaker = current.breaker  # same settings: the very same breaker, counters and all
            oauth = oauth_tokens(config, self._store, self._clock)
            integration = Integration(config, breaker, self._options, wall=self._wall,
                                      stats=current.stats, learned=current.latency.learned,
                                      degraded=current.latency.degraded, oauth=oauth)  # fmt: skip
            self.integrations[config.name] = integration
        else:  # new settings: restore the state (the fingerprint changed: counters reset)
            integration = self._add(config, current.breaker.snapshot(), stats=current.stats,
                                    learned=current.latency.learned,
                                    degraded=current.latency.degraded)  # fmt: skip
        self._close_later(current)
        if config.interval != current.config.interval:
            self._schedule(integration)

    def _retire(self, integration: Integration) -> None:
        assert self.scheduler is not None
        self.scheduler.remove(integration.name)
        del self.integrations[integration.name]
        self._store.forget(integration.name)
        self._close_later(integration)
        logger.info("%s: removed from the configuration; no longer probed", integration.name)

    def _close_later(self, integration: Integration) -> None:
        """Close an adapter once any probe still using it has had time to finish."""

        def close() -> None:
            task = asyncio.ensure_future(integration.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        asyncio.get_running_loop().call_later(integration.config.deadline + 1.0, close)
