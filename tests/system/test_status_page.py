"""The status page in a real browser (Debian's chromium, headless, over WebDriver), on a
running daemon probing the simulator through an outage and a recovery: the right states and
incidents, a vendor's hostile error text shown as text and never run, no console error (the
page's own style allowed by its Content-Security-Policy, nothing else needed), and no
serious or critical accessibility violation by axe-core (pinned in tests/axe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator import Simulator
from tests.browser import Browser, needs_browser
from tests.daemon.harness import DaemonProcess, config_text, environment
from tests.simulator.helpers import admin

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
needs_axe = pytest.mark.skipif(not AXE.exists(), reason="make test installs axe-core (npm ci)")
pytestmark = [pytest.mark.system, needs_browser, needs_axe]

HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2"> <b>bold</b>'
LOOK = """
const main = document.querySelector("main");
const open = document.querySelector(".state.open");
return {
  title: document.title,
  text: main.innerText,
  rows: [...document.querySelectorAll("tbody tr")].map(row => row.innerText),
  pwned: window.pwned || null,
  scripts: document.querySelectorAll("script").length,
  images: document.querySelectorAll("img, main b").length,
  red: open ? getComputedStyle(open).color : null,
  chart: !!document.querySelector("svg[role=img] title"),
  lang: document.documentElement.lang,
};
"""
AXE_RUN = """
const found = await axe.run(document, {resultTypes: ["violations"]});
return found.violations.filter(v => ["serious", "critical"].includes(v.impact))
  .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
"""


def look(browser: Browser, url: str) -> dict[str, Any]:
    browser.open(url)
    seen: dict[str, Any] = browser.run(LOOK)
    return seen


def axe(browser: Browser) -> list[str]:
    problems: list[str] = browser.run(AXE.read_text() + "\n" + AXE_RUN)
    return problems


def test_the_page_through_an_outage_and_a_recovery(simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(simulator, tmp_path / "state"))
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:
        admin(simulator, "PUT", "/kit/mode", {"mode": "5xx", "status": 500, "message": HOSTILE})
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        with Browser(tmp_path) as browser:
            front = look(browser, daemon.url + "/")
            assert front["title"] == "breakerwatch: 1 of 4 integrations failing"
            (kit,) = [row for row in front["rows"] if row.startswith("kit")]
            assert "open: failing" in kit
            assert front["red"] not in (None, "rgb(0, 0, 0)")  # the style was allowed
            assert axe(browser) == []
            browser.screenshot(390, 844)  # a phone's width: the page scrolls only its tables
            wide = browser.run("return document.documentElement.scrollWidth - innerWidth;")
            assert wide <= 0, wide
            page = look(browser, daemon.url + "/integrations/kit")
            assert HOSTILE in page["text"]  # the vendor's words, as words
            assert (page["pwned"], page["scripts"], page["images"]) == (None, 0, 0)
            assert page["chart"]
            assert "going on" in page["text"]
            assert "Availability by month (UTC)" in page["text"]
            assert page["lang"] == "en"
            assert axe(browser) == []
            admin(simulator, "PUT", "/kit/mode", {"mode": "healthy"})
            daemon.until(lambda: daemon.state("kit") == "closed", 20, "kit to close")
            after = look(browser, daemon.url + "/integrations/kit")
            assert "closed: healthy" in after["text"]
            ended = [row for row in after["rows"] if row.rstrip().endswith("recovered")]
            assert len(ended) == 1  # the one incident, over
            front = look(browser, daemon.url + "/")
            assert front["title"] == "breakerwatch: all 4 integrations healthy"
            missing = look(browser, daemon.url + "/integrations/%3Cscript%3E")
            assert "No integration named <script>" in missing["text"]
            errors = [e for e in browser.console() if e["level"] == "SEVERE"]
            # The missing page's 404 is the one error the browser may log.
            assert all("404" in e["message"] for e in errors), errors
    finally:
        assert daemon.stop() == 0


def test_a_public_page_leaves_out_error_texts_and_an_off_one_is_not_there(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state")
    config.write_text(text.replace("[daemon]\n", '[daemon]\nstatus_page = "public"\n', 1))
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:
        admin(
            simulator, "PUT", "/kit/mode", {"mode": "5xx", "status": 500, "message": "SECRET-ish"}
        )
        daemon.until(lambda: daemon.state("kit") == "open", what="kit to open")
        with Browser(tmp_path) as browser:
            for url in ("/", "/integrations/kit"):
                seen = look(browser, daemon.url + url)
                assert "SECRET-ish" not in seen["text"]
                assert "127.0.0.1" not in seen["text"]
                assert "Verdict" not in seen["text"]
                assert "failure threshold" not in seen["text"]
            assert "open: failing" in seen["text"]
    finally:
        assert daemon.stop() == 0
    config.write_text(text.replace("[daemon]\n", '[daemon]\nstatus_page = "off"\n', 1))
    daemon = DaemonProcess(config, environment(simulator)).wait_ready()
    try:
        assert daemon.get("/").status_code == 404
        assert daemon.get("/api/v1/status").status_code == 200
    finally:
        assert daemon.stop() == 0
