"""The `breakerwatch` command line (README.md, "Commands"; docs/operations.md).

Exit codes: 0 ok; 1 a bad config, a failed check or probe, or a daemon that cannot start;
2 a usage error. Errors are one sentence each, on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path

import httpx

from daemon import simulate
from daemon.access import exposure
from daemon.config import (
    Config,
    ConfigError,
    DaemonConfig,
    load,
    load_daemon,
    local_url,
    parse_listen,
)
from daemon.holds import ACTIONS
from daemon.sharding import MAX_SHARDS, Shard, assign, parse_shard
from daemon.starter import CREDENTIALS, VENDORS, secrets_of, starter_config, vendor_names
from daemon.status import format_history, format_report, format_silences, format_table
from daemon.tls import ServerTls, TlsError, client_context
from probes.text import printable

DEFAULT_URL = local_url(DaemonConfig())
TOKEN_VARIABLE = "BREAKERWATCH_TOKEN"


def config_path(given: str | None, environ: Mapping[str, str]) -> Path:
    """--config, else $BREAKERWATCH_CONFIG, else $CONFIGURATION_DIRECTORY/config.toml (systemd),
    else ./config.toml, else /etc/breakerwatch/config.toml."""
    if given:
        return Path(given)
    if environ.get("BREAKERWATCH_CONFIG"):
        return Path(environ["BREAKERWATCH_CONFIG"])
    if environ.get("CONFIGURATION_DIRECTORY"):
        return Path(environ["CONFIGURATION_DIRECTORY"].split(":")[0]) / "config.toml"
    local = Path("config.toml")
    return local if local.exists() else Path("/etc/breakerwatch/config.toml")


def _listen(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breakerwatch",
        description="Watch the SaaS integrations you depend on through circuit breakers.",
    )
    parser.add_argument("--version", action="version", version=version("breakerwatch"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--config", metavar="PATH", help="the config file")
        return command

    with_config("run", "the daemon, in the foreground (systemd Type=notify)")
    check = with_config("check", "validate the config file; print every problem")
    check.add_argument(
        "--shards",
        type=_shard_count,
        metavar="N",
        help="also print which of N shards (replicas) probes each integration",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also probe every integration once and check its credential's scopes",
    )
    init = commands.add_parser("init", help="write a commented starter config.toml")
    init.add_argument("path", nargs="?", default="config.toml", metavar="PATH")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument(
        "--vendors",
        metavar="LIST",
        help="the integrations to write uncommented, such as hubspot,sendgrid "
        f"(of {', '.join(VENDORS)}); the others are written commented out",
    )
    init.add_argument(
        "--credentials",
        action="store_true",
        help="reference secrets as systemd credentials (credential:NAME), not env:NAME",
    )
    probe = with_config("probe", "run one probe now and show how it went")
    probe.add_argument("name", metavar="NAME")
    probe.add_argument("--explain", action="store_true", help="the request, timings, and breaker")
    with_config("status", "a table of breakers from a running daemon")
    history = with_config("history", "the incidents a running daemon recorded")
    history.add_argument("name", metavar="NAME", nargs="?", help="one integration (else all)")
    history.add_argument(
        "--since",
        default="7d",
        help='from when: "7d" ago (the default), 2026-11-01, or Unix seconds',
    )
    history.add_argument("--until", default=None, help="until when (default: now)")
    history.add_argument("--csv", action="store_true", help="CSV, for a spreadsheet")
    report = with_config("report", "each integration's availability in a month, against its sla")
    report.add_argument("name", metavar="NAME", nargs="?", help="one integration (else all)")
    report.add_argument("--month", default=None, help="such as 2026-11 (default: the last one)")
    breaker = with_config("breaker", "force a breaker open, disable it, or reset it")
    breaker.add_argument("name", metavar="NAME")
    breaker.add_argument("action", choices=ACTIONS)
    breaker.add_argument("--reason", help="why (required to force open or disable; told in Slack)")
    silence = commands.add_parser("silence", help="hold a running daemon's alerts for a while")
    actions = silence.add_subparsers(dest="silence", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="silence an integration (or * for all)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--for", dest="duration", required=True, metavar="DURATION",
                     help='how long, such as "30m" or "2h"')  # fmt: skip
    add.add_argument("--reason", required=True, help="why (shown in the end-of-silence summary)")
    actions.add_parser("list", help="the silences not yet over")
    remove = actions.add_parser("remove", help="end a silence now")
    remove.add_argument("id", type=int, metavar="ID")
    for command in (commands.choices["status"], history, report, breaker,
                    *actions.choices.values()):  # fmt: skip
        command.add_argument(
            "--url", default=None, help=f"the daemon (default: [daemon] listen, or {DEFAULT_URL})"
        )
        if not any(a.dest == "config" for a in command._actions):
            command.add_argument("--config", metavar="PATH", help="the config file")
    with_config("test-alert", "send one test message through each configured sink")
    sim = commands.add_parser("simulate", help="serve fakes of the vendor APIs, with an admin API")
    sim.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8600),
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8600; port 0 picks a free one)",
    )
    demo = with_config("demo", "the simulator and the daemon, with scripted outages")
    demo.add_argument("--every", type=float, default=180.0, help="seconds between outages")
    demo.add_argument("--first", type=float, default=45.0, help="seconds until the first outage")
    demo.add_argument("--outage", type=float, default=60.0, help="seconds each outage lasts")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    try:
        return _dispatch(args, env)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, env: dict[str, str]) -> int:
    command = args.command
    if command == "simulate":
        return asyncio.run(simulate.run(*args.listen))
    if command == "init":
        return _init(Path(args.path), args.force, args.vendors, credentials=args.credentials)
    if command in ("status", "history", "report", "breaker", "silence"):
        return _remote(args, env)
    path = config_path(args.config, env)
    if command == "demo":
        from daemon.demo import run_demo

        return asyncio.run(
            run_demo(path, env, every=args.every, first=args.first, outage=args.outage)
        )
    config = _load(path, env)
    if config is None:
        return 1
    if command == "check":
        status = _check(path, config, args.shards)
        if status or not args.online:
            return status
        from daemon.online import check_online

        return asyncio.run(check_online(config, sys.stdout))
    if command == "test-alert":
        from daemon.alerting import test_alert
        from probes.outbound import Outbound

        outbound = Outbound.build(config.proxies, config.daemon.ca_file)
        return asyncio.run(test_alert(config.alerts, outbound, sys.stdout))
    if command == "probe":
        from daemon.explain import explain

        return asyncio.run(explain(config, args.name, sys.stdout, show=args.explain))
    from daemon.app import Daemon

    return asyncio.run(Daemon(config, environ=env).run())


def _check(path: Path, config: Config, shards: int | None) -> int:
    """What `run` would refuse, as `load` does (plus the TLS files), then notes on who can
    reach the daemon."""
    if config.daemon.tls is not None:
        try:
            ServerTls(config.daemon.tls)
        except TlsError as error:
            print(f"{path}: {error}", file=sys.stderr)
            return 1
    names = [i.name for i in config.integrations]
    if shards is None:
        print(f"{path}: OK: {len(names)} integrations ({', '.join(names) or 'none'})")
    else:
        print(f"{path}: OK: {len(names)} integrations")
        _print_shards(config, shards)
    for note in exposure(config.daemon):
        print(f"{path}: note: {note}")
    return 0


def _shard_count(text: str) -> int:
    try:
        return parse_shard(f"0/{text}").count
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number 1 to {MAX_SHARDS}") from None


def _print_shards(config: Config, count: int) -> None:
    """Each shard's share, then one `SHARD<TAB>INTEGRATION` line per integration it probes
    (an egress canary and a parent of others are on every shard)."""
    shards = assign(config.integrations, count)
    running = config.daemon.shard
    for index, members in enumerate(shards):
        mine = "  <- this replica's [daemon] shard" if running == Shard(index, count) else ""
        print(f"shard {index}/{count}: {len(members)} integrations{mine}")
    for index, members in enumerate(shards):
        for name in members:
            print(f"{index}/{count}\t{name}")


def _load(path: Path, env: Mapping[str, str]) -> Config | None:
    try:
        return load(path, environ=env)
    except ConfigError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        return None


def _init(path: Path, force: bool, given: str | None, *, credentials: bool = False) -> int:
    try:
        vendors = vendor_names(given) if given is not None else []
    except ValueError as error:
        print(f"--vendors: {error}: choose from {', '.join(VENDORS)}", file=sys.stderr)
        return 1
    if path.exists() and not force:
        print(f"{path} already exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(
            starter_config(credentials=credentials, vendors=vendors), encoding="utf-8"
        )
        temporary.replace(path)
    except OSError as error:
        print(f"cannot write {path}: {error.strerror}", file=sys.stderr)
        return 1
    check = f"then run `breakerwatch check --config {path}`"
    if not vendors:
        print(f"wrote {path}: every integration in it is commented out. Uncomment the ones you "
              f"use (or write it again with --force --vendors hubspot,sendgrid), set the "
              f"secrets they reference, {check}.")  # fmt: skip
    elif credentials:
        names = ", ".join(
            CREDENTIALS[f"env:{s}"].removeprefix("credential:") for s in secrets_of(vendors)
        )
        print(f"wrote {path}. Put the secrets it references in /etc/credstore/ ({names}; one "
              f"file each, chmod 600), {check}.")  # fmt: skip
    else:
        print(f"wrote {path}. Set the secrets it references ({', '.join(secrets_of(vendors))}), "
              f"{check}.")  # fmt: skip
    return 0


def _remote(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """`status`, `history`, `report`, `breaker` and `silence`: a request to the running daemon,
    with the admin token ($BREAKERWATCH_TOKEN, else [daemon] admin_token) and trusting its
    certificate."""
    if args.command == "breaker" and args.action != "reset" and not (args.reason or "").strip():
        print(f"breakerwatch breaker: {args.action} needs --reason (it is told in Slack)",
              file=sys.stderr)  # fmt: skip
        return 2
    daemon = DaemonConfig()
    path = config_path(args.config, env)
    if args.config or path.exists():
        try:
            daemon = load_daemon(path, environ=env)
        except ConfigError as error:
            for line in error.errors:
                print(line, file=sys.stderr)
            return 1
    url = (args.url or env.get("BREAKERWATCH_URL") or local_url(daemon)).rstrip("/")
    token = env.get(TOKEN_VARIABLE) or (
        daemon.admin_tokens[0][1].reveal() if len(daemon.admin_tokens) == 1 else None
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(
            base_url=url, timeout=10, headers=headers, verify=client_context(daemon.tls)
        ) as client:
            response = _request(client, args)
    except httpx.ConnectError as error:
        if isinstance(error.__context__ or error.__cause__, ssl.SSLCertVerificationError):
            print(f"cannot verify the certificate of {url}; --url must name a host the "
                  "certificate is for", file=sys.stderr)  # fmt: skip
        else:
            print(f"no breakerwatch daemon answers at {url} (is it running? --url sets the "
                  "address)", file=sys.stderr)  # fmt: skip
        return 1
    except httpx.HTTPError:
        print(f"no breakerwatch daemon answers at {url} (is it running? --url sets the address)",
              file=sys.stderr)  # fmt: skip
        return 1
    if response.status_code == 200 and args.command == "history" and args.csv:
        sys.stdout.write(printable(response.text, newlines=True))  # a terminal may show it
        return 0
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = {"error": f"{url} answered HTTP {response.status_code}, not breakerwatch JSON"}
    if response.status_code != 200:
        said = str(body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict)
                   else f"HTTP {response.status_code}")  # fmt: skip
        if response.status_code == 401:
            several = len(daemon.admin_tokens) > 1
            said += (f"; set ${TOKEN_VARIABLE}" if several or not token else
                     "; the admin token was refused")  # fmt: skip
        print(printable(said), file=sys.stderr)
        return 1
    if args.command == "status":
        sys.stdout.write(format_table(body, time.time()))
    elif args.command == "history":
        sys.stdout.write(format_history(body, time.time()))
    elif args.command == "report":
        sys.stdout.write(format_report(body))
    elif args.command == "silence":
        sys.stdout.write(format_silences(body["silences"], time.time()))
    else:
        held = body.get("override")
        who = f" by {held['by']}" if held else ""
        print(printable(f"{body['name']}: breaker {body['state']}{who} (saved: it stays so "
                        "across restarts)"))  # fmt: skip
    return 0


def _request(client: httpx.Client, args: argparse.Namespace) -> httpx.Response:
    if args.command == "status":
        return client.get("/api/v1/status")
    if args.command == "history":
        query = {"integration": args.name, "since": args.since, "until": args.until}
        path = "/api/v1/incidents.csv" if args.csv else "/api/v1/incidents"
        return client.get(path, params={k: v for k, v in query.items() if v})
    if args.command == "report":
        asked = {"integration": args.name, "month": args.month}
        return client.get("/api/v1/report", params={k: v for k, v in asked.items() if v})
    if args.command == "silence":
        return _silence_request(client, args)
    body = {"action": args.action, "reason": (args.reason or "").strip()}
    return client.post(f"/api/v1/integrations/{args.name}/breaker", json=body)


def _silence_request(client: httpx.Client, args: argparse.Namespace) -> httpx.Response:
    if args.silence == "add":
        payload = {"integration": args.name, "duration": args.duration, "reason": args.reason}
        return client.post("/api/v1/silences", json=payload)
    if args.silence == "remove":
        return client.delete(f"/api/v1/silences/{args.id}")
    return client.get("/api/v1/silences")


if __name__ == "__main__":
    sys.exit(main())
