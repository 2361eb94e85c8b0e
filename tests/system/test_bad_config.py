"""Bad config files, generated: every one is a clear error (one line per problem, naming the
file and the key) or a valid config, never a traceback. In process for volume, then through
`breakerwatch check` and `breakerwatch run` for the exit code and the output."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config import ConfigError, parse
from tests.daemon.harness import BREAKERWATCH

PATH = Path("/etc/breakerwatch/config.toml")
VALID: dict[str, Any] = tomllib.loads(
    """
[daemon]
listen = "127.0.0.1:9478"
shard = "1/3"
admin_token = "env:ADMIN_TOKEN"
allowed_hosts = ["breakerwatch.internal"]
max_connections = 128
[daemon.basic_auth_users]
prometheus = "$2b$04$8vL1v7bB8Gq2cXhYh6xHUeI6m0J5m9P9m7Yb3C8hC0l1Qy7m6a8uS"
[daemon.tls]
cert_file = "/etc/breakerwatch/tls.crt"
key_file = "credential:tls-key"
[defaults]
interval = "30s"
timeout = "10s"
[defaults.breaker]
failure_threshold = 5
reset_timeout = "30s"
[defaults.retry]
max_attempts = 3
[alerts]
storm_window = "30s"
repeat_interval = "0s"
max_silence = "7d"
[[alerts.maintenance]]
timezone = "Europe/Berlin"
start = "02:00"
end = "04:00"
[alerts.alertmanager]
urls = ["http://127.0.0.1:9093", "http://127.0.0.1:9095"]
labels = { team = "growth" }
ha = true
[[integrations]]
name = "billing"
kind = "http"
url = "https://billing.example.com/healthz"
expect_status = [200]
[[integrations]]
name = "kit"
kind = "convertkit"
api_key = "env:KIT_API_KEY"
"""
)
ENV = {"KIT_API_KEY": "kit-key", "ADMIN_TOKEN": "admin-token-0123456789",
       "CREDENTIALS_DIRECTORY": "/run/credentials/breakerwatch.service"}  # fmt: skip

leaves = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["30s", "-1s", "1e400s", "0ms", "99999999h", "env:NOPE", "file:/nonexistent",
                     "credential:x", "ünïcode-näme", "Kit", "*", "25:00", "Mars/Olympus", "3/3",
                     "0/0", "http://", "[::1]:9478", "::1", "0.0.0.0:0", "localhost:1",
                     "$2y$10$short", "TLS13"]),
    st.lists(st.integers(min_value=-1000, max_value=1000), max_size=4),
)  # fmt: skip


def mutate(document: Any, data: st.DataObject, depth: int = 0) -> Any:
    """The valid document with random leaves replaced, keys dropped, unknown keys added."""
    if isinstance(document, dict):
        out = {}
        for key, value in document.items():
            action = data.draw(st.sampled_from(["keep", "keep", "keep", "mutate", "drop"]))
            if action == "keep":
                out[key] = value
            elif action == "mutate":
                out[key] = mutate(value, data, depth + 1)
        if data.draw(st.booleans()):
            out[data.draw(st.text(min_size=1, max_size=12))] = data.draw(leaves)
        return out
    if isinstance(document, list) and document and isinstance(document[0], dict):
        return [mutate(item, data, depth + 1) for item in document]
    return data.draw(leaves)


def toml_text(document: dict[str, Any]) -> str | None:
    try:
        return tomli_w.dumps({k: v for k, v in document.items() if v is not None})
    except (TypeError, ValueError):
        return None  # a None deeper down: not expressible in TOML


def check(text: str) -> list[str]:
    """The errors of `text` as a config; [] when it is valid. Anything else raises."""
    try:
        parse(text, PATH, environ=ENV)
    except ConfigError as error:
        return error.errors
    return []


def test_the_document_mutated_is_valid() -> None:
    assert check(tomli_w.dumps(VALID)) == []


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_configs_give_clear_errors(data: st.DataObject) -> None:
    text = toml_text(mutate(VALID, data))
    if text is None:
        return
    for line in check(text):
        assert line.startswith(f"{PATH}: "), line
        assert "\n" not in line
        assert "Traceback" not in line


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_clear_errors(text: str) -> None:
    for line in check(text):
        assert line.startswith(f"{PATH}: "), line
        assert "\n" not in line


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            leaves, lambda c: st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
        ),
        max_size=6,
    )
)
def test_random_tables_give_clear_errors(document: dict[str, Any]) -> None:
    text = toml_text(document)
    if text is not None:
        for line in check(text):
            assert line.startswith(f"{PATH}: "), line
            assert "\n" not in line


def test_the_commands_exit_1_with_one_line_per_problem(tmp_path: Path) -> None:
    cases = [
        "[daemon\n",
        '[[integrations]]\nname = "ÜNICODE"\nkind = "http"\nurl = 5\n',
        "[defaults]\ninterval = 99999999999999999\ntimeout = -1\n",
        '[alerts]\nflap_max_transitions = 1e308\n[[alerts.maintenance]]\ntimezone = "x"\n',
        "integrations = 7\n",
        '[[integrations]]\nname = "a"\nkind = "hubspot"\ntoken = "pat-inline-secret"\n',
        "[defaults.breaker]\nfailure_threshold = 123456789012345678901234567890\n",
        "x = " + "[" * 3000 + "]" * 3000 + "\n",
        '[daemon]\nlisten = "::1:9478"\n',
        '[daemon]\nlisten = "metrics.example.com:9478"\n',
        f'[daemon]\nadmin_token = "file:{tmp_path / "two-lines"}"\n',
        f'[daemon.tls]\ncert_file = "{tmp_path / "missing.pem"}"\nkey_file = "k.pem"\n',
    ]
    (tmp_path / "two-lines").write_text("pat-inline-secret-0123456789\nsecond line\n")
    config = tmp_path / "config.toml"
    for text in cases:
        config.write_text(text)
        for command in (["check"], ["run"]):
            done = subprocess.run(
                [BREAKERWATCH, *command, "--config", str(config)],
                capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
                check=False,
            )  # fmt: skip
            output = done.stdout + done.stderr
            assert done.returncode == 1, (text, output)
            assert "Traceback" not in output
            assert all(line.startswith(str(config)) for line in done.stderr.splitlines()), output
            assert "pat-inline-secret" not in output
