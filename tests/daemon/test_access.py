"""Who may read and who may change things: the access rules as a pure function."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from daemon.access import AccessRules, Credentials, credentials, exposure, host_name
from daemon.config import DaemonConfig, TlsConfig
from probes.secrets import Secret

OWN = "http://127.0.0.1:9478"
TOKEN = "alice-token-0123456789"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_are_read_from_the_authorization_header() -> None:
    assert credentials(None) is None
    assert credentials("") is None
    assert credentials(f"Bearer {TOKEN}") == Credentials(token=TOKEN)
    assert credentials(f"bearer   {TOKEN} ") == Credentials(token=TOKEN)
    assert credentials(basic("prometheus", "p:ss")) == Credentials(
        user="prometheus", password="p:ss"
    )
    wrong = Credentials(user="", password="")  # present, and proving nobody
    assert credentials("Basic not-base64!") == wrong
    assert credentials("Digest whatever") == wrong


@pytest.mark.parametrize(
    ("header", "host"),
    [("127.0.0.1:9478", "127.0.0.1"), ("[::1]:9478", "::1"), ("Example.COM.", "example.com"),
     ("breakerwatch.internal:443", "breakerwatch.internal"), (None, None)],
)  # fmt: skip
def test_host_name(header: str | None, host: str | None) -> None:
    assert host_name(header) == host


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:9478", True),
        ("[::1]:9478", True),
        ("10.1.2.3:9478", True),  # an address: a rebinding page's Host is always a name
        ("localhost:9478", True),
        ("app.localhost", True),
        ("web-1:9478", True),  # the machine's own name
        ("breakerwatch.internal:9478", True),  # allowed_hosts
        ("a.svc.cluster.local", True),  # ".svc.cluster.local" takes subdomains
        ("svc.cluster.local", True),
        ("rebind.evil.example:9478", False),
        ("evilsvc.cluster.local", False),
        ("localhost.evil.example", False),
        (None, True),  # HTTP/1.0, no Host: no browser sends that
    ],
)
def test_only_a_host_that_names_this_daemon_is_served(header: str | None, allowed: bool) -> None:
    rules = AccessRules(
        loopback=True, hosts=("breakerwatch.internal", ".svc.cluster.local", "web-1")
    )
    assert rules.host_allowed(header) is allowed


def test_a_star_allows_any_host() -> None:
    assert AccessRules(loopback=False, hosts=("*",)).host_allowed("anything.example")


def test_tokens_are_told_apart_by_label() -> None:
    rules = AccessRules(loopback=False, tokens={"alice": TOKEN, "deploy": "deploy-token-0123456"})
    assert rules.token_label(TOKEN) == "alice"
    assert rules.token_label("deploy-token-0123456") == "deploy"
    assert rules.token_label(TOKEN + "x") is None
    assert rules.token_label("") is None


def decide(rules: AccessRules, **request: Any) -> tuple[int, str, str]:
    asked: dict[str, Any] = {
        "method": "POST", "given": None, "token_label": None, "user": None,
        "content_type": "application/json", "body": True, "origin": None, "fetch_site": None,
        "own_origin": OWN,
    }  # fmt: skip
    verdict = rules.decide(**{**asked, **request})
    return verdict.status, verdict.reason, verdict.who


LOCAL = AccessRules(loopback=True)
REMOTE = AccessRules(loopback=False)
TOKENS = AccessRules(loopback=False, tokens={"alice": TOKEN})
USERS = AccessRules(loopback=False, tokens={"alice": TOKEN}, users={"prometheus": "$2b$..."})
GIVEN = Credentials(token=TOKEN)


@pytest.mark.parametrize(
    ("rules", "request_", "verdict"),
    [
        # Reads: open, unless basic-auth users are configured.
        (LOCAL, {"method": "GET"}, (0, "", "")),
        (REMOTE, {"method": "GET"}, (0, "", "")),
        (USERS, {"method": "GET"}, (401, "unauthorized", "")),
        (USERS, {"method": "GET", "given": Credentials(user="prometheus", password="x"),
                 "user": "prometheus"}, (0, "", "prometheus")),
        (USERS, {"method": "HEAD", "given": GIVEN, "token_label": "alice"}, (0, "", "alice")),
        (LOCAL, {"method": "GET", "given": Credentials(token="nope")}, (401, "unauthorized", "")),
        # Changes on loopback without tokens: JSON only, never from a web page, by "local".
        (LOCAL, {}, (0, "", "local")),
        (LOCAL, {"content_type": "text/plain"}, (415, "content_type", "")),
        (LOCAL, {"content_type": "application/x-www-form-urlencoded"}, (415, "content_type", "")),
        (LOCAL, {"content_type": "multipart/form-data"}, (415, "content_type", "")),
        (LOCAL, {"method": "DELETE", "content_type": "application/octet-stream"},
         (0, "", "local")),  # no body to declare
        # No body and no type (curl -X POST .../-/reload, a config reloader): only a page
        # could send that from a browser, with its Origin.
        (LOCAL, {"content_type": "", "body": False}, (0, "", "local")),
        (LOCAL, {"content_type": "", "body": True}, (415, "content_type", "")),
        (LOCAL, {"content_type": "text/plain", "body": False}, (415, "content_type", "")),
        (LOCAL, {"content_type": "", "body": False, "origin": "https://evil.example"},
         (403, "cross_site", "")),
        (LOCAL, {"origin": "http://127.0.0.1:8080"}, (403, "cross_site", "")),
        (LOCAL, {"origin": "null"}, (403, "cross_site", "")),
        (LOCAL, {"origin": OWN}, (0, "", "local")),
        (LOCAL, {"fetch_site": "cross-site"}, (403, "cross_site", "")),
        (LOCAL, {"fetch_site": "same-site"}, (403, "cross_site", "")),  # another port
        (LOCAL, {"fetch_site": "same-origin"}, (0, "", "local")),
        (LOCAL, {"fetch_site": "none"}, (0, "", "local")),
        # Beyond loopback without a token: no changes at all.
        (REMOTE, {}, (403, "no_admin_token", "")),
        # With tokens: a token, and the changes are its label's.
        (TOKENS, {}, (401, "unauthorized", "")),
        (TOKENS, {"given": Credentials(token="wrong")}, (401, "unauthorized", "")),
        (TOKENS, {"given": GIVEN, "token_label": "alice"}, (0, "", "alice")),
        (TOKENS, {"given": GIVEN, "token_label": "alice", "origin": "https://evil.example"},
         (403, "cross_site", "")),
        (USERS, {"given": Credentials(user="prometheus", password="x"), "user": "prometheus"},
         (401, "unauthorized", "")),  # a scraper's password reads, never changes
    ],
)  # fmt: skip
def test_the_verdicts(
    rules: AccessRules, request_: dict[str, Any], verdict: tuple[int, str, str]
) -> None:
    assert decide(rules, **request_) == verdict


def test_the_check_says_who_can_reach_a_daemon_beyond_loopback() -> None:
    assert exposure(DaemonConfig()) == []
    wide = DaemonConfig(listen=("0.0.0.0", 9478))
    notes = exposure(wide)
    assert len(notes) == 2
    assert "no [daemon] admin_token, so breaker and silence changes are refused (403)" in notes[0]
    assert "[daemon.basic_auth_users] requires a password" in notes[1]
    tokens = DaemonConfig(
        listen=("::", 9478),
        admin_tokens=(("alice", Secret(TOKEN, "env:A")),),
        basic_auth_users=(("prometheus", "$2b$..."),),
    )
    (clear,) = exposure(tokens)
    assert clear.startswith("daemon.tls: tokens and passwords cross the network")
    secured = DaemonConfig(
        listen=("10.0.0.5", 9478),
        admin_tokens=(("alice", Secret(TOKEN, "env:A")),),
        basic_auth_users=(("prometheus", "$2b$..."),),
        tls=TlsConfig(Path("c.pem"), Path("k.pem")),
    )
    assert exposure(secured) == []
