"""The daemon's HTTP port as a client, a browser or an attacker meets it: a real daemon
process, real sockets, requests written byte by byte where a library would tidy them."""

from __future__ import annotations

import gzip
import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, breakerwatch, config_text, environment
from tests.daemon.test_daemon import metric

pytestmark = pytest.mark.system  # the daemon (or the CLI) as a process

TOKENS = {"ALICE_TOKEN": "alice-token-0123456789abcdef", "DEPLOY_TOKEN": "deploy-token-0123456789"}
PASSWORD = "scrape-pass-0123"
JSON = {"Content-Type": "application/json"}
DISABLE = b'{"action": "disable", "reason": "testing"}'


def write_config(
    simulator: Simulator,
    tmp_path: Path,
    daemon: str = "",
    sections: str = "",
    listen: str = "127.0.0.1:0",
) -> tuple[Path, dict[str, str]]:
    """The harness's config with more `[daemon]` keys, and `sections` (tables) after it."""
    config = tmp_path / "config.toml"
    text = config_text(simulator, tmp_path / "state")
    text = text.replace('listen = "127.0.0.1:0"\n', f'listen = "{listen}"\n' + daemon, 1)
    config.write_text(text.replace("\n[defaults]", "\n" + sections + "[defaults]", 1))
    return config, environment(simulator, **TOKENS)


@pytest.fixture
def daemon(simulator: Simulator, tmp_path: Path) -> Iterator[DaemonProcess]:
    config, env = write_config(simulator, tmp_path, 'log_level = "debug"\n')
    process = DaemonProcess(config, env)
    yield process.wait_ready()
    assert process.stop() == 0
    assert "Traceback" not in process.output


def address(daemon: DaemonProcess) -> tuple[str, int]:
    host, port = daemon.url.rsplit("//", 1)[1].rsplit(":", 1)
    return host.strip("[]"), int(port)


def exchange(daemon: DaemonProcess, raw: bytes, wait: float = 3.0) -> bytes:
    """Send `raw` bytes, read until the server closes or `wait` seconds of silence."""
    with socket.create_connection(address(daemon), timeout=wait) as sock:
        sock.sendall(raw)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"^HTTP/1\.[01] (\d{3})", answer, re.M)]


def refused(daemon: DaemonProcess, reason: str) -> float:
    value = metric(daemon.get("/metrics").text, "breakerwatch_http_requests_refused_total",
                   reason=reason)  # fmt: skip
    assert value is not None
    return value


def test_head_works_wherever_get_does(daemon: DaemonProcess) -> None:
    for path in ("/metrics", "/healthz", "/readyz", "/api/v1/status", "/api/v1/silences",
                 "/api/v1/incidents", "/api/v1/incidents.csv", "/api/v1/report"):  # fmt: skip
        answer = httpx.head(daemon.url + path, timeout=5)
        assert answer.status_code == 200, path
        assert answer.content == b""
        if path == "/metrics":  # made only while it is sent, so neither length nor page
            assert "content-length" not in answer.headers
        else:
            assert int(answer.headers["content-length"]) > 0
    assert httpx.head(daemon.url + "/nowhere", timeout=5).status_code == 404
    answer = httpx.put(daemon.url + "/metrics", json={}, timeout=5)
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")


def test_metrics_are_gzipped_for_a_scraper_that_accepts_it(daemon: DaemonProcess) -> None:
    plain = httpx.get(daemon.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert "content-encoding" not in plain.headers
    asked = {"Accept-Encoding": "gzip"}
    with httpx.stream("GET", daemon.url + "/metrics", headers=asked, timeout=5) as zipped:
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.headers["Vary"] == "Accept-Encoding"
        assert zipped.headers["Transfer-Encoding"] == "chunked"  # made while it is sent
        body = b"".join(zipped.iter_raw())  # the chunks joined, still compressed
    text = gzip.decompress(body).decode()
    assert text.split("\n", 1)[0] == plain.text.split("\n", 1)[0]  # the same exposition
    assert "breakerwatch_breaker_state" in text
    refused = httpx.get(daemon.url + "/metrics", headers={"Accept-Encoding": "gzip;q=0"}, timeout=5)
    assert "content-encoding" not in refused.headers


def test_reload_over_http_is_a_change_like_any_other(simulator: Simulator, tmp_path: Path) -> None:
    tokens = '[daemon.admin_tokens]\nalice = "env:ALICE_TOKEN"\n'
    config, env = write_config(simulator, tmp_path, sections=tokens)
    daemon = DaemonProcess(config, env).wait_ready()
    url = daemon.url + "/-/reload"
    alice = {"Authorization": f"Bearer {TOKENS['ALICE_TOKEN']}"}
    try:
        assert httpx.post(url, timeout=5).status_code == 401  # a change needs the token
        assert httpx.get(url, headers=alice, timeout=5).headers["allow"] == "POST"
        page = {**alice, "Origin": "https://evil.example"}
        assert httpx.post(url, headers=page, timeout=5).status_code == 403
        config.write_text(config.read_text().replace('name = "sendgrid"', 'name = "sendgrid2"'))
        answer = httpx.post(url, headers=alice, timeout=5)  # as curl -X POST sends it: no body
        assert answer.status_code == 200, answer.text
        assert answer.json()["reloaded"] is True
        assert "sendgrid2" in daemon.status()
        assert "(alice): 1 added, 0 changed, 1 removed, 3 unchanged" in daemon.output
        config.write_text(config.read_text() + "\n[defaults.retry]\nmax_attempts = 0\n")
        failed = httpx.post(url, headers=alice, timeout=5)
        assert failed.status_code == 500
        assert failed.json()["problems"], failed.text
        assert "sendgrid2" in daemon.status()  # the running configuration stays
    finally:
        assert daemon.stop() == 0


def test_every_answer_carries_the_safety_headers(daemon: DaemonProcess) -> None:
    answer = daemon.get("/api/v1/status")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cross-origin-resource-policy"] == "same-origin"
    assert "access-control-allow-origin" not in answer.headers


def test_a_request_hidden_in_a_body_stays_a_body(daemon: DaemonProcess) -> None:
    """What the standard library's server answered twice, forcing the breaker open."""
    inner = b'{"action": "force-open", "reason": "smuggled"}'
    smuggled = (
        b"POST /api/v1/integrations/kit/breaker HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(inner), inner)
    )
    outer = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(
        smuggled
    )
    assert statuses(exchange(daemon, outer + smuggled)) == [200]
    both = (
        b"POST /api/v1/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
    )
    assert statuses(exchange(daemon, both)) == [400]
    assert daemon.state("kit") == "closed"


@pytest.mark.parametrize(
    "length", [b"2000000000", b"1048577", b"-1", b"abc", b"1e9", b"10, 20"]
)  # fmt: skip
def test_a_body_declared_too_large_or_wrong_is_refused_unread(
    daemon: DaemonProcess, length: bytes
) -> None:
    request = (
        b"POST /api/v1/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n"
    )
    began = time.monotonic()
    answer = exchange(daemon, request, wait=10)
    assert statuses(answer) == [413 if length.isdigit() else 400]
    assert time.monotonic() - began < 5  # answered at once, not after reading a body
    assert b"Traceback" not in answer


def test_a_chunked_body_past_the_limit_is_cut_off(daemon: DaemonProcess) -> None:
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    request = (
        b"POST /api/v1/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + body
    )
    assert statuses(exchange(daemon, request)) == [413]


def test_a_malformed_request_is_a_4xx_and_one_debug_line(daemon: DaemonProcess) -> None:
    for raw in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/9.9\r\n\r\n",
                b"GET /\x1b[2J HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"):  # fmt: skip
        answer = exchange(daemon, raw)
        assert all(400 <= code < 500 for code in statuses(answer)), answer
    daemon.until(lambda: daemon.output.count("malformed request refused") >= 3, what="logs")
    lines = [line for line in daemon.lines if "malformed request refused" in line]
    assert all(" DEBUG daemon.server: " in line for line in lines)
    assert "\x1b" not in daemon.output


def test_only_hosts_that_name_the_daemon_are_served(daemon: DaemonProcess) -> None:
    before = refused(daemon, "misdirected")
    rebound = httpx.get(daemon.url + "/api/v1/status", headers={"Host": "rebind.evil.example"})
    assert (rebound.status_code, rebound.content) == (421, b"")
    for host in ("localhost:1", "127.0.0.1", "[::1]:9478", "10.9.8.7", socket.gethostname()):
        assert httpx.get(daemon.url + "/healthz", headers={"Host": host}).status_code == 200
    assert refused(daemon, "misdirected") == before + 1


def test_a_web_page_cannot_change_anything(daemon: DaemonProcess) -> None:
    url = daemon.url + "/api/v1/integrations/kit/breaker"
    attempts = [
        ({"Content-Type": "text/plain"}, DISABLE, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"action=disable", 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415),
        ({**JSON, "Origin": "http://127.0.0.1:8080"}, DISABLE, 403),
        ({**JSON, "Origin": "null"}, DISABLE, 403),
        ({**JSON, "Sec-Fetch-Site": "cross-site"}, DISABLE, 403),
        ({**JSON, "Sec-Fetch-Site": "same-site"}, DISABLE, 403),
    ]
    for headers, body, status in attempts:
        assert httpx.post(url, content=body, headers=headers).status_code == status, headers
    preflight = httpx.options(url, headers={
        "Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})  # fmt: skip
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    assert refused(daemon, "content_type") == 3
    assert refused(daemon, "cross_site") == 4
    assert daemon.state("kit") == "closed"
    own = httpx.post(url, content=DISABLE, headers={**JSON, "Origin": daemon.url})
    assert own.status_code == 200  # the daemon's own origin, JSON: a local operator
    assert daemon.state("kit") == "disabled"


def test_beyond_loopback_without_a_token_nothing_changes(
    simulator: Simulator, tmp_path: Path
) -> None:
    config, env = write_config(simulator, tmp_path, listen="0.0.0.0:0")
    check = breakerwatch("check", "--config", str(config), env=env)
    assert check.returncode == 0
    assert (
        f"{config}: note: daemon.listen: 0.0.0.0:0 is reachable beyond this host and there is "
        "no [daemon] admin_token, so breaker and silence changes are refused (403)"
    ) in check.stdout
    wide = DaemonProcess(config, env).wait_ready()
    try:
        url = wide.url
        answer = httpx.post(f"{url}/api/v1/integrations/kit/breaker", content=DISABLE,
                            headers=JSON)  # fmt: skip
        assert answer.status_code == 403
        assert "no [daemon] admin_token" in answer.json()["error"]
        assert httpx.get(f"{url}/api/v1/status").status_code == 200  # reads stay open
        assert "WARNING breakerwatch: daemon.listen: 0.0.0.0:0 is reachable" in wide.output
    finally:
        assert wide.stop() == 0


def test_admin_tokens_say_who_changed_what(simulator: Simulator, tmp_path: Path) -> None:
    tokens = '[daemon.admin_tokens]\nalice = "env:ALICE_TOKEN"\ndeploy = "env:DEPLOY_TOKEN"\n'
    config, env = write_config(simulator, tmp_path, sections=tokens)
    daemon = DaemonProcess(config, env).wait_ready()
    url = daemon.url + "/api/v1/integrations/kit/breaker"
    try:
        assert httpx.post(url, content=DISABLE, headers=JSON).status_code == 401
        wrong = {**JSON, "Authorization": "Bearer alice-token-0123456789abcdeX"}
        assert httpx.post(url, content=DISABLE, headers=wrong).status_code == 401
        alice = {**JSON, "Authorization": f"Bearer {TOKENS['ALICE_TOKEN']}"}
        assert httpx.post(url, content=DISABLE, headers=alice).status_code == 200
        assert daemon.status()["kit"]["override"]["by"] == "alice"
        deploy = {
            **env,
            "BREAKERWATCH_TOKEN": TOKENS["DEPLOY_TOKEN"],
            "BREAKERWATCH_URL": daemon.url,
        }
        cli = breakerwatch("breaker", "kit", "reset", "--config", str(config), env=deploy)
        assert (cli.returncode, cli.stdout) == (
            0, "kit: breaker closed (saved: it stays so across restarts)\n",
        )  # fmt: skip
        assert "kit: breaker reset by deploy (it was disabled by alice)" in daemon.output
        anonymous = breakerwatch("silence", "add", "kit", "--for", "1h", "--reason", "x",
                                 "--config", str(config), "--url", daemon.url, env=env)  # fmt: skip
        assert (anonymous.returncode, anonymous.stderr) == (
            1, "changes need an admin token (Authorization: Bearer); set $BREAKERWATCH_TOKEN\n",
        )  # fmt: skip
        assert refused(daemon, "unauthorized") == 3
    finally:
        assert daemon.stop() == 0
    for token in TOKENS.values():
        assert token not in daemon.output


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


def test_tls_and_basic_auth_guard_every_endpoint(
    simulator: Simulator, tmp_path: Path, certificates: dict[str, Path]
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    secured = (
        f'[daemon.tls]\ncert_file = "{certificates["cert"]}"\nkey_file = "{certificates["key"]}"\n'
        f'[daemon.basic_auth_users]\nprometheus = "{hashed}"\n'
    )
    config, env = write_config(simulator, tmp_path, 'admin_token = "env:ALICE_TOKEN"\n', secured)
    daemon = DaemonProcess(config, env)
    trust = ssl.create_default_context(cafile=certificates["ca"])
    daemon.client = {"verify": trust, "auth": ("prometheus", PASSWORD)}
    daemon.wait_ready()
    try:
        assert daemon.url.startswith("https://127.0.0.1:")
        trusted: dict[str, Any] = {"verify": trust, "timeout": 10}
        for path in ("/metrics", "/healthz", "/readyz", "/api/v1/status", "/api/v1/incidents",
                     "/api/v1/incidents.csv", "/api/v1/report"):  # fmt: skip
            bare = httpx.get(daemon.url + path, **trusted)
            assert bare.status_code == 401, path
            assert bare.headers["www-authenticate"] == 'Basic realm="breakerwatch"'
        wrong = httpx.get(daemon.url + "/metrics", auth=("prometheus", "wrong"), **trusted)
        stranger = httpx.get(daemon.url + "/metrics", auth=("nobody", PASSWORD), **trusted)
        assert (wrong.status_code, stranger.status_code) == (401, 401)
        assert daemon.get("/metrics").status_code == 200
        token = {"Authorization": f"Bearer {TOKENS['ALICE_TOKEN']}"}
        assert httpx.get(daemon.url + "/api/v1/status", headers=token, **trusted).status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP gets no answer at all
            httpx.get(daemon.url.replace("https", "http") + "/metrics", timeout=5)
        with pytest.raises(httpx.ConnectError):  # untrusted certificate
            httpx.get(daemon.url + "/metrics", timeout=5)
        # The CLI trusts the daemon's own certificate and sends the token.
        table = breakerwatch("status", "--config", str(config), "--url", daemon.url, env=env)
        assert table.returncode == 0, table.stderr
        assert "4 integrations" in table.stdout
        assert refused(daemon, "unauthorized") >= 6
    finally:
        assert daemon.stop() == 0
    assert PASSWORD not in daemon.output


def test_a_renewed_certificate_is_served_without_a_restart(
    simulator: Simulator, tmp_path: Path, certificates: dict[str, Path]
) -> None:
    tls = (
        f'[daemon.tls]\ncert_file = "{certificates["cert"]}"\nkey_file = "{certificates["key"]}"\n'
    )
    config, env = write_config(simulator, tmp_path, sections=tls)
    daemon = DaemonProcess(config, env)
    daemon.client = {"verify": ssl.create_default_context(cafile=certificates["ca"])}
    daemon.wait_ready()
    try:
        renewed = trustme.CA()
        cert = renewed.issue_cert("127.0.0.1")
        time.sleep(0.01)  # a later modification time
        cert.cert_chain_pems[0].write_to_path(str(certificates["cert"]))
        cert.private_key_pem.write_to_path(str(certificates["key"]))
        with renewed.cert_pem.tempfile() as bundle:
            context = ssl.create_default_context(cafile=bundle)
            assert httpx.get(daemon.url + "/healthz", verify=context).status_code == 200
    finally:
        assert daemon.stop() == 0


def test_check_refuses_what_run_would_refuse(
    simulator: Simulator, tmp_path: Path, certificates: dict[str, Path]
) -> None:
    other = trustme.CA().issue_cert("127.0.0.1")
    mismatched = tmp_path / "other-key.pem"
    other.private_key_pem.write_to_path(str(mismatched))
    tls = f'[daemon.tls]\ncert_file = "{certificates["cert"]}"\nkey_file = "{mismatched}"\n'
    config, env = write_config(simulator, tmp_path, sections=tls)
    for command in ("check", "run"):
        done = breakerwatch(command, "--config", str(config), env=env)
        said = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 1
        assert f"daemon.tls: cannot use {certificates['cert']} with {mismatched}" in said[-1]
        assert "Traceback" not in done.stdout + done.stderr


def test_an_ipv6_listen_address_works(simulator: Simulator, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
    config, env = write_config(simulator, tmp_path, listen="[::1]:0")
    daemon = DaemonProcess(config, env).wait_ready()
    try:
        assert daemon.url.startswith("http://[::1]:")
        assert daemon.state("kit") == "closed"
        table = breakerwatch("status", "--url", daemon.url)
        assert table.returncode == 0, table.stderr
    finally:
        assert daemon.stop() == 0
