"""Alerts end to end: the daemon as a real process, the simulator, the fake Slack; kill -9 at
the two moments that matter, Slack down while breakers change, silences from the CLI."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.sharding import owner
from simulator import Simulator
from tests.daemon.harness import (
    BREAKERWATCH,
    DaemonProcess,
    alerts_config,
    breakerwatch,
    config_text,
    environment,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process

TOKEN = "xoxb-test-token"


@pytest.fixture
def world(simulator: Simulator, slack: FakeSlack, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "config.toml"
    config.write_text(
        config_text(simulator, tmp_path / "state", extra=alerts_config(slack.api_url))
    )
    return config, environment(simulator, SLACK_TOKEN=TOKEN)


@pytest.fixture
def daemon(world: tuple[Path, dict[str, str]]) -> Iterator[DaemonProcess]:
    process = DaemonProcess(*world).wait_ready()
    yield process
    assert process.stop() == 0


def metric(text: str, series: str) -> float | None:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found[1]) if found else None


def outage(sim: Simulator, daemon: DaemonProcess, vendor: str = "kit") -> None:
    admin(sim, "PUT", f"/{vendor}/mode", {"mode": "5xx"})
    daemon.until(lambda: daemon.state(vendor) == "open", what=f"{vendor} to open")


def recovery(sim: Simulator, daemon: DaemonProcess, vendor: str = "kit") -> None:
    admin(sim, "PUT", f"/{vendor}/mode", {"mode": "healthy"})
    daemon.until(lambda: daemon.state(vendor) == "closed", timeout=20, what=f"{vendor} to close")


def test_open_then_close_is_one_message_updated_and_one_reply(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess, tmp_path: Path
) -> None:
    outage(simulator, daemon)
    daemon.until(lambda: slack.top_level(), what="the Slack message")
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("kit is failing: breaker open")
    assert "HTTP 500 server error" in message.text
    recovery(simulator, daemon)
    daemon.until(lambda: slack.replies(message.ts), what="the thread reply")
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("kit recovered: breaker closed after")
    assert len(slack.replies(message.ts)) == 1
    text = daemon.get("/metrics").text
    sent = metric(text, 'breakerwatch_notifications_total{channel="slack"}')
    assert metric(text, 'breakerwatch_notification_queue_depth{channel="slack"}') == 0
    assert metric(text, 'breakerwatch_notification_exactly_once{channel="slack"}') == 1
    assert daemon.get("/api/v1/status").json()["alerts"]["slack"]["sent"] == sent
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    # opened, resolved, and the quiet refreshes of the message (the trial) in between
    kinds = [
        json.loads(n)["kind"]
        for (n,) in db.execute("SELECT notice FROM deliveries WHERE outcome = 'sent' ORDER BY id")
    ]
    assert kinds[0] == "opened"
    assert kinds[-1] == "resolved"
    assert set(kinds[1:-1]) <= {"updated"}
    assert sent == len(kinds)


def test_kill_9_between_the_outbox_write_and_the_send(
    simulator: Simulator, slack: FakeSlack, world: tuple[Path, dict[str, str]]
) -> None:
    """Written, never acknowledged: the restart sends it, once."""
    config, env = world
    slack.mode = "down"
    daemon = DaemonProcess(config, env).wait_ready()
    outage(simulator, daemon)
    daemon.until(lambda: slack.calls("chat.postMessage"), what="an attempt")
    daemon.kill()
    assert slack.top_level() == []
    slack.mode = "healthy"
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        daemon.until(lambda: slack.top_level(), what="the delayed message")
        time.sleep(1.0)  # time to send it twice, were it going to
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("kit is failing")
        recovery(simulator, daemon)
        daemon.until(lambda: slack.replies(message.ts), what="the resolution")
        assert len(slack.top_level()) == 1
    finally:
        assert daemon.stop() == 0


def test_kill_9_between_the_send_and_the_acknowledgement(
    simulator: Simulator, slack: FakeSlack, world: tuple[Path, dict[str, str]]
) -> None:
    """Slack posted it, the answer never came back: the restart finds the message by its
    stamp in the channel's history and takes it, instead of posting it again."""
    config, env = world
    daemon = DaemonProcess(config, env).wait_ready()
    daemon.until(lambda: slack.calls("conversations.history"), what="the channel to be read")
    slack.mode = "hold"
    outage(simulator, daemon)
    daemon.until(lambda: slack.held, what="Slack to receive the post")
    daemon.kill()
    slack.mode = "healthy"
    slack.release()
    (message,) = slack.top_level()  # Slack has it
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        daemon.until(lambda: "was in Slack already" in daemon.output, what="the look-up")
        assert "may show twice" not in daemon.output
        recovery(simulator, daemon)
        daemon.until(lambda: slack.replies(message.ts), what="the resolution")
        (resolved,) = slack.top_level()  # the original, edited: never a second message
        assert (resolved.text or "").startswith("kit recovered")
        assert len(slack.replies(message.ts)) == 1
    finally:
        assert daemon.stop() == 0


def test_a_deleted_state_directory_during_an_incident_sends_no_second_message(
    simulator: Simulator, slack: FakeSlack, world: tuple[Path, dict[str, str]]
) -> None:
    """The state is gone while kit's incident is open: after the restart the breaker opens
    again, and its notice takes up the message Slack shows (by its stamp) instead of
    announcing the incident twice; the recovery edits the original."""
    config, env = world
    daemon = DaemonProcess(config, env).wait_ready()
    outage(simulator, daemon)
    daemon.until(lambda: slack.top_level(), what="the Slack message")
    (message,) = slack.top_level()
    assert daemon.stop() == 0
    shutil.rmtree(config.parent / "state")
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        daemon.until(lambda: "took up the message" in daemon.output, 30, "the take-up")
        assert slack.top_level() == [message]
        recovery(simulator, daemon)
        daemon.until(lambda: slack.replies(message.ts), what="the resolution")
        (resolved,) = slack.top_level()
        assert (resolved.text or "").startswith("kit recovered")
        assert len(slack.replies(message.ts)) == 1
    finally:
        assert daemon.stop() == 0


def test_slack_down_never_slows_probing_and_everything_arrives_in_order(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess
) -> None:
    slack.mode = "stall"  # Slack hangs: the worst case, requests that do not return
    outage(simulator, daemon, "kit")
    probes = metric(daemon.get("/metrics").text, 'breakerwatch_probes_total{integration="hubspot"}')
    recovery(simulator, daemon, "kit")
    outage(simulator, daemon, "hubspot")
    later = metric(daemon.get("/metrics").text, 'breakerwatch_probes_total{integration="hubspot"}')
    assert probes is not None
    assert later is not None
    assert later > probes
    depth = 'breakerwatch_notification_queue_depth{channel="slack"}'
    daemon.until(lambda: (metric(daemon.get("/metrics").text, depth) or 0) >= 2, what="a backlog")
    slack.mode = "healthy"
    slack.release()
    daemon.until(lambda: len(slack.top_level()) == 2, timeout=30, what="the backlog")
    kit, hubspot = slack.top_level()
    daemon.until(lambda: slack.replies(kit.ts), timeout=30, what="kit's resolution")
    assert kit.text is not None
    assert kit.text.startswith("kit recovered")
    assert hubspot.text is not None
    assert hubspot.text.startswith("hubspot is failing")
    assert kit.posted_at < hubspot.posted_at
    assert len(slack.replies(kit.ts)) == 1
    daemon.until(lambda: metric(daemon.get("/metrics").text, depth) == 0, what="an empty queue")


def test_a_silence_from_the_cli_holds_alerts_and_ends_with_a_summary(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess
) -> None:

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BREAKERWATCH, "silence", *args, "--url", daemon.url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    added = cli("add", "kit", "--for", "1h", "--reason", "vendor maintenance")
    assert added.returncode == 0, added.stderr
    assert re.search(r"^1\s+kit\s+in 59m\s+local\s+vendor maintenance$", added.stdout, re.M)
    missing = cli("add", "nope", "--for", "1h", "--reason", "x")
    assert missing.returncode == 1
    assert "no integration named 'nope'" in missing.stderr
    endless = cli("add", "*", "--for", "365d", "--reason", "quiet, please")
    assert (endless.returncode, endless.stderr) == (
        1, "a silence lasts more than 0s and at most 7d ([alerts] max_silence)\n",
    )  # fmt: skip
    overflow = cli("add", "*", "--for", "9" * 400 + "d", "--reason", "forever")
    assert (overflow.returncode, overflow.stderr) == (
        1, "duration must be a duration of at most 3650d\n",
    )  # fmt: skip
    outage(simulator, daemon)
    recovery(simulator, daemon)
    time.sleep(1.0)
    assert slack.top_level() == []  # probing and recording went on; nobody was told
    assert "kit" in cli("list").stdout
    table = subprocess.run(
        [BREAKERWATCH, "status", "--url", daemon.url],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "silenced: kit" in table.stdout
    assert "alerts via slack: 0 sent, 0 waiting; exactly once" in table.stdout
    removed = cli("remove", "1")
    assert removed.returncode == 0
    assert removed.stdout == "no silences\n"
    daemon.until(lambda: slack.top_level(), what="the summary")
    (summary,) = slack.top_level()
    assert summary.text is not None
    assert summary.text.startswith("Silence over for kit: healthy now")
    assert "During the silence: failed" in summary.text
    assert cli("remove", "1").returncode == 1


def test_test_alert_reports_each_sink(
    simulator: Simulator, slack: FakeSlack, world: tuple[Path, dict[str, str]]
) -> None:
    config, env = world
    config.write_text(
        config.read_text().replace('storm_window = "1s"\n', 'storm_window = "1s"\nconsole = true\n')
    )

    def run(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BREAKERWATCH, "test-alert", "--config", str(config)],
            capture_output=True, text=True, timeout=60, env=environ, check=False,
        )  # fmt: skip

    good = run(env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "slack: sent to C00000001; exactly once: an interrupted send is looked up" in good.stdout
    assert "ALERT breakerwatch test alert: this sink works." in good.stdout
    assert "console: sent" in good.stdout
    assert [m.text for m in slack.top_level()] == ["breakerwatch test alert: this sink works."]
    slack.history_scope = False
    partial = run(env)
    assert partial.returncode == 0
    assert (
        "slack: sent to C00000001; at least once, not exactly once: the bot cannot read "
        "#integrations's history (conversations.history): add channels:history "
        "(groups:history for a private channel)"
    ) in partial.stdout
    bad = run({**env, "SLACK_TOKEN": "xoxb-revoked-canary"})
    assert bad.returncode == 1
    assert "slack: FAILED: Slack answered HTTP 200 (invalid_auth) (auth)" in bad.stdout
    assert "xoxb-revoked-canary" not in bad.stdout + bad.stderr


def test_alerts_can_be_turned_on_by_a_reload(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    env = environment(simulator, SLACK_TOKEN=TOKEN)
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        outage(simulator, daemon, "kit")
        assert slack.requests == []  # no [alerts]: nothing is sent
        config.write_text(
            config_text(simulator, tmp_path / "state", extra=alerts_config(slack.api_url))
        )
        daemon.signal(signal.SIGHUP)
        daemon.until(lambda: "reloaded" in daemon.output, what="the reload")
        outage(simulator, daemon, "sendgrid")
        daemon.until(lambda: slack.top_level(), what="the alert")
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("sendgrid is failing")
    finally:
        assert daemon.stop() == 0


def test_long_throttling_is_its_own_incident(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    extra = alerts_config(slack.api_url, 'throttled_after = "1s"\n')
    config.write_text(config_text(simulator, tmp_path / "state", extra=extra))
    daemon = DaemonProcess(config, environment(simulator, SLACK_TOKEN=TOKEN)).wait_ready()
    try:
        admin(simulator, "PUT", "/hubspot/mode", {"mode": "429"})
        daemon.until(lambda: slack.top_level(), what="the throttling alert")
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("hubspot: throttled (HTTP 429) for a long time")
        assert daemon.state("hubspot") == "closed"  # a 429 is not an outage
        admin(simulator, "PUT", "/hubspot/mode", {"mode": "healthy"})
        daemon.until(lambda: slack.replies(message.ts), timeout=30, what="the end of it")
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("hubspot: no longer throttled")
    finally:
        assert daemon.stop() == 0


def test_an_integration_that_leaves_while_failing_ends_its_message(
    simulator: Simulator, slack: FakeSlack, world: tuple[Path, dict[str, str]]
) -> None:
    """Removed by a reload, or gone to another shard across a restart: its incident ends,
    its message says it is no longer watched here (never that it recovered)."""
    config, env = world
    text = config.read_text()

    def message(name: str) -> tuple[str, list[str]]:
        (found,) = [m for m in slack.top_level() if (m.text or "").startswith(name)]
        return found.text or "", [reply.text or "" for reply in slack.replies(found.ts)]

    daemon = DaemonProcess(config, env).wait_ready()
    try:
        outage(simulator, daemon, "kit")
        outage(simulator, daemon, "sendgrid")
        daemon.until(lambda: len(slack.top_level()) == 2, what="the two messages")
        kit = text.index('name = "kit"')
        start, end = text.rindex("[[integrations]]", 0, kit), text.index("[[integrations]]", kit)
        config.write_text(text[:start] + text[end:])
        daemon.signal(signal.SIGHUP)
        daemon.until(lambda: message("kit")[1], what="kit's thread reply")
        said, (reply,) = message("kit")
        assert said.startswith("kit: no longer watched here (removed from the configuration")
        assert reply.startswith("No longer watched here after ")
    finally:
        assert daemon.stop() == 0
    shard = f"{1 - owner('sendgrid', 2)}/2"  # the shard of two that sendgrid is not on
    daemon = DaemonProcess(config, {**env, "BREAKERWATCH_SHARD": shard}).wait_ready()
    try:
        daemon.until(lambda: message("sendgrid")[1], what="sendgrid's thread reply")
        assert message("sendgrid")[0].startswith("sendgrid: no longer watched here")
        assert "sendgrid" not in daemon.status()
    finally:
        assert daemon.stop() == 0


def test_a_hold_is_told_with_who_and_why_and_so_is_its_end(
    slack: FakeSlack, daemon: DaemonProcess
) -> None:
    """Even under a silence of everything: an operator's act is news."""
    silenced = breakerwatch("silence", "add", "*", "--for", "1h", "--reason", "deploy",
                            "--url", daemon.url)  # fmt: skip
    assert silenced.returncode == 0, silenced.stderr
    held = breakerwatch("breaker", "kit", "disable", "--reason", "Kit migrates our account",
                        "--url", daemon.url)  # fmt: skip
    assert held.returncode == 0, held.stderr
    daemon.until(lambda: slack.top_level(), what="the hold in Slack")
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("kit: breaker disabled by local: it cannot open")
    assert "Reason: Kit migrates our account" in message.text
    series = (
        'breakerwatch_breaker_override_since_timestamp_seconds{integration="kit",mode="disabled"}'
    )
    assert metric(daemon.get("/metrics").text, series) is not None
    reset = breakerwatch("breaker", "kit", "reset", "--reason", "done", "--url", daemon.url)
    assert reset.returncode == 0, reset.stderr
    daemon.until(lambda: slack.replies(message.ts), what="the reset in its thread")
    (message,) = slack.top_level()
    assert message.text is not None
    assert message.text.startswith("kit: breaker back in service, reset by local after")
    (reply,) = slack.replies(message.ts)
    assert reply.text is not None
    assert reply.text.startswith("Reset by local after ")
    assert metric(daemon.get("/metrics").text, series) is None
