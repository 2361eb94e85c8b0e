"""Beyond one machine (docs/scaling.md), with real parts: breakerwatch replicas as
processes, the simulator as the world, two of Debian's Alertmanagers clustered over
loopback whose Slack receiver posts to the fake Slack.

- HA: two replicas probe the same integrations and send every alert to both
  Alertmanagers. An outage and a recovery are one Slack message each. So are a second
  outage and recovery during which one Alertmanager and then one replica are killed.
- One replica without `ha` resolves at the close, long before the alert's endsAt.
- Sharding: three replicas over 300 integrations probe each exactly once per interval,
  as the simulator's request log shows, and each owns the share `check --shards` prints.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from daemon.sharding import assign
from simulator import Simulator
from tests.alertmanagers import Alertmanagers, needs_alertmanager
from tests.daemon.harness import DaemonProcess, config_text, environment
from tests.fakes.slack import FakeSlack, Message
from tests.simulator.helpers import admin

pytestmark = needs_alertmanager


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def titles(slack: FakeSlack) -> list[str]:
    """What Alertmanager posted to Slack: each message's attachment title."""
    return [str((m.attachments or [{}])[0].get("title", "")).strip() for m in slack.top_level()]


def kit_messages(slack: FakeSlack) -> list[Message]:
    return [m for m in slack.top_level() if m.attachments]


@pytest.fixture
def cluster(tmp_path: Path, slack: FakeSlack) -> Iterator[Alertmanagers]:
    with Alertmanagers(tmp_path / "alertmanagers", slack.webhook_url(), count=2) as running:
        yield running


def replica(
    sim: Simulator,
    directory: Path,
    urls: list[str],
    more: str = "ha = true\n",
    reset: str = "2s",
    resend: str = "1s",
) -> DaemonProcess:
    directory.mkdir()
    config = directory / "config.toml"
    listed = ", ".join(f'"{url}"' for url in urls)
    config.write_text(
        config_text(sim, directory / "state", reset=reset)
        + f"\n[alerts]\n[alerts.alertmanager]\nurls = [{listed}]\n"
        + f'resend_interval = "{resend}"\n{more}'
    )
    return DaemonProcess(config, environment(sim))


def test_two_replicas_and_two_alertmanagers_tell_each_incident_once(
    simulator: Simulator, slack: FakeSlack, cluster: Alertmanagers, tmp_path: Path
) -> None:
    replicas = [replica(simulator, tmp_path / name, cluster.urls) for name in ("a", "b")]
    try:
        for daemon in replicas:
            daemon.wait_ready()
        firing, resolved = (
            "kit is failing: breaker open",
            "Resolved: kit (BreakerwatchIntegrationFailing)",
        )

        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        until(lambda: titles(slack) == [firing], 30, "the incident message")
        for daemon in replicas:  # both replicas saw it and both told both Alertmanagers
            assert daemon.state("kit") in ("open", "half_open")
        for url in cluster.urls:
            assert [a["labels"]["integration"] for a in cluster.alerts(url)] == ["kit"]
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        until(lambda: titles(slack) == [firing, resolved], 30, "the resolution")

        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        until(lambda: len(titles(slack)) == 3, 30, "the second incident message")
        # Killed at once, the first Alertmanager may die before its peer hears that it
        # notified; the peer then notifies too (Alertmanager fails open, docs/scaling.md).
        time.sleep(3)  # the peer's turn (peer timeout 2 s) has passed: it knows
        cluster.kill(0)
        replicas[0].kill()
        time.sleep(8)  # four group intervals and two hold periods: no second message
        assert titles(slack) == [firing, resolved, firing], (titles(slack), cluster.output())
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        until(lambda: len(titles(slack)) == 4, 30, "the second resolution")
        time.sleep(6)  # and nothing after it
        assert titles(slack) == [firing, resolved, firing, resolved], (
            titles(slack),
            cluster.output(),
        )
    finally:
        for daemon in replicas:
            if daemon.process.poll() is None:
                assert daemon.stop() == 0
    survivor = replicas[1].output
    assert f"alertmanager {cluster.urls[0][len('http://') :]}: cannot deliver" in survivor
    assert "Traceback" not in survivor
    text = (kit_messages(slack)[0].attachments or [{}])[0].get("text", "")
    assert "What failed: HTTP 5" in text  # the annotations made it into the message


def test_replicas_that_disagree_for_a_while_still_resolve_once(
    simulator: Simulator, slack: FakeSlack, cluster: Alertmanagers, tmp_path: Path
) -> None:
    """One replica sees the recovery seconds before the other (here: its breaker tries
    again sooner). Had the first resolved the alert, the other's next re-send would fire it
    again: "resolved", then a second incident message, then "resolved" again. With `ha`
    the alert lasts while any replica still sends it."""
    # re-sends further apart than Alertmanager's group interval (2 s), as in production
    quick = replica(simulator, tmp_path / "quick", cluster.urls, reset="1s", resend="3s")
    slow = replica(simulator, tmp_path / "slow", cluster.urls, reset="8s", resend="3s")
    try:
        for daemon in (quick, slow):
            daemon.wait_ready()
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        until(lambda: len(titles(slack)) == 1, 30, "the incident message")
        slow.until(lambda: slow.state("kit") == "open", 10, "the slow replica to open")
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        quick.until(lambda: quick.state("kit") == "closed", 10, "the quick replica to close")
        assert slow.state("kit") == "open"  # they disagree, for seconds
        slow.until(lambda: slow.state("kit") == "closed", 20, "the slow replica to close")
        until(lambda: len(titles(slack)) >= 2, 30, "the resolution")
        time.sleep(6)
        assert titles(slack) == [
            "kit is failing: breaker open",
            "Resolved: kit (BreakerwatchIntegrationFailing)",
        ]
    finally:
        for daemon in (quick, slow):
            assert daemon.stop() == 0


def test_one_replica_resolves_at_the_close(
    simulator: Simulator, slack: FakeSlack, cluster: Alertmanagers, tmp_path: Path
) -> None:
    """Without `ha` the close is an explicit endsAt: with re-sends every 30 s, an expiry
    would take two minutes; the resolution comes within seconds."""
    daemon = replica(simulator, tmp_path / "solo", cluster.urls, more="ha = false\n", resend="30s")
    try:
        daemon.wait_ready()
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        until(lambda: len(titles(slack)) == 1, 30, "the incident message")
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("kit") == "closed", 30, "kit to close")
        closed = time.monotonic()
        until(lambda: len(titles(slack)) == 2, 30, "the resolution")
        assert time.monotonic() - closed < 15
        assert titles(slack)[1] == "Resolved: kit (BreakerwatchIntegrationFailing)"
    finally:
        assert daemon.stop() == 0


INTEGRATIONS = 300
INTERVAL = 5.0


class Config(NamedTuple):
    name: str
    everywhere: bool = False


def test_three_shards_probe_each_integration_once_per_interval(
    simulator: Simulator, tmp_path: Path
) -> None:
    names = [f"customer-{i}" for i in range(INTEGRATIONS)]
    url = simulator.base_url("endpoint") + "/healthz?integration="
    blocks = "".join(
        f'[[integrations]]\nname = "{name}"\nkind = "http"\nurl = "{url}{name}"\n\n'
        for name in names
    )
    blocks += (
        f'[[integrations]]\nname = "canary"\nkind = "http"\nurl = "{url}canary"\negress = true\n'
    )
    replicas = []
    for index in range(3):
        config = tmp_path / f"replica-{index}.toml"
        config.write_text(
            f'[daemon]\nlisten = "127.0.0.1:0"\nstate_dir = "state-{index}"\n\n'
            f'[defaults]\ninterval = "{INTERVAL}s"\ntimeout = "2s"\n\n' + blocks
        )
        env = {"PATH": "/usr/bin:/bin", "BREAKERWATCH_SHARD": f"{index}/3"}
        replicas.append(DaemonProcess(config, env))
    try:
        for daemon in replicas:
            daemon.wait_ready(timeout=30)
        shares = assign([Config(name) for name in names], 3)
        for index, daemon in enumerate(replicas):
            status = daemon.get("/api/v1/status").json()
            assert status["shard"] == f"{index}/3"
            assert sorted(daemon.status()) == sorted([*shares[index], "canary"])  # on every shard
            info = 'breakerwatch_build_info{python_version="'
            line = next(x for x in daemon.get("/metrics").text.splitlines() if x.startswith(info))
            assert f'shard="{index}/3"' in line
        time.sleep(INTERVAL * 1.5)  # past every first run (spread over the first interval)
        admin(simulator, "DELETE", "/endpoint/requests")
        time.sleep(INTERVAL * 3)
        log = admin(simulator, "GET", "/endpoint/requests").json()["requests"]
    finally:
        for daemon in replicas:
            assert daemon.stop() == 0
    assert len(log) < 1000, "the simulator keeps the last 1000 requests"
    seen: dict[str, list[float]] = defaultdict(list)
    for request in log:
        seen[request["query"]["integration"]].append(request["at"])
    assert len(seen.pop("canary")) >= 3 * 2  # every replica probes the egress canary
    assert sorted(seen) == sorted(names)  # every integration, by exactly one replica:
    for name, times in seen.items():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(times) >= 2, (name, times)
        # once per interval (the scheduler's jitter is a tenth of it): a second replica
        # probing it would show gaps far shorter; a missed run, one twice as long
        assert all(0.7 * INTERVAL <= gap <= 1.3 * INTERVAL for gap in gaps), (name, gaps)


def test_a_reload_adds_alertmanager_and_the_metrics_count_it(
    simulator: Simulator, cluster: Alertmanagers, tmp_path: Path
) -> None:
    """The incidents the policy tracked before go out at once; each Alertmanager is a
    channel of the notification metrics and of the status."""
    config = tmp_path / "config.toml"
    plain = config_text(simulator, tmp_path / "state") + "\n[alerts]\n"
    config.write_text(plain)
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx"})
        daemon.until(lambda: daemon.state("kit") == "open", 10, "kit to open")
        listed = ", ".join(f'"{url}"' for url in cluster.urls)
        config.write_text(plain + f"[alerts.alertmanager]\nurls = [{listed}]\n")
        daemon.signal(signal.SIGHUP)
        for url in cluster.urls:
            (alert,) = until(lambda url=url: cluster.alerts(url), 10, "the alert")
            assert alert["labels"]["integration"] == "kit"
        channel = "alertmanager " + cluster.urls[0].removeprefix("http://")
        metrics = daemon.get("/metrics").text
        assert f'breakerwatch_notification_queue_depth{{channel="{channel}"}} 0' in metrics
        sent = daemon.get("/api/v1/status").json()["alerts"][channel]["sent"]
        assert sent >= 1
        assert f'breakerwatch_notifications_total{{channel="{channel}"}} {sent}' in metrics
        admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("kit") == "closed", 20, "kit to close")
        until(lambda: all(cluster.alerts(url) == [] for url in cluster.urls), 10, "resolved")
    finally:
        assert daemon.stop() == 0
