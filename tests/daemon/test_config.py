"""config.toml validation: a table of bad files, each with its exact message, and the good path."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import (
    AlertmanagerConfig,
    CanarySettings,
    ConfigError,
    DaemonConfig,
    HttpSettings,
    VendorSettings,
    load,
    load_daemon,
    local_url,
    parse,
    parse_duration,
)
from daemon.degraded import DegradedSettings
from probes import BreakerConfig, RetryPolicy
from probes.adapters import BodyAssertion

ENV = {
    "MAILCHIMP_API_KEY": "abcdef0123-us21",
    "KIT_API_KEY": "kit-key",
    "SENDGRID_API_KEY": "sg-key",
    "BILLING_TOKEN": "billing-token",
}
PATH = Path("/etc/breakerwatch/config.toml")

GOOD = """
[daemon]
listen = "127.0.0.1:9500"
state_dir = "state"
log_format = "json"

[defaults]
interval = "1m"
timeout = "5s"

[defaults.breaker]
failure_threshold = 3
reset_timeout = "45s"

[defaults.retry]
max_attempts = 2
base_delay = "500ms"

[[integrations]]
name = "mailchimp"
kind = "mailchimp"
api_key = "env:MAILCHIMP_API_KEY"
base_url = "http://127.0.0.1:8600/mailchimp"

[[integrations]]
name = "kit"
kind = "convertkit"
api_key = "env:KIT_API_KEY"
interval = 90
[integrations.breaker]
failure_threshold = 7
[integrations.retry]
max_attempts = 1

[[integrations]]
name = "billing"
kind = "http"
url = "https://billing.example.com/healthz"
method = "post"
expect_status = [200, 204]
max_latency = "2s"
tls_min_days = 14
body = '{"ping": 1}'
headers = { "X-Probe-Token" = "env:BILLING_TOKEN", "X-Team" = "payments" }
[[integrations.assertions]]
json_path = "$.status"
equals = "ok"
[[integrations.assertions]]
contains = "healthy"
"""


def parse_text(text: str, environ: dict[str, str] | None = None) -> object:
    return parse(text, PATH, environ=ENV if environ is None else environ)


def errors_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_text(text, environ)
    return raised.value.errors


def test_a_good_file_with_defaults_inherited_and_overridden() -> None:
    config = parse(GOOD, PATH, environ=ENV)
    assert config.daemon.listen == ("127.0.0.1", 9500)
    assert config.daemon.state_dir == Path("/etc/breakerwatch/state")  # relative to the file
    assert config.daemon.log_format == "json"
    mailchimp, kit, billing = config.integrations
    assert (mailchimp.interval, mailchimp.timeout) == (60.0, 5.0)
    assert mailchimp.breaker == BreakerConfig(failure_threshold=3, reset_timeout=45.0)
    assert mailchimp.retry == RetryPolicy(max_attempts=2, base_delay=0.5)
    assert isinstance(mailchimp.settings, VendorSettings)
    assert isinstance(billing.settings, HttpSettings)
    assert mailchimp.settings.credential.reveal() == "abcdef0123-us21"
    assert mailchimp.settings.base_url == "http://127.0.0.1:8600/mailchimp"
    assert kit.interval == 90.0
    assert kit.breaker.failure_threshold == 7
    assert kit.breaker.reset_timeout == 45.0  # inherited from [defaults.breaker]
    assert kit.retry.max_attempts == 1
    assert billing.settings.method == "POST"
    assert billing.settings.expect_status == (200, 204)
    assert billing.settings.max_latency == 2.0
    assert billing.settings.headers["X-Probe-Token"].reveal() == "billing-token"
    assert billing.settings.headers["X-Team"] == "payments"
    assert billing.settings.assertions == (
        BodyAssertion(json_path="$.status", equals="ok"),
        BodyAssertion(contains="healthy"),
    )
    assert kit.deadline == 5 * 1 + 0  # one attempt, no waits: well under the interval
    assert "billing-token" not in repr(config)  # secrets stay hidden in the parsed config


def test_state_directory_from_systemd_wins() -> None:
    config = parse(GOOD, PATH, environ={**ENV, "STATE_DIRECTORY": "/var/lib/breakerwatch"})
    assert config.daemon.state_dir == Path("/var/lib/breakerwatch")


def test_the_deadline_stays_below_the_interval() -> None:
    config = parse_text(
        '[[integrations]]\nname="k"\nkind="convertkit"\napi_key="env:KIT_API_KEY"\n'
    )
    (kit,) = config.integrations  # type: ignore[attr-defined]
    assert kit.deadline == 24.0  # 3 x 10 s + 2 x 10 s would overrun a 30 s interval


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[defaults.breaker]\nwindow = 3\n",
            ["defaults.breaker.window: must be >= min_calls (got 3)"],
        ),
        (
            '[[integrations]]\nname="k"\nkind="convertkit"\napi_key="env:KIT_API_KEY"\n'
            '[[integrations]]\nname="m"\nkind="convertkit"\napi_key="env:KIT_API_KEY"\n'
            '[[integrations]]\nname="x"\nkind="convertkit"\napi_key="env:KIT_API_KEY"\n'
            "[integrations.breaker]\nwindow = 3\n",
            ["integrations[2].breaker.window: must be >= min_calls (got 3)"],
        ),
        (
            "[defaults]\nintervall = 5\n",
            ["defaults.intervall: unknown key; did you mean 'interval'?"],
        ),
        ("[deamon]\n", ["deamon: unknown key; did you mean 'daemon'?"]),
        (
            '[defaults]\ninterval = "soon"\n',
            ['defaults.interval: must be a duration such as "30s", "5m" or "1h" (got \'soon\')'],
        ),
        ("[defaults]\ninterval = 0\n", ["defaults.interval: must be a duration > 0 (got 0)"]),
        (
            '[daemon]\nlisten = "localhost:http"\n',
            [
                "daemon.listen: 'localhost:http' is not HOST:PORT (a port is 0 to 65535) "
                "(got 'localhost:http')"
            ],
        ),
        (
            '[daemon]\nlog_format = "xml"\n',
            ["daemon.log_format: must be one of text, json (got 'xml')"],
        ),
        ("daemon = 3\n", ["daemon: must be a table (got int)"]),
        ("integrations = 3\n", ["integrations: must be an array of tables (got int)"]),
        (
            '[[integrations]]\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\n',
            ["integrations[0].name: is required"],
        ),
        (
            '[[integrations]]\nname = "Bad Name"\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\n',
            [
                "integrations[0].name: must be lower-case letters, digits, _ and -, starting with a "
                "letter or digit (it is the metrics label) (got 'Bad Name')"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "salesforce"\n',
            [
                "integrations[0].kind: must be one of convertkit, hubspot, mailchimp, sendgrid, http "
                "(got 'salesforce')"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "hubspot"\n',
            ["integrations[0].token: is required (a reference such as env:NAME)"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "hubspot"\ntoken = "pat-na1-0000"\n',
            [
                "integrations[0].token: a secret must not be written inline; write a reference "
                "instead: env:NAME (an environment variable), file:/path (a file), or "
                "credential:NAME (a systemd credential)"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "hubspot"\ntoken = "env:NOPE"\n',
            ["integrations[0].token: the environment variable NOPE is not set"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "mailchimp"\napi_key = "env:KIT_API_KEY"\n',
            [
                "integrations[0].api_key: the key has no data-centre suffix; a Mailchimp key ends in "
                "-<dc>, such as -us21"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "convertkit"\napi_key = "env:KIT_API_KEY"\n'
            'base_url = "api.kit.com"\n',
            ["integrations[0].base_url: must be an http:// or https:// URL (got 'api.kit.com')"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\n',
            ["integrations[0].url: is required for kind http"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "billing.example.com/h"\n',
            [
                "integrations[0].url: must be an http:// or https:// URL (got 'billing.example.com/h')"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "https://a.b"\nexpect_status = [700]\n',
            [
                "integrations[0].expect_status: each status must be a whole number from 100 to 599 (got [700])"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "https://a.b"\n'
            'headers = { Authorization = "Bearer abc" }\n',
            [
                "integrations[0].headers.Authorization: a secret must not be written inline; write a "
                "reference instead: env:NAME (an environment variable), file:/path (a file), or "
                "credential:NAME (a systemd credential)"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "https://a.b"\n'
            '[[integrations.assertions]]\njson_path = "$.a"\n',
            [
                "integrations[0].assertions[0]: a json_path assertion needs exactly one of equals or exists"
            ],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "https://a.b"\ntimeout = "40s"\n',
            ["integrations[0].timeout: must be < interval (30s) (got 40s)"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "convertkit"\napi_key = "env:KIT_API_KEY"\nurl = "https://a.b"\n',
            ["integrations[0].url: unknown key"],
        ),
        (
            '[[integrations]]\nname = "x"\nkind = "http"\nurl = "https://a.b"\n[integrations.retry]\n'
            'max_attempts = 0\nmax_delay = "1ms"\njitter = "yes"\n',
            [
                "integrations[0].retry.max_attempts: must be >= 1 (got 0)",
                "integrations[0].retry.max_delay: must be >= base_delay (got 0.001)",
                "integrations[0].retry.jitter: must be true or false (got 'yes')",
            ],
        ),
        (
            '[alerts]\nnotify_on = ["close", "sometimes"]\nflap_max_transitions = 1\n'
            'storm_window = "0s"\nrepeat_interval = "10s"\ndashboard_url = "grafana"\nconsol = true\n',
            [
                "alerts.notify_on: 'sometimes' is not one of open, close, half_open, vendor_incident (got ['close', 'sometimes'])",
                "alerts.flap_max_transitions: must be from 2 to 1000 (got 1)",
                "alerts.storm_window: must be a duration > 0 (got '0s')",
                'alerts.repeat_interval: must be 0 (no reminders), or from "1m" to "30d" (got \'10s\')',
                "alerts.dashboard_url: must be an http:// or https:// URL (got 'grafana')",
                "alerts.consol: unknown key; did you mean 'console'?",
            ],
        ),
        (
            '[alerts]\nnotify_on = ["close"]\n',
            ["alerts.notify_on: must include \"open\" (an incident starts there) (got ['close'])"],
        ),
        (
            '[alerts.slack]\ntoken = "xoxb-inline"\nwebhook_url = "env:NOPE"\n',
            [
                "alerts.slack.token: a secret must not be written inline; write a reference instead: env:NAME (an environment variable), file:/path (a file), or credential:NAME (a systemd credential)",
                "alerts.slack.webhook_url: the environment variable NOPE is not set",
                "alerts.slack: set either token (a bot token) or webhook_url, not both or neither",
                'alerts.slack.channel: is required with a bot token (such as "#integrations")',
            ],
        ),
        (
            '[alerts.slack]\ntoken = "env:KIT_API_KEY"\n',
            ['alerts.slack.channel: is required with a bot token (such as "#integrations")'],
        ),
        (
            '[alerts.slack]\nwebhook_url = "env:KIT_API_KEY"\n',
            ["alerts.slack.webhook_url: the referenced value is not an http(s) URL"],
        ),
        (
            '[alerts.slack]\ntoken = "env:KIT_API_KEY"\nchannel = "#a"\nidentity = "a\\u001bb"\n',
            [
                "alerts.slack.identity: must be a name of 1 to 200 printable characters (got 'a\\x1bb')"
            ],
        ),
        (
            '[[alerts.maintenance]]\nintegrations = ["nope"]\ntimezone = "Mars/Olympus"\n'
            'start = "25:00"\nweekdays = ["funday"]\ndays_of_month = [0]\n',
            [
                "alerts.maintenance[0].integrations: no integration is named 'nope'",
                'alerts.maintenance[0].timezone: is not an IANA time zone such as "Europe/Berlin" or "UTC" (got \'Mars/Olympus\')',
                "alerts.maintenance[0].start: must be a 24-hour local time such as \"02:00\" (got '25:00')",
                'alerts.maintenance[0].end: is required: a local time such as "02:00"',
                "alerts.maintenance[0].weekdays: 'fun' is not one of mon, tue, wed, thu, fri, sat, sun (got ['funday'])",
                "alerts.maintenance[0].days_of_month: must be an array of days 1 to 31 (got [0])",
            ],
        ),
        (
            '[alerts.alertmanager]\nresend_interval = "0s"\nlabels = { alertname = "x" }\nha = 1\n',
            [
                'alerts.alertmanager.urls: is required: ["http://alertmanager-1:9093", ...]',
                "alerts.alertmanager.resend_interval: must be a duration > 0 (got '0s')",
                "alerts.alertmanager.labels: 'alertname' is set by breakerwatch itself (got {'alertname': 'x'})",
                "alerts.alertmanager.ha: must be true or false (got 1)",
            ],
        ),
        (
            '[alerts.alertmanager]\nurls = ["http://a:9093", "http://a:9093"]\nlabels = { "a-b" = "c" }\n',
            [
                "alerts.alertmanager.urls: lists one Alertmanager twice (got ['http://a:9093', 'http://a:9093'])",
                "alerts.alertmanager.labels: 'a-b' is not a Prometheus label name (got {'a-b': 'c'})",
            ],
        ),
        (
            '[alerts.alertmanager]\nurls = ["am:9093"]\n',
            ["alerts.alertmanager.urls: must be an http:// or https:// URL (got ['am:9093'])"],
        ),
        ('[daemon]\n"a\\nb" = 1\n', ['daemon."a\\nb": unknown key']),  # one line, quoted
        (
            '[defaults.retry]\nmax_attempts = false\n[[integrations]]\nname = "b"\nkind = "http"\nurl = "https://a.b"\n',
            ["defaults.retry.max_attempts: must be a whole number (got False)"],
        ),
        ("this is not toml", None),
    ],
)
def test_bad_files(text: str, expected: list[str] | None) -> None:
    errors = errors_of(text)
    if expected is None:
        assert len(errors) == 1
        assert errors[0].startswith(f"{PATH}: not valid TOML: ")
    else:
        assert errors == [f"{PATH}: {line}" for line in expected]


def test_every_error_is_reported_at_once() -> None:
    text = (
        '[defaults]\ninterval = "x"\n'
        '[[integrations]]\nname = "a"\nkind = "nope"\n'
        '[[integrations]]\nname = "b"\nkind = "hubspot"\ntoken = "inline"\n'
        '[[integrations]]\nname = "b"\nkind = "http"\nurl = "https://x"\n'
    )
    errors = errors_of(text)
    assert len(errors) == 4
    assert errors[-1] == f"{PATH}: integrations[2].name: 'b' is used by another integration"


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path / "config.toml", environ={})
    assert raised.value.errors == [
        f"{tmp_path / 'config.toml'}: no such file; write one with `breakerwatch init`"
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("1d", 86400),
     (15, 15), (0.5, 0.5), ("0s", 0)],
)  # fmt: skip
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5", "5 m", "-5s", "1y", True, -1, float("inf"), [5]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_alerts_are_read_with_their_defaults() -> None:
    text = GOOD + (
        '\n[alerts]\nnotify_on = ["open", "close", "half_open"]\nrepeat_interval = "4h"\n'
        'dashboard_url = "https://grafana.example.com/d/bw"\nconsole = true\n'
        '[alerts.slack]\ntoken = "env:SLACK_BOT_TOKEN"\nchannel = "#oncall"\n'
        '[[alerts.maintenance]]\nintegrations = ["mailchimp"]\ntimezone = "Europe/Berlin"\n'
        'start = "02:00"\nend = "04:00"\nweekdays = ["Sunday"]\nreason = "vendor window"\n'
    )
    config = parse(text, PATH, environ={**ENV, "SLACK_BOT_TOKEN": "xoxb-1"})
    alerts = config.alerts
    assert alerts is not None
    assert alerts.settings.notify_on == {"open", "close", "half_open"}
    assert alerts.settings.repeat_interval == 4 * 3600
    assert alerts.settings.storm_window == 30
    assert alerts.settings.flap_max_transitions == 4
    assert alerts.console is True
    assert alerts.slack is not None
    assert alerts.slack.channel == "#oncall"
    assert alerts.slack.identity == ""  # the host and the state directory, at run time
    assert alerts.slack.token is not None
    assert alerts.slack.token.reveal() == "xoxb-1"
    assert alerts.slack.base_url == "https://slack.com/api/"
    (window,) = alerts.maintenance
    assert window.integrations == {"mailchimp"}
    assert window.weekdays == {6}
    assert window.reason == "vendor window"
    assert alerts.alertmanager is None
    assert parse(GOOD, PATH, environ=ENV).alerts is None  # no [alerts]: nothing is sent


def test_alertmanager_is_read_with_its_defaults() -> None:
    text = GOOD + '\n[alerts.alertmanager]\nurls = ["http://am-1:9093", "https://am-2/am"]\n'
    alerts = parse(text, PATH, environ=ENV).alerts
    assert alerts is not None
    assert alerts.alertmanager == AlertmanagerConfig(
        ("http://am-1:9093", "https://am-2/am"), resend_interval=30, timeout=10, labels=(), ha=False
    )
    more = (
        text + 'resend_interval = "1m"\ntimeout = "3s"\nha = true\nlabels = { team = "growth" }\n'
    )
    alerts = parse(more, PATH, environ=ENV).alerts
    assert alerts is not None
    assert alerts.alertmanager == AlertmanagerConfig(
        ("http://am-1:9093", "https://am-2/am"), 60, 3, (("team", "growth"),), ha=True
    )


# -- the control plane, and sane bounds -----------------------------------------------------

TOKENS = {"ADMIN_TOKEN": "admin-token-0123456789", "ALICE": "alice-token-0123456789",
          "SHORT": "0123456789"}  # fmt: skip
HASH = "$2b$04$8vL1v7bB8Gq2cXhYh6xHUeI6m0J5m9P9m7Yb3C8hC0l1Qy7m6a8uS"


def daemon_of(text: str, environ: dict[str, str] | None = None) -> object:
    return parse("[daemon]\n" + text, PATH, environ={**ENV, **TOKENS, **(environ or {})}).daemon


def daemon_errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse("[daemon]\n" + text, PATH, environ={**ENV, **TOKENS})
    return [line.removeprefix(f"{PATH}: ") for line in raised.value.errors]


@pytest.mark.parametrize(
    ("listen", "address", "loopback"),
    [("127.0.0.1:9478", ("127.0.0.1", 9478), True), ("localhost:9478", ("127.0.0.1", 9478), True),
     (":9478", ("127.0.0.1", 9478), True), ("9478", ("127.0.0.1", 9478), True),
     ("[::1]:9478", ("::1", 9478), True), ("[::]:9478", ("::", 9478), False),
     ("0.0.0.0:9478", ("0.0.0.0", 9478), False), ("10.1.2.3:0", ("10.1.2.3", 0), False)],
)  # fmt: skip
def test_listen_addresses(listen: str, address: tuple[str, int], loopback: bool) -> None:
    daemon = daemon_of(f'listen = "{listen}"\n')
    assert (daemon.listen, daemon.loopback) == (address, loopback)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("listen", "message"),
    [("::1:9478", "write an IPv6 address in brackets, such as [::1]:9478"),
     ("metrics.example.com:9478", "listen on an IP address (127.0.0.1, ::1, 0.0.0.0 or :: for "
                                  "every interface) or localhost, not a host name"),
     ("127.0.0.1:70000", "is not HOST:PORT (a port is 0 to 65535)")],
)  # fmt: skip
def test_listen_addresses_run_would_refuse_are_refused_by_check(listen: str, message: str) -> None:
    (error,) = daemon_errors(f'listen = "{listen}"\n')
    assert error.startswith("daemon.listen: ")
    assert message in error


def test_the_control_plane_keys() -> None:
    daemon = daemon_of(
        'admin_token = "env:ADMIN_TOKEN"\nallowed_hosts = ["Breakerwatch.Internal.", ".svc"]\n'
        f'max_connections = 64\n[daemon.basic_auth_users]\nprometheus = "{HASH}"\n'
        '[daemon.tls]\ncert_file = "tls/cert.pem"\nkey_file = "/etc/tls/key.pem"\n'
        'min_version = "TLS13"\n'
    )
    assert [(label, token.reveal()) for label, token in daemon.admin_tokens] == [  # type: ignore[attr-defined]
        ("admin", TOKENS["ADMIN_TOKEN"])
    ]
    assert daemon.allowed_hosts == ("breakerwatch.internal", ".svc")  # type: ignore[attr-defined]
    assert daemon.max_connections == 64  # type: ignore[attr-defined]
    assert daemon.basic_auth_users == (("prometheus", HASH),)  # type: ignore[attr-defined]
    tls = daemon.tls  # type: ignore[attr-defined]
    assert (tls.cert_file, tls.key_file, tls.min_version, tls.client_auth_type) == (
        PATH.parent / "tls/cert.pem", Path("/etc/tls/key.pem"), "TLS13", "NoClientCert",
    )  # fmt: skip
    labelled = daemon_of('[daemon.admin_tokens]\nalice = "env:ALICE"\nci-bot = "env:ADMIN_TOKEN"\n')
    assert [label for label, _ in labelled.admin_tokens] == ["alice", "ci-bot"]  # type: ignore[attr-defined]
    credential = daemon_of(
        '[daemon.tls]\ncert_file = "c.pem"\nkey_file = "credential:tls-key"\n',
        {"CREDENTIALS_DIRECTORY": "/run/credentials/breakerwatch.service"},
    )
    assert credential.tls.key_file == Path(  # type: ignore[attr-defined]
        "/run/credentials/breakerwatch.service/tls-key"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('admin_token = "env:SHORT"\n', "daemon.admin_token: 'env:SHORT' is shorter than 16 characters; make one with `openssl rand -hex 32`"),
        ('admin_token = "admin-token-inline-0123"\n', "daemon.admin_token: a secret must not be written inline"),
        ('admin_token = "env:ADMIN_TOKEN"\nadmin_tokens = { a = "env:ALICE" }\n', "daemon.admin_tokens: set admin_token or admin_tokens, not both"),
        ('admin_tokens = { Alice = "env:ALICE" }\n', "daemon.admin_tokens.Alice: a label is lower-case letters, digits, _ and -"),
        ('allowed_hosts = ["evil example"]\n', "daemon.allowed_hosts: 'evil example' is not a host name"),
        ("max_connections = 0\n", "daemon.max_connections: must be from 1 to 65536 (got 0)"),
        ('[daemon.basic_auth_users]\nprometheus = "secret"\n', "daemon.basic_auth_users: the password of 'prometheus' must be a bcrypt hash"),
        ('[daemon.tls]\ncert_file = "c.pem"\n', "daemon.tls.key_file: is required: a PEM file"),
        ('[daemon.tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\nclient_auth_type = "RequireAndVerifyClientCert"\n', "daemon.tls.client_ca_file: is required with client_auth_type RequireAndVerifyClientCert"),
        ('[daemon.tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\nmin_version = "TLS10"\n', "daemon.tls.min_version: must be one of TLS12, TLS13"),
    ],
)  # fmt: skip
def test_control_plane_mistakes(text: str, message: str) -> None:
    errors = daemon_errors(text)
    assert any(error.startswith(message) for error in errors), errors
    assert all(TOKENS["ADMIN_TOKEN"] not in error for error in errors)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\ninterval = \"2d\"\n", "defaults.interval: must be at most 1d (got '2d')"),
        ("[defaults]\ntimeout = 7200\n", "defaults.timeout: must be at most 1h (got 7200)"),
        ("[defaults.breaker]\nfailure_threshold = 100000\n", "defaults.breaker.failure_threshold: must be <= 1000 (got 100000)"),
        ("[defaults.breaker]\nwindow = 1000000\nmin_calls = 5\n", "defaults.breaker.window: must be <= 10000 (got 1000000)"),
        ("[defaults.breaker]\nmax_reset_timeout = \"30d\"\n", "defaults.breaker.max_reset_timeout: must be <= 604800 (got 2592000.0)"),
        ("[defaults.retry]\nmax_attempts = 1000\n", "defaults.retry.max_attempts: must be <= 100 (got 1000)"),
        ('[defaults]\ninterval = "99999999999999999999999999999999d"\n', "defaults.interval: must be a duration of at most 3650d"),
        ("[defaults]\ninterval = 1e400\n", "defaults.interval: must be a duration"),
        ("[alerts]\nmax_silence = \"400d\"\n", "alerts.max_silence: must be at most 365d (got '400d')"),
        ("[alerts]\nstorm_window = \"2h\"\n", "alerts.storm_window: must be at most 1h (got '2h')"),
    ],
)  # fmt: skip
def test_counts_and_durations_have_sane_maxima(text: str, message: str) -> None:
    errors = [line.removeprefix(f"{PATH}: ") for line in errors_of(text)]
    assert any(error.startswith(message) for error in errors), errors


def test_toml_beyond_what_a_config_can_mean_is_one_line() -> None:
    (huge,) = errors_of("[defaults.breaker]\nfailure_threshold = 99999999999999999999999\n")
    assert huge == f"{PATH}: defaults.breaker.failure_threshold: an integer beyond TOML's 64 bits"
    (listed,) = errors_of("x = [[1, 2], [3, 123456789012345678901234567890]]\n")
    assert listed == f"{PATH}: x[1][1]: an integer beyond TOML's 64 bits"
    (deep,) = errors_of("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert deep == f"{PATH}: not valid TOML: arrays or tables nested too deep"
    (tables,) = errors_of("x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    assert tables == f"{PATH}: not valid TOML: arrays or tables nested too deep"


def test_the_cli_reads_daemon_alone(tmp_path: Path) -> None:
    """`status`, `breaker` and `silence` need [daemon] (address, TLS, token), not the vendor
    secrets, which the operator's shell may not have."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[daemon]\nlisten = "[::1]:9600"\nadmin_token = "env:ADMIN_TOKEN"\n'
        '[[integrations]]\nname = "kit"\nkind = "convertkit"\napi_key = "env:NOT_SET"\n'
    )
    daemon = load_daemon(path, environ=TOKENS)
    assert daemon.listen == ("::1", 9600)
    assert local_url(daemon) == "http://[::1]:9600"
    with pytest.raises(ConfigError):
        load(path, environ=TOKENS)
    assert local_url(DaemonConfig(listen=("0.0.0.0", 0))) == "http://127.0.0.1:9478"


KIT = '[[integrations]]\nname = "kit"\nkind = "convertkit"\napi_key = "env:KIT_API_KEY"\n'


def test_an_integration_may_name_its_own_proxy_or_go_direct() -> None:
    config = parse(
        KIT + 'proxy = "http://proxy.corp:3128"\n'
        + KIT.replace('"kit"', '"kit2"') + "proxy = false\n"
        + KIT.replace('"kit"', '"kit3"') + 'proxy = "env:VENDOR_PROXY"\n',
        PATH,
        environ={**ENV, "VENDOR_PROXY": "http://probe:pw-CANARY@proxy.corp:3128",
                 "https_proxy": "http://u:env-CANARY@egress:3128", "NO_PROXY": "localhost"},
    )  # fmt: skip
    own, direct, secret = config.integrations
    assert (own.proxy_url(), direct.proxy_url()) == ("http://proxy.corp:3128", False)
    assert secret.proxy_url() == "http://probe:pw-CANARY@proxy.corp:3128"
    assert "CANARY" not in repr(secret)
    assert config.proxies.route("https://api.kit.com/v4").proxy == "http://u:env-CANARY@egress:3128"
    revealed = {s.reveal() for s in config.secrets()}
    assert {"env-CANARY", "http://probe:pw-CANARY@proxy.corp:3128"} <= revealed


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        (KIT + "proxy = true\n", {}, 'integrations[0].proxy: must be a proxy URL such as "http://proxy:3128", or false'),
        (KIT + 'proxy = "socks5://p:1080"\n', {}, "integrations[0].proxy: must be an http:// or https:// proxy URL (SOCKS is not supported)"),
        (KIT + 'proxy = "http://u:inline-pw@p:3128"\n', {}, "integrations[0].proxy: holds a password: put the whole URL in a secret reference such as env:NAME"),
        (KIT + 'proxy = "env:NOT_SET"\n', {}, "integrations[0].proxy: the environment variable NOT_SET is not set"),
        (KIT, {"HTTPS_PROXY": "socks5h://p:1080"}, "$HTTPS_PROXY: must be an http:// or https:// proxy URL (SOCKS is not supported)"),
        (KIT, {"all_proxy": "http://p:port"}, "$all_proxy: is not a URL"),
    ],
)  # fmt: skip
def test_a_proxy_that_cannot_be_used_is_one_line(
    text: str, environ: dict[str, str], message: str
) -> None:
    errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text, {**ENV, **environ})]
    assert any(error.startswith(message) for error in errors), errors
    assert not [error for error in errors if "inline-pw" in error]


def test_ca_file_is_loaded_by_check(tmp_path: Path) -> None:
    import trustme

    pem = tmp_path / "corp-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    assert daemon_of(f'ca_file = "{pem}"\n').ca_file == pem  # type: ignore[attr-defined]
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    assert daemon_errors(f'ca_file = "{tmp_path / "missing.pem"}"\n') == [
        f"daemon.ca_file: {tmp_path / 'missing.pem'} does not exist"
    ]
    assert daemon_errors(f'ca_file = "{tmp_path / "junk.pem"}"\n') == [
        f"daemon.ca_file: {tmp_path / 'junk.pem'} holds no PEM certificate"
    ]


def test_a_vendor_status_page_and_its_components() -> None:
    config = parse(
        KIT
        + 'status_page = "https://status.kit.com/"\nstatus_components = ["API"]\n'
        + KIT.replace('"kit"', '"kit2"')
        + "status_page = false\n",
        PATH,
        environ=ENV,
    )
    paged, none = config.integrations
    assert (paged.status_page, paged.status_components) == ("https://status.kit.com", ("API",))
    assert (none.status_page, none.status_components) == (None, ())
    for text, message in (
        ('status_page = false\nstatus_components = ["API"]\n', "integrations[0].status_components: needs a status_page"),
        ('status_page = "ftp://status"\n', "integrations[0].status_page: must be an http:// or https:// URL"),
        ('status_page = "https://s"\nstatus_components = "API"\n', "integrations[0].status_components: must be a list of component names"),
    ):  # fmt: skip
        errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(KIT + text)]
        assert any(error.startswith(message) for error in errors), errors


def test_each_vendor_reads_its_own_status_page_unless_told_otherwise() -> None:
    """The defaults of docs/integrations.md ("Vendor status pages"): HubSpot, SendGrid and
    Kit publish Statuspage pages; Mailchimp's page is not one. A base_url of one's own (the
    simulator) has no default, and `status_page = false` turns a default off."""
    vendors = {
        "hubspot": 'token = "env:KIT_API_KEY"\n',
        "sendgrid": 'api_key = "env:SENDGRID_API_KEY"\n',
        "convertkit": 'api_key = "env:KIT_API_KEY"\n',
        "mailchimp": 'api_key = "env:MAILCHIMP_API_KEY"\n',
    }
    text = "".join(
        f'[[integrations]]\nname = "{kind}"\nkind = "{kind}"\n{key}'
        for kind, key in vendors.items()
    )
    kit = '[[integrations]]\nname = "{}"\nkind = "convertkit"\napi_key = "env:KIT_API_KEY"\n'
    text += kit.format("own") + 'base_url = "http://127.0.0.1:8600/kit"\n'
    text += kit.format("off") + "status_page = false\n"
    pages = {i.name: i.status_page for i in parse(text, PATH, environ=ENV).integrations}
    assert pages == {
        "hubspot": "https://status.hubspot.com",
        "sendgrid": "https://status.sendgrid.com",
        "convertkit": "https://status.kit.com",
        "mailchimp": None,
        "own": None,
        "off": None,
    }


def _http(name: str, extra: str = "") -> str:
    return f'[[integrations]]\nname = "{name}"\nkind = "http"\nurl = "http://127.0.0.1:9/{name}"\n{extra}'


def test_depends_on_names_parents_which_every_shard_probes() -> None:
    text = (
        _http("egress", "egress = true\n")
        + _http("corp-proxy", 'depends_on = ["egress"]\n')
        + _http("hubspot", 'depends_on = ["corp-proxy", "corp-proxy"]\n')
        + _http("alone")
    )
    found = {i.name: i for i in parse(text, PATH, environ=ENV).integrations}
    assert found["hubspot"].depends_on == ("corp-proxy",)
    assert found["hubspot"].parents == ("corp-proxy", "egress")  # nearest first
    assert [n for n, i in found.items() if i.gate] == ["egress", "corp-proxy"]
    assert [i.name for i in found.values() if i.everywhere] == ["egress", "corp-proxy"]
    assert found["alone"].parents == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_http("a", 'depends_on = ["nobody"]\n'), "integrations[0].depends_on: names 'nobody', which is no integration"),
        (_http("a", 'depends_on = ["a"]\n'), "integrations[0].depends_on: names the integration itself"),
        (_http("a", 'depends_on = "b"\n') + _http("b"), "integrations[0].depends_on: must be a list of integration names"),
        (
            _http("a", 'depends_on = ["b"]\n') + _http("b", 'depends_on = ["c"]\n') + _http("c", 'depends_on = ["a"]\n'),
            "integrations[0].depends_on: makes a cycle (a -> b -> c -> a): a parent cannot depend on its own children",
        ),
    ],
)  # fmt: skip
def test_depends_on_refuses_unknown_names_and_cycles(text: str, expected: str) -> None:
    errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text)]
    assert errors == [expected] or any(e.startswith(expected) for e in errors), errors
    assert len(errors) == 1


def test_scopes_default_to_what_the_adapters_writes_need() -> None:
    """docs/integrations.md, "Scope checks": HubSpot and SendGrid can tell a credential's
    scopes, so theirs are checked by default; `scopes = []` checks nothing; Kit, Mailchimp
    and http integrations cannot be asked, so `scopes` there is a mistake."""
    text = (
        '[[integrations]]\nname = "hub"\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\n'
        '[[integrations]]\nname = "grid"\nkind = "sendgrid"\napi_key = "env:SENDGRID_API_KEY"\n'
        '[[integrations]]\nname = "own"\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\n'
        'scopes = ["crm.objects.contacts.write", "crm.objects.deals.write", '
        '"crm.objects.contacts.write"]\n'
        '[[integrations]]\nname = "off"\nkind = "sendgrid"\napi_key = "env:SENDGRID_API_KEY"\n'
        "scopes = []\n" + KIT
    )
    scopes = {i.name: i.scopes for i in parse(text, PATH, environ=ENV).integrations}
    assert scopes == {
        "hub": ("crm.objects.contacts.write",),
        "grid": ("marketing_campaigns.create", "marketing_campaigns.read",
                 "marketing_campaigns.update"),
        "own": ("crm.objects.contacts.write", "crm.objects.deals.write"),
        "off": (),
        "kit": (),
    }  # fmt: skip
    for text, message in (
        (KIT + 'scopes = ["write"]\n', "integrations[0].scopes: convertkit cannot tell what a credential may do"),
        ('[[integrations]]\nname = "hub"\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\nscopes = "crm"\n',
         "integrations[0].scopes: must be a list of scope names"),
        ('[[integrations]]\nname = "hub"\nkind = "hubspot"\ntoken = "env:KIT_API_KEY"\nscopes = [" "]\n',
         "integrations[0].scopes: must be a list of scope names"),
    ):  # fmt: skip
        errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text)]
        assert any(error.startswith(message) for error in errors), errors
    assert daemon_of('scope_check_interval = "15m"\n').scope_check_interval == 900  # type: ignore[attr-defined]
    assert daemon_of("").scope_check_interval == 3600  # type: ignore[attr-defined]


def test_degraded_settings_are_inherited_and_checked() -> None:
    text = (
        '[defaults]\ndegraded_factor = 4\ndegraded_after = "10m"\n' + KIT
        + 'degraded_floor = "250ms"\nbaseline = "120ms"\n'
        + KIT.replace('"kit"', '"kit2"') + "degraded = false\n"
    )  # fmt: skip
    kit, kit2 = parse(text, PATH, environ=ENV).integrations
    assert kit.degraded == DegradedSettings(True, 4.0, 0.25, 600.0, 0.12)
    assert kit2.degraded == DegradedSettings(False, 4.0, 0.5, 600.0, None)
    assert parse(KIT, PATH, environ=ENV).integrations[0].degraded == DegradedSettings()
    for text, message in (
        (KIT + "degraded_factor = 1\n", "integrations[0].degraded_factor: must be a number > 1, at most 100"),
        (KIT + 'degraded_floor = "2h"\n', "integrations[0].degraded_floor: must be a duration from 0 to 1h"),
        (KIT + "baseline = 0\n", "integrations[0].baseline: must be a duration > 0"),
        (KIT + 'degraded = "yes"\n', "integrations[0].degraded: must be true or false"),
    ):  # fmt: skip
        errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text)]
        assert any(error.startswith(message) for error in errors), errors


def test_oauth_replaces_the_credential_for_hubspot_and_kit() -> None:
    env = {**ENV, "REFRESH": "refresh-abc", "CLIENT_SECRET": "client-secret-xyz"}
    hub = (
        '[[integrations]]\nname = "hub"\nkind = "hubspot"\n'
        'oauth = { client_id = "app-1", client_secret = "env:CLIENT_SECRET", '
        'refresh_token = "env:REFRESH" }\n'
    )
    kit = (
        '[[integrations]]\nname = "kit"\nkind = "convertkit"\nbase_url = "http://127.0.0.1:8600/kit"\n'
        '[integrations.oauth]\nclient_id = "app-2"\nrefresh_token = "env:REFRESH"\n'
    )
    config = parse(hub + kit, PATH, environ=env)
    hubspot, convertkit = (i.settings for i in config.integrations)
    assert isinstance(hubspot, VendorSettings)
    assert isinstance(convertkit, VendorSettings)
    assert hubspot.credential is None
    assert hubspot.oauth is not None
    assert (hubspot.oauth.client_id, hubspot.oauth.token_url) == (
        "app-1", "https://api.hubapi.com/oauth/2026-03/token",
    )  # fmt: skip
    assert convertkit.oauth is not None
    assert convertkit.oauth.token_url == "http://127.0.0.1:8600/kit/v4/oauth/token"
    assert convertkit.oauth.client_secret is None
    assert {s.reveal() for s in config.secrets()} >= {"refresh-abc", "client-secret-xyz"}
    for text, message in (
        (hub.replace("oauth =", 'token = "env:KIT_API_KEY"\noauth ='), "integrations[0].token: give it or oauth, not both"),
        ('[[integrations]]\nname = "s"\nkind = "sendgrid"\noauth = { client_id = "a", refresh_token = "env:REFRESH" }\n',
         "integrations[0].oauth: sendgrid takes no OAuth access tokens here: use api_key"),
        (hub.replace('client_id = "app-1", ', ""), "integrations[0].oauth.client_id: is required"),
        (hub.replace('"env:REFRESH"', '"refresh-abc"'), "integrations[0].oauth.refresh_token: a secret must not be written inline"),
        (hub.replace("client_id", "clientid"), "integrations[0].oauth.clientid: unknown key; did you mean 'client_id'?"),
    ):  # fmt: skip
        errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text, env)]
        assert any(error.startswith(message) for error in errors), errors


def test_a_canary_needs_a_dedicated_address_and_its_vendors_ids() -> None:
    chimp = (
        '[[integrations]]\nname = "chimp"\nkind = "mailchimp"\napi_key = "env:MAILCHIMP_API_KEY"\n'
    )
    text = (
        KIT + 'canary = { email = "Breakerwatch-Canary@example.com", form_id = 1234, tag_id = "5678" }\n'
        + chimp + '[integrations.canary]\nemail = "ops+canary@example.com"\ninterval = "1h"\nlist_id = "a1b2c3"\n'
    )  # fmt: skip
    kit, mailchimp = parse(text, PATH, environ=ENV).integrations
    assert kit.canary == CanarySettings(
        "Breakerwatch-Canary@example.com", 900.0, None, "1234", "5678"
    )
    assert mailchimp.canary == CanarySettings("ops+canary@example.com", 3600.0, "a1b2c3")
    for text, message in (
        (KIT + 'canary = { email = "ada@example.com" }\n', "integrations[0].canary.email: must be a dedicated address"),
        (KIT + "canary = { interval = \"1h\" }\n", "integrations[0].canary.email: is required"),
        (chimp + 'canary = { email = "canary@example.com" }\n', "integrations[0].canary.list_id: is required"),
        (KIT + 'canary = { email = "canary@example.com", list_id = "x" }\n', "integrations[0].canary.list_id: unknown key"),
        (_http("web") + 'canary = { email = "canary@example.com" }\n', "integrations[0].canary: canary writes are for the vendors"),
    ):  # fmt: skip
        errors = [e.removeprefix(f"{PATH}: ") for e in errors_of(text)]
        assert any(error.startswith(message) for error in errors), errors


def test_history_retention_is_days_to_years() -> None:
    assert daemon_of("").history_retention == 400 * 86400  # type: ignore[attr-defined]
    assert daemon_of('history_retention = "90d"\n').history_retention == 90 * 86400  # type: ignore[attr-defined]
    for given in ('"12h"', '"4000d"', "true"):
        (error,) = daemon_errors(f"history_retention = {given}\n")
        assert error.startswith("daemon.history_retention: must be a duration"), error


def test_fresh_connection_is_inherited_and_may_be_every_probe() -> None:
    text = ('[defaults]\nfresh_connection = "10m"\n' + _http("inherits")
            + _http("every-probe", "fresh_connection = 0\n"))  # fmt: skip
    inherits, every = parse_text(text).integrations  # type: ignore[attr-defined]
    assert (inherits.fresh_connection, every.fresh_connection) == (600.0, 0.0)
    assert parse_text(_http("default")).integrations[0].fresh_connection == 300.0  # type: ignore[attr-defined]
    (error,) = errors_of(_http("too-long", 'fresh_connection = "2d"\n'))
    assert error.endswith('integrations[0].fresh_connection: must be a duration from 0 '
                          '(every probe) to "1d" (got \'2d\')')  # fmt: skip
