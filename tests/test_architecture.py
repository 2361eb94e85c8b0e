"""docs/architecture.md stays true: the layers, the pure modules, the map of every module,
and its walkthrough for adding a vendor, followed with a throwaway module."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.app import Daemon
from daemon.config import ConfigError, load
from probes.adapters import KINDS
from tests.fakes.http_server import Reply, ScriptedServer

ROOT = Path(__file__).parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PACKAGES = ("probes", "alerts", "daemon", "simulator")
# What each package may import of ours: nothing imports upward, the simulator nothing.
ALLOWED = {
    "probes": {"probes"},
    "alerts": {"alerts", "probes"},
    "daemon": {"daemon", "alerts", "probes", "simulator"},
    "simulator": {"simulator"},
}
# The modules docs/architecture.md calls pure, and what they must never import.
PURE = [
    "probes/breaker.py", "probes/outcome.py", "probes/hints.py", "probes/text.py",
    "probes/_settings.py", "probes/proxy.py", "probes/statuspage.py", "alerts/policy.py",
    "alerts/messages.py", "alerts/verdict.py", "alerts/stamp.py",
    "alerts/model.py", "alerts/silences.py", "alerts/alertmanager.py", "daemon/access.py",
    "daemon/sharding.py", "daemon/status.py", "daemon/degraded.py", "daemon/history.py",
    "daemon/availability.py", "daemon/page.py", "daemon/recent.py", "daemon/wheel.py",
]  # fmt: skip
IO = {
    "sqlite3", "subprocess", "os", "pathlib", "shutil", "tempfile", "aiohttp", "slack_sdk",
    "apscheduler", "prometheus_client", "h11", "urllib.request", "http.client",
}  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_nothing_imports_upward() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules()
        for name in imports(path)
        if name.split(".")[0] in PACKAGES
        and name.split(".")[0] not in ALLOWED[path.relative_to(ROOT).parts[0]]
    ]
    assert wrong == []


def test_the_pure_modules_do_no_io() -> None:
    wrong = {
        module: sorted(name for name in imports(ROOT / module) if name in IO) for module in PURE
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_only_the_scheduler_imports_apscheduler() -> None:
    users = [p.relative_to(ROOT).as_posix() for p in modules()
             if any(name.startswith("apscheduler") for name in imports(p))]  # fmt: skip
    assert users == ["daemon/scheduler.py"]


def test_every_module_is_on_the_map() -> None:
    """A module docs/architecture.md does not name is a module a newcomer cannot find."""
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`([a-z_/]+(?:\.py)?)`", text))
    missing = []
    for path in modules():
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and len(path.parts) - len(ROOT.parts) == 2:
            continue  # a package's front door: the package is named
        folder = relative.rsplit("/", 1)[0] + "/"  # a subpackage named as a whole
        in_named_folder = folder.count("/") > 1 and folder in named
        if relative not in named and not in_named_folder:
            missing.append(relative)
    assert missing == []


# -- the walkthrough: a fifth vendor, as docs/architecture.md says -------------------------

# Step 1 of "How to add a fifth vendor", for a vendor that does not exist.
TOY_ADAPTER = '''
from typing import Any

import httpx

from probes.adapters.base import VendorAdapter, json_body
from probes.outcome import InvalidResponse


class ToyAdapter(VendorAdapter):
    """Toy CRM: a token in X-Toy-Token, GET /v1/whoami answers {"account": ...}."""

    kind = "toy"
    default_base_url = "https://api.toy.invalid"
    health_path = "/v1/whoami"
    credential_field = "token"

    @classmethod
    def credential_problem(cls, credential: str) -> str | None:
        return None if credential.startswith("toy-") else "a Toy token starts with toy-"

    def auth_headers(self, credential: str) -> dict[str, str]:
        return {"X-Toy-Token": credential, "Accept": "application/json"}

    def check_health(self, response: httpx.Response) -> None:
        body = json_body(response)
        if not isinstance(body, dict) or "account" not in body:
            raise InvalidResponse("GET /v1/whoami answered without account")

    def vendor_message(self, body: Any) -> str | None:
        return body.get("message") if isinstance(body, dict) else None
'''

TOKEN = "toy-canary-7f3a9c"


@pytest.fixture
def toy_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    """Steps 1 and 2: the adapter in a module of its own, registered in KINDS."""
    source = tmp_path / "toy_vendor.py"
    source.write_text(TOY_ADAPTER)
    spec = importlib.util.spec_from_file_location("toy_vendor", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(KINDS, "toy", module.ToyAdapter)
    return module.ToyAdapter  # type: ignore[no-any-return]


def toy_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[daemon]\nlisten = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\n\n'
        '[[integrations]]\nname = "toy-crm"\nkind = "toy"\ntoken = "env:TOY_TOKEN"\n'
        f'base_url = "{base_url}"\ninterval = "200ms"\ntimeout = "150ms"\n\n'
        '[integrations.breaker]\nfailure_threshold = 2\nreset_timeout = "10m"\n\n'
        "[integrations.retry]\nmax_attempts = 1\n"
    )
    return path


def test_the_config_checks_a_new_kind_with_its_adapters_rule(
    toy_kind: type, tmp_path: Path
) -> None:
    path = toy_config(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ConfigError) as refused:
        load(path, environ={"TOY_TOKEN": "not-a-toy-token"})
    assert any("token: a Toy token starts with toy-" in line for line in refused.value.errors)
    assert load(path, environ={"TOY_TOKEN": TOKEN}).integrations[0].kind == "toy"


async def _until(check: Callable[[], Any], what: str, timeout: float = 10) -> None:
    """Wait (boundedly) until `check()`, or the value it awaits, is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_toy_vendor_added_as_this_page_says_is_probed(
    toy_kind: type, tmp_path: Path, server: ScriptedServer
) -> None:
    """The daemon probes the new kind, exports its breaker, and opens it when the vendor
    refuses the token, with the vendor's message and without the token."""
    server.default = Reply(body=b'{"account": {"id": 7}}')
    config = load(toy_config(tmp_path, server.url), environ={"TOY_TOKEN": TOKEN})
    log = io.StringIO()

    async def scenario() -> tuple[str, dict[str, Any], str]:
        daemon = Daemon(config, environ={"TOY_TOKEN": TOKEN}, log_stream=log)
        running = asyncio.ensure_future(daemon.run())
        try:
            await _until(lambda: getattr(daemon, "_ready", False) or running.done(), "ready")
            assert not running.done(), log.getvalue()
            async with httpx.AsyncClient(base_url=daemon.server.url) as client:

                async def toy() -> dict[str, Any]:
                    status = (await client.get("/api/v1/status")).json()
                    return next(i for i in status["integrations"] if i["name"] == "toy-crm")

                async def probed_ok() -> bool:
                    last = (await toy())["last_probe"]
                    return last is not None and last["outcome"] == "success"

                await _until(probed_ok, "a successful probe")
                metrics = (await client.get("/metrics")).text
                server.default = Reply(401, body=f'{{"message": "token {TOKEN} revoked"}}'.encode())

                async def opened() -> bool:
                    return (await toy())["state"] == "open"

                await _until(opened, "the breaker to open")
                return metrics, await toy(), (await client.get("/metrics")).text
        finally:
            daemon.stop()
            assert await asyncio.wait_for(running, 30) == 0

    healthy_metrics, opened, open_metrics = asyncio.run(scenario())
    assert 'breakerwatch_breaker_state{integration="toy-crm",state="closed"} 1' in healthy_metrics
    assert 'breakerwatch_breaker_state{integration="toy-crm",state="open"} 1' in open_metrics
    assert opened["kind"] == "toy"
    assert opened["last_probe"]["reason"] == "auth"
    assert "token [REDACTED] revoked" in opened["last_probe"]["detail"]
    assert all(seen.headers["X-Toy-Token"] == TOKEN for seen in server.requests)
    assert [seen.path for seen in server.requests][:1] == ["/v1/whoami"]
    assert "toy-crm: breaker closed -> open" in log.getvalue()
    assert TOKEN not in log.getvalue() + open_metrics + str(opened)
