"""A vendor's OAuth token endpoint: access tokens that expire, refresh tokens that may rotate.

The refresh grant of RFC 6749, section 6 (https://www.rfc-editor.org/rfc/rfc6749#section-6):
a POST of `grant_type=refresh_token`, `refresh_token`, `client_id` and `client_secret`,
form-encoded (JSON is taken too). The answer is `access_token`, `token_type`,
`expires_in` and `refresh_token`; with `rotate` the refresh token is a new one each time
and the old one is refused from then on. The admin API's `oauth` sets `lifetime` (seconds),
`rotate`, `expire` (every access token issued so far expires now) and `revoke` (every
refresh token refused too, as when the app is uninstalled).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from simulator.faults import FaultError
from simulator.wire import SimRequest, SimResponse, json_response

__all__ = ["APP", "OAuthFake"]

# The simulated app: fake values that open nothing but this process.
APP = {"client_id": "sim-client", "client_secret": "sim-client-secret"}


class OAuthFake:
    """One vendor's token endpoint and the access tokens it issued."""

    def __init__(
        self,
        vendor: str,
        clock: Callable[[], float],
        refused: Callable[[str], SimResponse],
        *,
        rotate: bool = False,
    ) -> None:
        self.vendor = vendor
        self.initial = f"sim-{vendor}-refresh-token"
        self._clock, self._refused, self._default_rotate = clock, refused, rotate
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.refresh = {self.initial}
            self.access: dict[str, float] = {}  # token -> when it expires (clock)
            self.lifetime, self.rotate, self.issued = 1800.0, self._default_rotate, 0

    def admits(self, token: str | None) -> bool:
        """Whether `token` is an access token this endpoint issued and that has not expired."""
        with self._lock:
            return token is not None and self.access.get(token, 0.0) > self._clock()

    def configure(self, settings: object) -> dict[str, Any]:
        """The admin API's `oauth`: {"lifetime": 2, "rotate": true, "revoke": true}."""
        if not isinstance(settings, dict) or set(settings) - {
            "lifetime", "rotate", "revoke", "expire",
        }:  # fmt: skip
            raise FaultError("oauth takes lifetime (seconds), rotate, revoke and expire")
        lifetime = settings.get("lifetime", self.lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise FaultError(f"lifetime must be a number of seconds > 0 (got {lifetime!r})")
        with self._lock:
            self.lifetime, self.rotate = float(lifetime), bool(settings.get("rotate", self.rotate))
            if settings.get("revoke"):
                self.refresh.clear()
            if settings.get("revoke") or settings.get("expire"):
                self.access.clear()
        return self.describe()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"lifetime": self.lifetime, "rotate": self.rotate, "issued": self.issued,
                    "refresh_tokens": len(self.refresh)}  # fmt: skip

    def token(self, request: SimRequest) -> SimResponse:
        """The refresh grant."""
        body = request.json()
        if not isinstance(body, dict):
            body = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if body.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type"})
        if body.get("client_id") != APP["client_id"] or body.get("client_secret") not in (
            None, APP["client_secret"],
        ):  # fmt: skip
            return json_response(401, {"error": "invalid_client"})
        with self._lock:
            given = body.get("refresh_token")
            if given not in self.refresh:
                return self._refused(str(given))
            self.issued += 1
            access = f"sim-{self.vendor}-access-{self.issued}"
            self.access[access] = self._clock() + self.lifetime
            refresh = str(given)
            if self.rotate:
                self.refresh.discard(refresh)
                refresh = f"sim-{self.vendor}-refresh-{self.issued}"
                self.refresh.add(refresh)
            answer = {"access_token": access, "token_type": "bearer",
                      "expires_in": int(self.lifetime), "refresh_token": refresh}  # fmt: skip
        return json_response(200, answer)
