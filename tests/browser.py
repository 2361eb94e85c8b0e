"""A real browser for tests: Debian's chromium, headless, driven by Debian's chromedriver
over the W3C WebDriver protocol (https://www.w3.org/TR/webdriver2/), which is a few JSON
calls over HTTP: nothing is downloaded, no browser of a tool's own.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed (.ci/run installs them)",
)
# As the machine's notes say: headless, as root, and no calls home to Google's services
# (the network here is closed, and they would only slow every start).
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip


class Browser:
    """`with Browser(tmp_path) as browser:` then `browser.open(url)`, `browser.run(js)`."""

    def __init__(self, directory: Path, *, resolve: dict[str, str] | None = None) -> None:
        """`resolve`: host names and the address the browser finds them at, as a DNS server
        answering for an attacker would."""
        assert CHROMIUM is not None
        assert CHROMEDRIVER is not None
        self._port = free_port()
        self._log = (directory / "chromedriver.log").open("w")
        self._driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self._port}"], stdout=self._log, stderr=subprocess.STDOUT
        )
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self._port}", timeout=60)
        self._wait_for_driver()
        rules = ",".join(f"MAP {name} {address}" for name, address in (resolve or {}).items())
        args = [*FLAGS, f"--user-data-dir={directory / 'profile'}"]
        if rules:
            args.append(f"--host-resolver-rules={rules}")
        options = {"binary": CHROMIUM, "args": args}
        wanted = {"goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}
        answer = self._http.post("/session", json={"capabilities": {"alwaysMatch": wanted}})
        answer.raise_for_status()
        self._session = answer.json()["value"]["sessionId"]

    def _wait_for_driver(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self._http.get("/status").json()["value"]["ready"]:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("chromedriver did not start")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self._http.request(method, f"/session/{self._session}{path}", json=body)
        answer.raise_for_status()
        return answer.json()["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body) in the page; what it returns, once any promise it
        returns has settled."""
        return self._call("POST", "/execute/async", {
            "script": f"const done = arguments[arguments.length - 1];"
                      f"Promise.resolve((async () => {{ {script} }})()).then(done, "
                      f"e => done('error: ' + e));",
            "args": list(args),
        })  # fmt: skip

    def screenshot(self, width: int, height: int) -> bytes:
        """The page as a PNG, the window `width` x `height` CSS pixels."""
        self._call("POST", "/window/rect", {"width": width, "height": height})
        return base64.b64decode(self._call("GET", "/screenshot"))

    def console(self) -> list[dict[str, Any]]:
        """The browser console's entries since the last call (chromedriver's log endpoint:
        level, message), page errors and refused content included."""
        entries: list[dict[str, Any]] = self._call("POST", "/se/log", {"type": "browser"})
        return entries

    def close(self) -> None:
        try:
            self._http.delete(f"/session/{self._session}")
        finally:
            self._driver.terminate()
            self._driver.wait(timeout=20)
            self._http.close()
            self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
