"""The aiohttp transport keeps httpx's contract: exceptions, retries, trace events, pooling."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from probes.outcome import Kind, ProxyUnusable, classify
from probes.proxy import Proxies
from probes.transport import EVENTS, AiohttpTransport
from tests.fakes.http_server import Reply, ScriptedServer

pytestmark = pytest.mark.anyio


def client(**options: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(**options), timeout=2)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(reset=True), httpx.ReadError),  # a TCP reset before any answer
        (Reply(delay=3), httpx.ReadTimeout),
    ],
)
async def test_failures_map_to_httpx_exceptions(
    server: ScriptedServer, reply: Reply, error: type[Exception]
) -> None:
    server.default = reply
    async with client() as http:
        with pytest.raises(error):
            await http.get(server.url + "/x")
    assert server.hits == 1  # never retried underneath us


def one_shot(answer: bytes) -> tuple[str, threading.Thread]:
    """A server that reads one request, writes `answer`, and closes (no reset)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/", thread


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # hangs up without answering
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",  # a body cut short
        b"SMTP ready\r\n\r\n",  # not HTTP at all
    ],
)
async def test_a_broken_answer_is_a_protocol_error(answer: bytes) -> None:
    url, thread = one_shot(answer)
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(url)
    thread.join(timeout=5)


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError, match="Cannot connect"):
            await http.get(f"http://127.0.0.1:{closed_port()}/")


async def test_a_non_http_url_is_unsupported() -> None:
    async with client() as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.send(httpx.Request("GET", "ftp://127.0.0.1/x"))


async def test_requests_and_answers_pass_through(server: ScriptedServer) -> None:
    server.default = Reply(201, body=b"made", headers={"X-Rate": "7", "Content-Type": "text/plain"})
    async with client() as http:
        response = await http.post(
            server.url + "/things?a=1%202", content=b"payload", headers={"X-Api-Key": "k"}
        )
    assert (response.status_code, response.reason_phrase, response.text) == (201, "Created", "made")
    assert response.headers["x-rate"] == "7"
    seen = server.requests[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/things?a=1%202", b"payload")
    assert seen.headers["X-Api-Key"] == "k"
    assert seen.headers["User-Agent"].startswith("python-httpx/")  # httpx's, not aiohttp's


async def test_trace_events_arrive_in_order(server: ScriptedServer) -> None:
    seen: list[str] = []

    async def trace(event: str, info: dict[str, object]) -> None:
        seen.append(event)

    async with (
        client() as http,
        http.stream("GET", server.url + "/", extensions={"trace": trace}) as response,
    ):
        await response.aread()
    order = [event for phase in ("connect", "wait", "body") for event in EVENTS[phase]]
    assert seen == order


async def test_a_shared_transport_outlives_its_clients(server: ScriptedServer) -> None:
    shared = AiohttpTransport(close_with_client=False)
    for _ in range(3):
        async with httpx.AsyncClient(transport=shared) as http:
            assert (await http.get(server.url + "/")).status_code == 200
    assert server.connections == 1  # one pool, kept alive across the clients
    await shared.close()


async def test_a_fresh_request_opens_its_own_connection_and_the_others_share_one(
    server: ScriptedServer,
) -> None:
    async with client() as http:
        for _ in range(3):
            assert (await http.get(server.url + "/")).status_code == 200
        assert server.connections == 1  # kept alive and reused
        for _ in range(3):
            response = await http.get(server.url + "/", extensions={"fresh": True})
            assert response.status_code == 200
        assert server.connections == 4  # one each, closed after it
        await http.get(server.url + "/")
        assert server.connections == 4  # the kept one is still there for the others
        traced: list[str] = []

        async def trace(event: str, info: dict[str, object]) -> None:
            traced.append(event)

        await http.get(server.url + "/", extensions={"fresh": True, "trace": trace})
        assert server.connections == 5
        assert EVENTS["connect"][0] in traced  # a fresh one is a connection to trace


# -- proxies --------------------------------------------------------------------------


async def test_requests_go_through_the_proxy_the_rule_names_unless_told_direct(
    server: ScriptedServer,
) -> None:
    with ScriptedServer() as proxy:
        rule = Proxies.from_environ({"HTTP_PROXY": proxy.url})
        async with client(proxies=rule) as http:
            await http.get("http://vendor.example/v4/account")
            await http.get(server.url + "/direct", extensions={"proxy": False})
            await http.get("http://other.example/x", extensions={"proxy": server.url})
    assert [seen.path for seen in proxy.requests] == ["http://vendor.example/v4/account"]
    assert [seen.path for seen in server.requests] == ["/direct", "http://other.example/x"]


@pytest.mark.parametrize(
    ("url", "reply", "error", "said"),
    [
        ("http://vendor.example/", Reply(407), ProxyUnusable, "answered 407 Proxy Auth"),
        ("https://vendor.example/", Reply(403), ProxyUnusable, "tunnel request with 403 Forbidden"),
        ("https://vendor.example/", Reply(503), httpx.ProxyError, "tunnel request with 503"),
    ],
)  # fmt: skip
async def test_a_proxy_that_refuses_us_is_told_apart_from_one_that_cannot_reach_the_vendor(
    url: str, reply: Reply, error: type[Exception], said: str
) -> None:
    with ScriptedServer(default=reply) as proxy:
        user = proxy.url.replace("http://", "http://probe:pw-CANARY@")
        async with client(proxies=Proxies.from_environ({"ALL_PROXY": user})) as http:
            with pytest.raises(error) as raised:
                await http.get(url)
    assert said in str(raised.value)
    assert "CANARY" not in str(raised.value)
    assert raised.value.__cause__ is None  # aiohttp's text shows the proxy's password
    outcome = classify(raised.value, now=0.0, ok_status=range(200, 300))
    expected = Kind.LOCAL if error is ProxyUnusable else Kind.FAILURE
    assert outcome.kind is expected


async def test_a_proxy_that_cannot_be_reached_is_our_trouble() -> None:
    rule = Proxies.from_environ({"HTTPS_PROXY": f"http://127.0.0.1:{closed_port()}"})
    async with client(proxies=rule) as http:
        with pytest.raises(ProxyUnusable, match=r"cannot connect to the proxy 127\.0\.0\.1:"):
            await http.get("https://vendor.example/")
