"""The README's library example runs as written, against a loopback stand-in for Kit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.http_server import Reply, ScriptedServer

README = Path(__file__).parent.parent / "README.md"


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return next(block for block in blocks if "asyncio.run(main())" in block)


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
