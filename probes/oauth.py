"""OAuth 2.0 access tokens that refresh themselves: an `httpx.Auth`, so any httpx client (and
`ResilientClient`) can use it.

The access token is asked of the token endpoint with the refresh token (RFC 6749, section
6: a form-encoded POST of `grant_type=refresh_token`, `refresh_token`, `client_id`,
`client_secret`), before the first call, `MARGIN` seconds before it expires, and once more
when the API answers 401 anyway (the call is then sent again, once). A refresh token the
endpoint rotates is kept and handed to `rotated`, so it survives a restart; when the
endpoint refuses ours, `stored` is asked whether another process rotated it since (and kept
the new one), and that one is tried once. One refresh at a time. A refresh token the
endpoint refuses (400 or 401) raises `CredentialRefused`, which the classifier calls `auth`
("the refresh token was refused"); any other failure of the endpoint raises
`TokenEndpointFailed`, a 5xx. Every token it learns is handed to `learned`,
so whoever redacts can redact it too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from probes.outcome import CredentialRefused, TokenEndpointFailed
from probes.text import clip, printable

__all__ = ["MARGIN", "TOKEN_CAP", "OAuthApp", "RefreshingToken"]

MARGIN = 60.0  # seconds before expiry that a token counts as expired
TOKEN_CAP = 64 * 1024  # bytes of a token endpoint's answer, at most
_DEFAULT_LIFETIME = 1800.0  # when the endpoint does not say (HubSpot's is 30 minutes)


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The app the tokens belong to, and where they are refreshed."""

    token_url: str
    client_id: str
    client_secret: str | None = None


class RefreshingToken(httpx.Auth):
    """Bearer auth with an access token refreshed from `refresh_token` (see the module)."""

    def __init__(
        self,
        app: OAuthApp,
        refresh_token: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        rotated: Callable[[str], None] = lambda token: None,
        learned: Callable[[str], None] = lambda token: None,
        stored: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.app = app
        self.refresh_token = refresh_token
        self.access: str | None = None
        self.expires_at = 0.0
        self.scopes: frozenset[str] | None = None  # as the endpoint last said, if it does
        self._http: httpx.AsyncClient | None = None
        self._clock, self._rotated, self._learned, self._stored = clock, rotated, learned, stored
        self._lock = asyncio.Lock()

    def bind(self, http: httpx.AsyncClient, learned: Callable[[str], None]) -> None:
        """Refresh through `http` (the client the calls go through: its proxy and trust),
        and tell `learned` each token as well (`ResilientClient` redacts them)."""
        told = self._learned

        def both(token: str) -> None:
            learned(token)
            told(token)

        self._http, self._learned = http, both

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            await self._refresh(request, stale=self.access)
        used = self.access
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:  # revoked early, or our clock is behind theirs
            await self._refresh(request, stale=used)
            request.headers["Authorization"] = f"Bearer {self.access}"
            yield request

    async def _refresh(self, request: httpx.Request, *, stale: str | None) -> None:
        """Ask for a new access token, unless another call already replaced `stale` (the
        one this call found wanting) while it waited its turn."""
        async with self._lock:
            if self.access != stale and self._fresh():
                return
            await self._ask(request)

    def _fresh(self) -> bool:
        return self.access is not None and self._clock() < self.expires_at - MARGIN

    async def _ask(self, request: httpx.Request) -> None:
        try:
            await self._grant(request)
        except CredentialRefused:
            latest = self._stored()  # another process may have rotated it, and kept it
            if not latest or latest == self.refresh_token:
                raise
            self._learned(latest)
            self.refresh_token = latest
            await self._grant(request)

    async def _grant(self, request: httpx.Request) -> None:
        if self._http is None:
            raise RuntimeError(
                "RefreshingToken is not bound: bind() it to the client it sends with"
            )
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "client_id": self.app.client_id}  # fmt: skip
        if self.app.client_secret:
            form["client_secret"] = self.app.client_secret
        asking = self._http.build_request(
            "POST", self.app.token_url, data=form, headers={"Accept": "application/json"},
            extensions={k: v for k, v in request.extensions.items() if k in ("timeout", "proxy")},
        )  # fmt: skip
        response = await self._http.send(asking, stream=True)
        try:
            body = await _capped(response)
        finally:
            await response.aclose()
        answer = _json(body)
        if response.status_code in (400, 401):
            said = answer.get("error_description") or answer.get("error") or answer.get("message")
            why = f": {clip(printable(str(said)), 200)}" if said else ""
            raise CredentialRefused(f"the refresh token was refused (HTTP {response.status_code}"
                                    f"{why}); authorize the app again")  # fmt: skip
        access = _first(answer, "access_token", "accessToken")
        if response.status_code != 200 or not isinstance(access, str) or not access:
            raise TokenEndpointFailed(
                f"the token endpoint answered HTTP {response.status_code} with no access token"
            )
        self._learned(access)
        lifetime = _first(answer, "expires_in", "expiresIn")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else _DEFAULT_LIFETIME
        self.access, self.expires_at = access, self._clock() + seconds
        scopes = answer.get("scopes", answer.get("scope"))
        if isinstance(scopes, str):
            scopes = scopes.split()
        if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
            self.scopes = frozenset(scopes)
        new = _first(answer, "refresh_token", "refreshToken")
        if isinstance(new, str) and new and new != self.refresh_token:
            self._learned(new)
            self.refresh_token = new
            self._rotated(new)


async def _capped(response: httpx.Response) -> bytes:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > TOKEN_CAP:
            raise TokenEndpointFailed(f"the token endpoint's answer is over {TOKEN_CAP} bytes")
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _first(answer: dict[str, Any], *keys: str) -> Any:
    """The first of `keys` present (the endpoints spell them snake_case or camelCase)."""
    return next((answer[key] for key in keys if key in answer), None)
