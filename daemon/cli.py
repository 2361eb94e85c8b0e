"""The `breakerwatch` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

_COMING = """\
breakerwatch {version}: the resilient core is built (probes/: breaker, retry, outcome
classifier and ResilientClient; see README.md for using it from your own code).

Coming next, in this order:
  - the vendor adapters and `breakerwatch simulate` (Kit, HubSpot, Mailchimp, SendGrid, http)
  - the daemon: config.toml, the scheduler, /metrics, SQLite state, and this demo
  - Slack alerts, Grafana dashboards and Prometheus rules, the systemd service

Until then, `make test` runs the whole suite and `make bench` the breaker benchmark.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breakerwatch",
        description="Watch the SaaS integrations you depend on through circuit breakers.",
    )
    parser.add_argument("--version", action="version", version=version("breakerwatch"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="a first look at breakerwatch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        sys.stdout.write(_COMING.format(version=version("breakerwatch")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
