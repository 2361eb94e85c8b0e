"""A vendor whose error bodies carry Slack markup, terminal escapes, forged log lines and
our own key, echoed: what it says reaches Slack, the journal, `breakerwatch status`,
`probe --explain` and Alertmanager inert, and the key nowhere."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from simulator import Simulator
from tests.alertmanagers import BINARY as ALERTMANAGER
from tests.alertmanagers import Alertmanagers
from tests.daemon.harness import (
    DaemonProcess,
    alerts_config,
    breakerwatch,
    config_text,
    environment,
)
from tests.fakes.slack import FakeSlack
from tests.simulator.helpers import admin
from tests.support import texts

KEY = "kitkey-0123456789-SENT"
HOSTILE = (
    "<!channel> <!here> wake up & <https://evil.example|click here> "
    "\x1b[2J\x1b]0;owned\x07\x1b[31mRED\x1b[0m\u202e"
    "\n2026-01-01T00:00:00.000Z INFO breakerwatch: FORGED all vendors healthy\r\n"
    + "here is the key we got: {credential}"  # at 187: a cut at 200 would split it
)


def test_nothing_a_vendor_sends_acts_anywhere(
    simulator: Simulator, tmp_path: Path, slack: FakeSlack
) -> None:
    simulator.vendors["kit"].credentials.add(KEY)
    alerts = alerts_config(slack.api_url, "console = true\n")
    alertmanager = None
    if ALERTMANAGER is not None:
        alertmanager = Alertmanagers(tmp_path / "am", slack.webhook_url(), count=1).__enter__()
        alerts += f'[alerts.alertmanager]\nurls = ["{alertmanager.urls[0]}"]\n'
        alerts += 'resend_interval = "1s"\n'
    config = tmp_path / "config.toml"
    config.write_text(
        config_text(simulator, tmp_path / "state", extra=alerts).replace(
            "[daemon]\n", '[daemon]\nlog_level = "debug"\n'
        )
    )
    env = environment(simulator, KIT_KEY=KEY, SLACK_TOKEN="xoxb-test-token")
    admin(simulator, "PUT", "/kit/mode", {"mode": "5xx", "status": 500, "message": HOSTILE})
    daemon = DaemonProcess(config, env).wait_ready()
    outputs: dict[str, str] = {}
    try:
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        daemon.until(lambda: slack.top_level(), what="the Slack alert")
        outputs["status"] = daemon.get("/api/v1/status").text
        table = breakerwatch("status", "--url", daemon.url)
        outputs["status table"] = table.stdout + table.stderr
        history = breakerwatch("history", "--url", daemon.url)
        outputs["history table"] = history.stdout + history.stderr
        spreadsheet = breakerwatch("history", "kit", "--csv", "--url", daemon.url)
        outputs["history csv"] = spreadsheet.stdout + spreadsheet.stderr
        outputs["incidents api"] = daemon.get("/api/v1/incidents").text
        outputs["incidents csv"] = daemon.get("/api/v1/incidents.csv").text
        outputs["page"] = daemon.get("/integrations/kit").text
        explain = breakerwatch("probe", "kit", "--explain", "--config", str(config), env=env)
        outputs["probe --explain"] = explain.stdout + explain.stderr
        if alertmanager is not None:
            daemon.until(lambda: any(m.attachments for m in slack.top_level()), 30, "AM's")
            alerts_api = httpx.get(f"{alertmanager.urls[0]}/api/v2/alerts", timeout=5).text
            outputs["alertmanager"] = alerts_api
        time.sleep(0.5)
    finally:
        assert daemon.stop() == 0
        if alertmanager is not None:
            alertmanager.close()
    outputs["journal"] = daemon.output
    sent = [request.body.decode() for request in slack.requests]
    outputs["slack"] = "\n".join(sent)

    # It did reach every output, as words...
    assert "wake up &amp; &lt;https://evil.example|click here&gt;" in outputs["slack"]
    assert "&lt;!channel&gt;" in outputs["slack"]
    assert "wake up & <https://evil.example|click here>" in outputs["journal"]
    assert "wake up" in outputs["status table"]
    assert "<!channel> <!here" in outputs["history table"]  # the start of it, clipped
    for where in ("history csv", "incidents api", "incidents csv"):
        assert "wake up" in outputs[where], where
    assert (
        "&lt;!channel&gt; &lt;!here&gt; wake up &amp; &lt;https://evil.example" in (outputs["page"])
    )
    assert "wake up" in outputs["probe --explain"]
    if alertmanager is not None:
        assert "wake up" in outputs["alertmanager"]
        webhook = [json.loads(body) for body in sent if '"attachments"' in body]
        assert webhook
        assert all("<!channel>" not in json.dumps(body) for body in webhook)
    # ... and as nothing else.
    for where, text in outputs.items():
        for start in range(len(KEY) - 7):  # not the key, nor any 8 characters of it
            assert KEY[start : start + 8] not in text, where
        if where == "incidents csv":  # RFC 4180 ends its lines with CRLF: no other CR
            text = text.replace("\r\n", "\n")
        for control in ("\x1b", "\x07", "\u202e", "\r"):
            assert control not in text, (where, control)
    assert "[REDACTED]" in outputs["journal"]
    for message in slack.top_level() + [r for m in slack.top_level() for r in slack.replies(m.ts)]:
        for text in [message.text or "", *texts(message.blocks)]:
            for mention in ("<!channel>", "<!here>", "<https://evil.example"):
                assert mention not in text
    forged = [line for line in daemon.lines if "FORGED" in line]
    assert forged
    assert all(not line.startswith("2026-01-01") for line in forged)  # never a line of its own
    assert "Traceback" not in outputs["journal"]
