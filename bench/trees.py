"""Running a checkout's daemon: the benchmark's own (the checkout its file is in, whatever
the installed `breakerwatch` points at), or another, for the benchmarks that measure a
change against the code it replaced (`git worktree add /tmp/old REV`).

The other tree's code must be what runs: `python -c` and `python -m` put the current
directory first on `sys.path`, so run from this checkout they would import this checkout's
`daemon` whatever PYTHONPATH says (every `--against` and `--baseline` run before
2026-12-03 compared this tree with itself). PYTHONSAFEPATH (Python 3.11) leaves it out, and
`tree_daemon` checks where `daemon` is imported from before anything is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["tree_daemon"]

_MAIN = "import sys; from daemon.cli import main; sys.exit(main())"


def tree_daemon(tree: Path | str) -> tuple[list[str], dict[str, str]]:
    """The command (to which `run --config ...` is added) and environment that run the
    `breakerwatch` of the checkout at `tree` with this environment's packages."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import daemon; print(daemon.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(where).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"{tree}'s daemon would not be the one running: it imports {where}")
    return [sys.executable, "-c", _MAIN], env
