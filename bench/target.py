"""A fast HTTP target for the benchmarks: the same 200 JSON answer to anything, keep-alive.

The answer does for an `http` probe ({"status": "ok"}), a HubSpot health check (its
`portalId`) and a HubSpot OAuth token's scope check (its `scopes`).

Runs in its own process so its CPU is not counted against the prober being measured:
    python bench/target.py PORT        (or `with running_target() as url:` from a benchmark)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

BODY = b'{"status": "ok", "portalId": 1, "scopes": ["crm.objects.contacts.write"]}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


class Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # bodiless requests: GET and HEAD
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


@contextmanager
def running_target() -> Iterator[str]:
    """The target in a process of its own, for as long as the block runs; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, __file__, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "listening on ..."
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port, backlog=4096)
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
