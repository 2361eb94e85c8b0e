"""A web page the operator happens to open tries every cross-site trick against the daemon,
in a real browser (Debian's chromium, headless): forms, `fetch` with `no-cors` and
`text/plain`, a JSON `fetch` (which needs a CORS preflight), `sendBeacon`, a cross-origin
read, and DNS rebinding (the page's own host name, answered first by the attacker and then
by the daemon's address). Afterwards the daemon's state is what it was, and its counters
show each attempt arrived and was refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator import Simulator
from tests.browser import Browser, needs_browser
from tests.daemon.harness import DaemonProcess, config_text, environment
from tests.daemon.test_daemon import metric
from tests.support import free_port

pytestmark = needs_browser

CROSS_SITE_PAGE = """<!doctype html><html><body>
<iframe name="one"></iframe><iframe name="two"></iframe>
<form id="form" method="POST" action="{daemon}/api/v1/integrations/kit/breaker" target="one">
  <input name="action" value="disable"><input name="reason" value="a web page">
</form>
<form id="plain" method="POST" enctype="text/plain" action="{daemon}/api/v1/silences"
      target="two">
  <input name='{{"integration": "*", "duration": "24h", "reason": "a web page", "x": "'
         value='"}}'>
</form>
</body></html>"""

CROSS_SITE_TRICKS = """
const daemon = arguments[0];
const body = JSON.stringify({action: "force-open", reason: "a web page"});
const url = daemon + "/api/v1/integrations/kit/breaker";
const tried = {};
document.getElementById("form").submit();
document.getElementById("plain").submit();
try {
  await fetch(url, {method: "POST", mode: "no-cors", body,
                    headers: {"Content-Type": "text/plain"}});
  tried.no_cors = "sent";
} catch (e) { tried.no_cors = "blocked"; }
try {
  const answer = await fetch(url, {method: "POST", body,
                                   headers: {"Content-Type": "application/json"}});
  tried.json = answer.status;
} catch (e) { tried.json = "blocked"; }
try {
  await fetch(daemon + "/api/v1/silences/1", {method: "DELETE"});
  tried.delete = "sent";
} catch (e) { tried.delete = "blocked"; }
tried.beacon = navigator.sendBeacon(daemon + "/api/v1/silences",
                                    new Blob([body], {type: "text/plain"}));
try {
  const answer = await fetch(daemon + "/api/v1/status");
  tried.read = (await answer.text()).slice(0, 40);
} catch (e) { tried.read = "blocked"; }
await new Promise(resolve => setTimeout(resolve, 2000));  // the forms' posts
return tried;
"""

REBINDING_PAGE = "<!doctype html><html><body>a page on rebind.evil.example</body></html>"

REBINDING_TRICK = """
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const seen = {};
for (let i = 0; i < 200; i++) {  // same origin: wait until the name answers with the daemon
  try {
    const answer = await fetch("/api/v1/status", {cache: "no-store"});
    if (!answer.headers.get("x-attacker")) { seen.read = answer.status; break; }
  } catch (e) {}
  await sleep(100);
}
try {
  const answer = await fetch("/api/v1/integrations/kit/breaker", {
    method: "POST", cache: "no-store", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({action: "force-open", reason: "rebound"})});
  seen.change = answer.status;
} catch (e) { seen.change = "blocked"; }
return seen;
"""


class Attacker:
    """The attacker's web server: a page at /page.html; anything else answers "not yet"
    marked with X-Attacker, as a rebinding page's own server would before the switch."""

    def __init__(self, page: str, port: int = 0) -> None:
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = (attacker.page if self.path == "/page.html" else "not yet").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("X-Attacker", "yes")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.page = page
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with Browser(tmp_path, resolve={"rebind.evil.example": "127.0.0.1"}) as running:
        yield running


def daemon_on(simulator: Simulator, directory: Path, listen: str) -> DaemonProcess:
    config = directory / "config.toml"
    directory.mkdir(parents=True, exist_ok=True)
    text = config_text(simulator, directory / "state").replace("127.0.0.1:0", listen)
    config.write_text(text)
    return DaemonProcess(config, environment(simulator)).wait_ready()


def untouched(daemon: DaemonProcess) -> None:
    assert daemon.state("kit") == "closed"
    assert daemon.get("/api/v1/silences").json()["silences"] == []


def refused(daemon: DaemonProcess, reason: str) -> float:
    text = daemon.get("/metrics").text
    return metric(text, "breakerwatch_http_requests_refused_total", reason=reason) or 0.0


def test_a_cross_site_page_changes_nothing(
    simulator: Simulator, tmp_path: Path, browser: Browser
) -> None:
    daemon = daemon_on(simulator, tmp_path / "daemon", "127.0.0.1:0")
    attacker = Attacker(CROSS_SITE_PAGE.format(daemon=daemon.url))
    try:
        browser.open(f"http://127.0.0.1:{attacker.port}/page.html")
        tried = browser.run(CROSS_SITE_TRICKS, daemon.url)
        assert tried == {
            # It went (the daemon refused it: counted below); even its opaque answer is
            # withheld from the page, by Cross-Origin-Resource-Policy: same-origin.
            "no_cors": "blocked",
            "json": "blocked",  # the preflight got no CORS grant, so the POST never went
            "delete": "blocked",
            "beacon": True,
            "read": "blocked",  # no CORS grant: the page cannot read the status either
        }
        daemon.until(lambda: refused(daemon, "cross_site") >= 4, 10, "the refusals")
        untouched(daemon)
        # The endpoints were live all along: a local operator's own request works.
        own = httpx.post(daemon.url + "/api/v1/integrations/kit/breaker", timeout=5,
                         json={"action": "disable", "reason": "an operator"})  # fmt: skip
        assert own.status_code == 200
    finally:
        attacker.close()
        assert daemon.stop() == 0


def test_dns_rebinding_changes_nothing(
    simulator: Simulator, tmp_path: Path, browser: Browser
) -> None:
    port = free_port()
    attacker = Attacker(REBINDING_PAGE, port)
    browser.open(f"http://rebind.evil.example:{port}/page.html")
    seen: dict[str, Any] = {}
    page = threading.Thread(target=lambda: seen.update(browser.run(REBINDING_TRICK)))
    page.start()
    attacker.close()  # the name now answers with the daemon's address and port
    daemon = daemon_on(simulator, tmp_path / "daemon", f"127.0.0.1:{port}")
    try:
        page.join(timeout=60)
        assert seen == {"read": 421, "change": 421}
        untouched(daemon)
        assert refused(daemon, "misdirected") >= 2
    finally:
        assert daemon.stop() == 0
