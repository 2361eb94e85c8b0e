"""Screenshots of the status page for the README: `make screenshots`.

    .venv/bin/python docs/screenshots.py

The vendor simulator and a daemon probing it (the test harness's four vendors), an outage
of HubSpot that recovers and one of Kit still going on, then Debian's chromium (headless,
over WebDriver, as the tests drive it) takes the page at `/` and HubSpot's page into
docs/img/, 1200 CSS pixels wide.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMEDRIVER, CHROMIUM, Browser  # noqa: E402
from tests.daemon.harness import DaemonProcess, config_text, environment  # noqa: E402
from tests.simulator.helpers import admin, running_simulator  # noqa: E402

IMAGES = ROOT / "docs" / "img"


def main() -> int:
    if CHROMIUM is None or CHROMEDRIVER is None:
        print("make screenshots needs chromium and chromium-driver (apt-get install them)")
        return 1
    IMAGES.mkdir(exist_ok=True)
    with running_simulator() as simulator, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text(simulator, Path(tmp) / "state"))
        daemon = DaemonProcess(config, environment(simulator)).wait_ready()
        try:
            time.sleep(3)  # some probes for the charts
            admin(simulator, "PUT", "/hubspot/mode", {"mode": "5xx", "status": 503})
            daemon.until(lambda: daemon.state("hubspot") == "open", 30, "hubspot open")
            time.sleep(2)
            admin(simulator, "PUT", "/hubspot/mode", {"mode": "healthy"})
            daemon.until(lambda: daemon.state("hubspot") == "closed", 30, "hubspot closed")
            admin(simulator, "PUT", "/kit/mode", {"mode": "5xx", "status": 500})
            daemon.until(lambda: daemon.state("kit") == "open", 30, "kit open")
            with Browser(Path(tmp)) as browser:
                for path, name, height in (("/", "status-page.png", 420),
                                           ("/integrations/hubspot", "integration-page.png",
                                            1000)):  # fmt: skip
                    browser.open(daemon.url + path)
                    (IMAGES / name).write_bytes(browser.screenshot(1200, height))
                    print(f"wrote docs/img/{name}")
        finally:
            daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
