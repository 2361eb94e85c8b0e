"""The README's "watch your own integrations" recipe, run verbatim in a copy of the checkout
(its `.venv`, and the demo's config.toml beside it, as on a fresh clone): init writes a
one-vendor starter that check accepts, and run starts the daemon on it. The vendor is not
reachable from the test machine, which changes nothing here: the daemon starts, probes,
and stops cleanly."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recipe() -> list[str]:
    """The recipe's commands, comments stripped."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    block = next(block for block in blocks if "init my-config.toml" in block)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_watch_your_own_integrations_recipe_works_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")  # the demo's, as in a clone
    *setup, run = recipe()
    assert run.startswith(".venv/bin/breakerwatch run")
    script = "set -e\n" + "\n".join(setup) + f"\nexec {run}\n"
    process = subprocess.Popen(
        ["bash", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(" started: " in line for line in lines):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "my-config.toml: OK: 1 integrations (hubspot)" in output
    assert "started: 1 integrations" in output, output
    assert (tmp_path / "config.toml").read_bytes() == (ROOT / "config.toml").read_bytes()
