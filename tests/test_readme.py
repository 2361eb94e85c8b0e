"""The README's library example runs as written, against a loopback stand-in for Kit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator import Simulator
from tests.fakes.http_server import Reply, ScriptedServer
from tests.simulator.helpers import admin

README = Path(__file__).parent.parent / "README.md"


def example(marker: str = "ResilientClient(") -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return next(block for block in blocks if "asyncio.run(main())" in block and marker in block)


def test_readme_example_reports_success(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIT_API_KEY", "kit-test-key")
    server.default = Reply(body=b'{"account": {"name": "Acme", "plan_type": "creator"}}')
    exec(example().replace("https://api.kit.com", server.url), {"__name__": "readme"})
    assert capsys.readouterr().out == "kit is up: Acme\nbreaker: closed after 1 attempt(s)\n"
    assert server.requests[0].path == "/v4/account"
    assert server.requests[0].headers["X-Kit-Api-Key"] == "kit-test-key"


def test_readme_example_reports_a_refused_key(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIT_API_KEY", "revoked")
    server.default = Reply(401, body=b'{"errors": ["API Key not valid"]}')
    exec(example().replace("https://api.kit.com", server.url), {"__name__": "readme"})
    assert capsys.readouterr().out == (
        "failure auth the credential was refused (HTTP 401 Unauthorized)\n"
        "breaker: closed after 1 attempt(s)\n"
    )


def run_mailchimp_example(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCHIMP_BASE_URL", sim.base_url("mailchimp"))
    monkeypatch.setenv("MAILCHIMP_API_KEY", sim.credentials["mailchimp"])
    exec(example("MailchimpAdapter"), {"__name__": "readme"})


def test_readme_adapter_example_against_the_simulator(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_mailchimp_example(simulator, monkeypatch)
    assert capsys.readouterr().out == (
        "subscribed: 3e3417d7ef77d5932a6734b916515ed5\nhealth: success breaker: closed\n"
    )


def test_readme_adapter_example_when_mailchimp_fails(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin(simulator, "PUT", "/mailchimp/mode", {"mode": "401"})
    run_mailchimp_example(simulator, monkeypatch)
    assert capsys.readouterr().out == (
        "mailchimp said no: auth the credential was refused (HTTP 401 Unauthorized): "
        "API Key Invalid: Your API key may be invalid, or you've attempted to access the "
        "wrong datacenter.\n"
        "health: failure breaker: closed\n"
    )
