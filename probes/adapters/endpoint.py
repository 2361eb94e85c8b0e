"""Any HTTP endpoint: a method and URL, expected statuses, assertions on the answer.

Assertions, each a failure with reason `assertion` when it does not hold:
- on the body: it contains a substring; a JSON path exists; a JSON path equals a value;
- on latency: the answer took no longer than `max_latency` seconds;
- on TLS: the server's certificate is valid for at least `tls_min_days` more days (the
  days left are also reported, with or without the assertion).
"""

from __future__ import annotations

import functools
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Unpack
from urllib.parse import urlsplit

import httpx

from probes.adapters.base import (
    Adapter,
    AdapterMetrics,
    ClientOptions,
    _traced,
    check_base_url,
    json_body,
    reveal,
)
from probes.http import Result, Trace
from probes.outcome import ProbeAssertionFailed
from probes.secrets import Secret

__all__ = ["BodyAssertion", "HttpEndpointAdapter", "json_path"]

_MISSING: Any = object()
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


def json_path(document: Any, path: str) -> tuple[bool, Any]:
    """Follow a simple JSON path (`$.a.b[0]["c d"]`): (found, value)."""
    if not path.startswith("$"):
        raise ValueError(f"a JSON path starts with $ (got {path!r})")
    position, value = 1, document
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            raise ValueError(f"cannot read the JSON path {path!r} at {path[position:]!r}")
        key, index = step[1] or step[3] or step[4], step[2]
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return False, None
            value = value[int(index)]
        else:
            if not isinstance(value, dict) or key not in value:
                return False, None
            value = value[key]
        position = step.end()
    return True, value


@dataclass(frozen=True, slots=True)
class BodyAssertion:
    """One of: `contains` a substring; `json_path` that `exists`; `json_path` that `equals`."""

    contains: str | None = None
    json_path: str | None = None
    equals: Any = _MISSING
    exists: bool | None = None

    def __post_init__(self) -> None:
        if (self.contains is None) == (self.json_path is None):
            raise ValueError("an assertion needs exactly one of contains or json_path")
        if self.json_path is not None:
            json_path(None, self.json_path)  # fail early on a path that cannot be read
            if (self.equals is _MISSING) == (self.exists is None):
                raise ValueError("a json_path assertion needs exactly one of equals or exists")

    def check(self, response: httpx.Response) -> None:
        if self.contains is not None:
            if self.contains not in response.text:
                raise ProbeAssertionFailed(f"the body does not contain {self.contains!r}")
            return
        assert self.json_path is not None
        document = json_body(response)
        found, value = json_path(document, self.json_path)
        if self.exists is not None:
            if found != self.exists:
                state = "is missing" if self.exists else "is present"
                raise ProbeAssertionFailed(f"{self.json_path} {state}")
        elif not found:
            raise ProbeAssertionFailed(f"{self.json_path} is missing, want {self.equals!r}")
        elif value != self.equals:
            raise ProbeAssertionFailed(f"{self.json_path} is {value!r}, want {self.equals!r}")


@functools.lru_cache(maxsize=64)
def _shared(statuses: frozenset[int]) -> frozenset[int]:
    """The first set equal to `statuses`: one `{200}` for every integration, not 216 bytes
    each (2 MB at 10,000)."""
    return statuses


class HttpEndpointAdapter(Adapter):
    """A probe of any HTTP(S) URL (kind `http`)."""

    kind = "http"
    default_base_url = ""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        method: str = "GET",
        expect_status: Sequence[int] = (200,),
        headers: Mapping[str, Secret | str] | None = None,
        body: str | None = None,
        assertions: Sequence[BodyAssertion] = (),
        max_latency: float | None = None,
        tls_min_days: float | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_base_url(name, "url", url)
        parts = urlsplit(url)
        self.health_path = parts._replace(scheme="", netloc="").geturl() or "/"
        self.health_method = method.upper()
        self.expect_status = _shared(frozenset(expect_status))
        self.body = body
        self.assertions = tuple(assertions)
        self.max_latency = max_latency
        self.tls_min_days = tls_min_days
        self.tls_not_after: float | None = None  # Unix time the server certificate expires
        values = {k: reveal(v) for k, v in (headers or {}).items()}
        secrets = [reveal(v) for v in (headers or {}).values() if isinstance(v, Secret)]
        super().__init__(
            name,
            base_url=f"{parts.scheme}://{parts.netloc}",
            headers=values,
            secrets=secrets,
            **options,
        )

    async def health_check(self, *, trace: Trace | None = None) -> Result:
        return await self.client.request(
            self.health_method,
            self.health_path,
            content=self.body,
            ok_status=self.expect_status,
            validate=self.check_health,
            **_traced(trace),
        )

    def check_health(self, response: httpx.Response) -> None:
        self._check_certificate(response)
        for assertion in self.assertions:
            assertion.check(response)
        if self.max_latency is not None:
            took = response.elapsed.total_seconds()
            if took > self.max_latency:
                raise ProbeAssertionFailed(
                    f"the answer took {took:.2f}s, over the {self.max_latency:g}s maximum"
                )

    def _check_certificate(self, response: httpx.Response) -> None:
        certificate = response.extensions.get("peer_certificate")
        not_after = certificate.get("notAfter") if isinstance(certificate, dict) else None
        if not_after:
            self.tls_not_after = float(ssl.cert_time_to_seconds(not_after))
        if self.tls_min_days is None or not self.base_url.startswith("https:"):
            return
        days_left = self.tls_days_left
        if days_left is None or not not_after:
            raise ProbeAssertionFailed("the certificate could not be read (is verification off?)")
        if days_left < self.tls_min_days:
            raise ProbeAssertionFailed(
                f"the certificate expires in {days_left:.1f} days, "
                f"under the {self.tls_min_days:g}-day minimum"
            )

    @property
    def tls_days_left(self) -> float | None:
        """Days until the server certificate expires, once a TLS probe has seen it."""
        if self.tls_not_after is None:
            return None
        return (self.tls_not_after - self.wall()) / 86_400

    def metrics(self) -> AdapterMetrics:
        return replace(super().metrics(), tls_days_left=self.tls_days_left)
