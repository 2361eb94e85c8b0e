"""Is it them or us, end to end: the daemon as a process, the simulator's vendors and their
Statuspage pages over real sockets, the fake Slack. A vendor outage with its incident posted
first, posted later, never posted; the egress canary down; a parent and its children
failing together; a dead, slow, huge, malformed and 304-answering status page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, alerts_config, config_text, environment
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin

pytestmark = pytest.mark.system

PAGES = '[daemon]\nstatus_page_interval = "1s"\nstatus_page_interval_open = "1s"\n'


def configure(sim: Simulator, slack: FakeSlack, tmp_path: Path, more: str = "") -> Path:
    """The four vendors, kit reading its simulated status page every second."""
    text = config_text(sim, tmp_path / "state", extra=alerts_config(slack.api_url) + more)
    text = text.replace("[daemon]\n", PAGES, 1)
    kit = f'base_url = "{sim.base_url("kit")}"\n'
    text = text.replace(kit, kit + f'status_page = "{sim.status_page("kit")}"\n')
    config = tmp_path / "config.toml"
    config.write_text(text)
    return config


@pytest.fixture
def daemon(simulator: Simulator, slack: FakeSlack, tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(configure(simulator, slack, tmp_path), env(simulator)).wait_ready()
    yield process
    assert process.stop() == 0


def env(sim: Simulator) -> dict[str, str]:
    return environment(sim, SLACK_TOKEN="xoxb-test-token")


def fail(sim: Simulator, daemon: DaemonProcess, vendor: str = "kit") -> None:
    admin(sim, "PUT", f"/{vendor}/mode", {"mode": "5xx"})
    daemon.until(lambda: daemon.state(vendor) == "open", what=f"{vendor} to open")


def heal(sim: Simulator, daemon: DaemonProcess, vendor: str = "kit") -> None:
    admin(sim, "PUT", f"/{vendor}/mode", {"mode": "healthy"})
    daemon.until(lambda: daemon.state(vendor) == "closed", timeout=20, what=f"{vendor} to close")


def post(sim: Simulator, name: str = "Elevated API errors") -> str:
    said = admin(sim, "POST", "/kit/status-incident", {"name": name, "impact": "major"})
    return str(said.json()["incidents"][-1]["id"])


def second_line(slack: FakeSlack) -> str:
    (message,) = slack.top_level()
    assert message.text is not None
    return message.text.splitlines()[1]


def test_the_vendor_posted_first_so_the_alert_says_the_vendor_confirms(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess
) -> None:
    post(simulator)
    daemon.until(lambda: daemon.status()["kit"]["vendor"]["incidents"], what="the page read")
    fail(simulator, daemon)
    daemon.until(slack.top_level, what="the alert")
    assert second_line(slack).startswith("The vendor confirms: 127.0.0.1:"), second_line(slack)
    assert ' reports "Elevated API errors" (major, investigating), since' in second_line(slack)
    verdict = daemon.status()["kit"]["verdict"]
    assert verdict["kind"] == "vendor_confirms"
    assert verdict["link"].startswith("https://stspg.example/kit-incident-")


def test_posted_later_the_message_is_edited_and_the_thread_told_then_never_posted(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess
) -> None:
    fail(simulator, daemon)
    daemon.until(slack.top_level, what="the alert")
    assert second_line(slack).startswith("Only us so far: 127.0.0.1:")
    (message,) = slack.top_level()
    incident = post(simulator)
    daemon.until(lambda: slack.replies(message.ts), what="the thread reply")
    assert second_line(slack).startswith("The vendor confirms: ")  # edited in place
    (reply,) = slack.replies(message.ts)
    assert reply.text is not None
    assert reply.text.startswith("kit: the vendor's status page now confirms it.")
    admin(simulator, "POST", "/kit/status-resolve", {"id": incident})
    daemon.until(lambda: len(slack.replies(message.ts)) == 2, what="the vendor's resolution")
    assert second_line(slack).startswith("Only us so far: ")
    heal(simulator, daemon)
    daemon.until(lambda: len(slack.replies(message.ts)) == 3, what="our resolution")
    assert len(slack.top_level()) == 1  # one message for the incident, whatever the vendor said


def test_a_vendor_incident_with_the_breaker_closed_is_quiet_by_default(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess
) -> None:
    post(simulator)
    daemon.until(lambda: daemon.status()["kit"]["vendor"]["incidents"], what="the page read")
    time.sleep(1.5)  # a few more reads: nothing is told
    assert slack.top_level() == []
    assert daemon.status()["kit"]["verdict"] is None  # not failing: nothing to judge


def test_a_vendor_incident_heads_up_when_asked(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    config = configure(simulator, slack, tmp_path)
    config.write_text(config.read_text().replace(
        "[alerts]\n", '[alerts]\nnotify_on = ["open", "close", "vendor_incident"]\n'))  # fmt: skip
    daemon = DaemonProcess(config, env(simulator)).wait_ready()
    try:
        incident = post(simulator, "Forms delayed")
        daemon.until(slack.top_level, what="the heads-up")
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("kit: heads-up: the vendor reports an incident")
        admin(simulator, "POST", "/kit/status-resolve", {"id": incident})
        daemon.until(lambda: slack.replies(message.ts), what="its end")
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("kit: the vendor's incident is over")
    finally:
        assert daemon.stop() == 0


def test_the_egress_canary_down_makes_it_our_side(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    canary = (f'\n[[integrations]]\nname = "egress"\nkind = "http"\n'
              f'url = "{simulator.url}/endpoint/healthz"\negress = true\n')  # fmt: skip
    config = configure(simulator, slack, tmp_path, canary)
    daemon = DaemonProcess(config, env(simulator)).wait_ready()
    try:
        admin(simulator, "PUT", "/endpoint/mode", {"mode": "5xx"})
        daemon.until(lambda: daemon.state("egress") == "open", what="the canary")
        fail(simulator, daemon)
        daemon.until(lambda: daemon.status()["kit"]["verdict"], what="kit's verdict")
        verdict = daemon.status()["kit"]["verdict"]
        assert verdict["kind"] == "our_side"
        assert verdict["line"] == ("Our side: the egress canary egress is failing too: our network")
        held = "Held as probably our own network: kit."
        daemon.until(lambda: any(held in (m.text or "") for m in slack.top_level()),
                     what="kit held on the canary's message")  # fmt: skip
        (message,) = slack.top_level()  # kit is held on the canary's thread
        assert message.text is not None
        assert message.text.startswith("egress (egress canary) is failing")
        assert "Held as probably our own network: kit." in message.text
    finally:
        assert daemon.stop() == 0


def test_a_parent_and_its_children_failing_together_are_one_message(
    simulator: Simulator, slack: FakeSlack, tmp_path: Path
) -> None:
    parent = (f'\n[[integrations]]\nname = "corp-proxy"\nkind = "http"\n'
              f'url = "{simulator.url}/endpoint/healthz"\n')  # fmt: skip
    config = configure(simulator, slack, tmp_path, parent)
    # A child that opens first waits up to the storm window for its parent: 10 s, so a
    # loaded machine's second or two between their openings cannot split the outage.
    text = config.read_text().replace('storm_window = "1s"', 'storm_window = "10s"')
    # Open periods double with each failed trial: capped, so the parent, failing while its
    # children recover one after another, tries again within seconds once it is healed.
    text = text.replace(
        'reset_timeout = "2s"\n', 'reset_timeout = "2s"\nmax_reset_timeout = "4s"\n'
    )
    for child in ("kit", "hubspot", "sendgrid"):
        base = f'base_url = "{simulator.base_url(child)}"\n'
        text = text.replace(base, base + 'depends_on = ["corp-proxy"]\n')
    config.write_text(text)
    daemon = DaemonProcess(config, env(simulator)).wait_ready()
    try:
        for fake in ("kit", "hubspot", "sendgrid", "endpoint"):  # the children first
            admin(simulator, "PUT", f"/{fake}/mode", {"mode": "5xx"})
        states = ("kit", "hubspot", "sendgrid", "corp-proxy")
        daemon.until(lambda: all(daemon.state(n) == "open" for n in states), what="all open")
        folded = "3 integrations behind corp-proxy"
        daemon.until(lambda: any(folded in (m.text or "") for m in slack.top_level()),
                     what="the children folded in")  # fmt: skip
        time.sleep(2.0)  # past the storm window: nothing more is told on its own
        (message,) = slack.top_level()
        assert message.text is not None
        assert message.text.startswith("corp-proxy is failing: breaker open")
        assert "3 integrations behind corp-proxy, told here, not on their own: " in message.text
        verdict = daemon.status()["kit"]["verdict"]
        assert verdict["line"] == "Our side: corp-proxy, which it depends on, is failing too"
        for child in ("kit", "hubspot", "sendgrid"):  # a child's recovery is never held
            heal(simulator, daemon, child)
        admin(simulator, "PUT", "/endpoint/mode", {"mode": "healthy"})
        daemon.until(lambda: daemon.state("corp-proxy") == "closed", timeout=20, what="close")
        daemon.until(lambda: slack.replies(message.ts), what="the resolution")
        (message,) = slack.top_level()  # still one message for the whole outage
        assert message.text is not None
        assert "While corp-proxy was failing, 3 integrations behind it failed too" in message.text
    finally:
        assert daemon.stop() == 0


@pytest.mark.parametrize(
    ("mode", "why"),
    [("503", "HTTP 503"), ("garbage", "not a Statuspage summary"),
     ("huge", "over the 1048576 cap"), ("slow", "timeout")],
)  # fmt: skip
def test_a_page_that_cannot_be_read_makes_it_unknown_and_never_holds_the_alert(
    simulator: Simulator, slack: FakeSlack, daemon: DaemonProcess, mode: str, why: str
) -> None:
    """The alert goes with whatever the page said last (bench/alert_latency.py measures
    that a bad page costs the alert nothing); the verdict says why the page is no help."""
    admin(simulator, "PUT", "/kit/status-mode", {"mode": mode})
    daemon.until(lambda: simulator.status_pages["kit"].requests >= 3, what="bad reads")
    fail(simulator, daemon)
    daemon.until(slack.top_level, what="the alert")
    assert second_line(slack).split(":")[0] in ("Unknown", "Only us so far")
    if mode != "slow":  # a slow page is read in the end, a bit late
        daemon.until(lambda: why in daemon.status()["kit"]["verdict"]["line"], what="why")
        assert daemon.status()["kit"]["verdict"]["kind"] == "unknown"
        assert second_line(slack).startswith("Unknown: 127.0.0.1:")
        assert why in second_line(slack)
