"""The `breakerwatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib.metadata import version

from daemon import simulate

_COMING = """\
breakerwatch {version}: the resilient core is built (probes/: breaker, retry, outcome
classifier and ResilientClient; see README.md for using it from your own code).

Built too: the vendor adapters (probes.adapters) and `breakerwatch simulate`, faithful
fakes of Kit, HubSpot, Mailchimp and SendGrid on loopback.

Coming next, in this order:
  - the daemon: config.toml, the scheduler, /metrics, SQLite state, and this demo
  - Slack alerts, Grafana dashboards and Prometheus rules, the systemd service

Until then, `make test` runs the whole suite and `make bench` the breaker benchmark.
"""


def _listen(text: str) -> tuple[str, int]:
    try:
        return simulate.parse_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breakerwatch",
        description="Watch the SaaS integrations you depend on through circuit breakers.",
    )
    parser.add_argument("--version", action="version", version=version("breakerwatch"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="a first look at breakerwatch")
    sim = commands.add_parser(
        "simulate", help="serve fakes of the vendor APIs on loopback, with an admin API"
    )
    sim.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8600),
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8600; port 0 picks a free one)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        return asyncio.run(simulate.run(*args.listen))
    sys.stdout.write(_COMING.format(version=version("breakerwatch")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
