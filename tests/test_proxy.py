"""The environment's proxy rule, as curl and httpx read it (probes/proxy.py): which
variable serves which scheme, lower case over upper case, and NO_PROXY's names, addresses
and networks, with curl's documented examples."""

from __future__ import annotations

import pytest

from probes.proxy import Proxies, Route, proxy_problem, without_password

CORP = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "plain.corp:8080"}


def test_each_scheme_has_its_own_variable_and_all_proxy_is_the_fallback() -> None:
    proxies = Proxies.from_environ(CORP)
    assert proxies.route("https://api.hubapi.com/x") == Route(
        "http://proxy.corp:3128", "HTTPS_PROXY"
    )
    assert proxies.route("http://example.com/") == Route("http://plain.corp:8080", "HTTP_PROXY")
    fallback = Proxies.from_environ({"ALL_PROXY": "http://all:1"})
    assert fallback.route("https://api.kit.com/v4").proxy == "http://all:1"
    assert Proxies.from_environ({}).route("https://api.kit.com/v4") == Route(
        None, "no HTTPS_PROXY is set"
    )


def test_lower_case_wins_and_an_empty_value_is_unset() -> None:
    both = Proxies.from_environ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"})
    assert both.route("https://x.example/") == Route("http://lower:2", "https_proxy")
    empty = Proxies.from_environ({"https_proxy": "", "HTTPS_PROXY": "http://upper:1"})
    assert empty.route("https://x.example/").proxy == "http://upper:1"


@pytest.mark.parametrize(
    ("no_proxy", "host", "direct"),
    [
        # CURLOPT_NOPROXY's own examples: "ample.com" matches ample.com and www.ample.com,
        # not www.example.com or ample.com.org.
        ("ample.com", "ample.com", True),
        ("ample.com", "www.ample.com", True),
        ("ample.com", "www.example.com", False),
        ("ample.com", "ample.com.org", False),
        (".ample.com", "ample.com", True),  # a leading dot changes nothing
        ("*", "anything.example", True),
        ("localhost, 127.0.0.1", "127.0.0.1", True),
        ("10.0.0.0/8", "10.1.2.3", True),
        ("10.0.0.0/8", "11.1.2.3", False),
        ("::1", "[::1]", True),  # written without brackets, matched against the URL's host
        ("EXAMPLE.com", "Api.Example.COM", True),
        ("example.com", "10.0.0.1", False),
    ],
)
def test_no_proxy_is_read_as_curl_documents(no_proxy: str, host: str, direct: bool) -> None:
    proxies = Proxies.from_environ({**CORP, "NO_PROXY": no_proxy})
    route = proxies.route(f"https://{host}:8443/health")
    assert (route.proxy is None) is direct
    if direct:
        assert route.why.startswith("NO_PROXY lists ")


@pytest.mark.parametrize(
    ("proxy", "problem"),
    [
        ("http://proxy:3128", None),
        ("https://proxy:3129/", None),
        (
            "socks5://proxy:1080",
            "must be an http:// or https:// proxy URL (SOCKS is not supported)",
        ),
        ("http://:3128", "must name the proxy's host"),
        ("http://proxy:port", "is not a URL"),
        ("http://proxy:3128/path", "must be just scheme://host:port, with no path"),
    ],
)
def test_a_proxy_that_cannot_be_used_is_named(proxy: str, problem: str | None) -> None:
    assert proxy_problem(proxy) == problem


def test_problems_name_the_variable_and_passwords_are_collected_for_redaction() -> None:
    proxies = Proxies.from_environ(
        {"https_proxy": "http://probe:s3cret-canary@proxy:3128", "ALL_PROXY": "socks5://s:1"}
    )
    assert proxies.problems() == [
        ("ALL_PROXY", "must be an http:// or https:// proxy URL (SOCKS is not supported)")
    ]
    assert proxies.passwords() == ["s3cret-canary"]
    route = proxies.route("https://api.sendgrid.com/v3")
    assert str(route) == "via proxy http://probe:***@proxy:3128 (https_proxy)"
    assert without_password("http://proxy:3128") == "http://proxy:3128"


def test_an_integrations_own_proxy_overrides_the_rule_and_no_proxy() -> None:
    proxies = Proxies.from_environ({**CORP, "NO_PROXY": "hubapi.com"})
    url = "https://api.hubapi.com/x"
    assert proxies.route(url, "http://own:1") == Route(
        "http://own:1", "the integration's proxy setting"
    )
    assert proxies.route(url, False) == Route(None, "the integration's proxy = false")
    assert Proxies().route(url, "http://own:1").proxy == "http://own:1"
