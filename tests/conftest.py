from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.http_server import ScriptedServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running
