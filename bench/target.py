"""A fast HTTP target for the benchmarks: the same 200 JSON answer to anything, keep-alive.

The answer does for an `http` probe ({"status": "ok"}), a HubSpot health check (its
`portalId`) and a HubSpot OAuth token's scope check (its `scopes`). A HubSpot canary is
answered as HubSpot would: its batch upsert (a POST with a body) is remembered, and a read
of the contact gives back the `lastname` last written.

Runs in its own process so its CPU is not counted against the prober being measured:
    python bench/target.py PORT        (or `with running_target() as url:` from a benchmark)
"""

from __future__ import annotations

import asyncio
import json
import re
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


WRITTEN: dict[str, object] = {}  # the canary's lastname, as last upserted


def _answer(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


class Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            size = int(length[1]) if length else 0
            if len(rest) < size:
                return  # the body is still coming
            body, self.buffer = rest[:size], rest[size:]
            self.transport.write(self._reply(head, body))  # type: ignore[attr-defined]

    def _reply(self, head: bytes, body: bytes) -> bytes:
        line = head.split(b"\r\n", 1)[0]
        if b"/crm/v3/objects/contacts/batch/upsert" in line:
            contact = json.loads(body)["inputs"][0]
            WRITTEN["lastname"] = contact["properties"].get("lastname")
            result = {"id": "1", "properties": contact["properties"], "new": False}
            return _answer(json.dumps({"status": "COMPLETE", "results": [result]}).encode())
        if line.startswith(b"GET /crm/v3/objects/contacts/"):
            contact = {"id": "1", "properties": {"lastname": WRITTEN.get("lastname")}}
            return _answer(json.dumps(contact).encode())
        return RESPONSE


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
