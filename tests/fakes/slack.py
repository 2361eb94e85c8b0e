"""A loopback fake of Slack's Web API and incoming webhooks (docs/integrations.md, "Slack").

Web API (`POST /api/<method>`, and `GET` with a query string, as slack-sdk sends the read
methods): `chat.postMessage`, `chat.update`, `auth.test`, `conversations.history`,
`conversations.replies`, `conversations.list`. JSON or form bodies; `Authorization: Bearer`
(or a `token` field). Platform errors are HTTP 200
with `{"ok": false, "error": ...}`; over the per-channel rate, HTTP 429 with an integer
`Retry-After` and `{"ok": false, "error": "ratelimited"}`; 5xx faults are Slack's HTML page.
Incoming webhooks (`POST /services/T/B/SECRET`): JSON only, HTTP 200 with the plain-text body
`ok`; errors are a status and a short plain-text body; 429 has `Retry-After: 1` and no body.

`conversations.history` (https://docs.slack.dev/reference/methods/conversations.history):
a channel ID (not a name), the channel's top-level messages newest first, strictly between
`oldest` and `latest` (`inclusive` to include them), `limit` per page (default 100, at most
999; non-Marketplace commercially distributed apps get 15, which breakerwatch, an internal
app, is not), `has_more` and `response_metadata.next_cursor` for the next page; a message's
`metadata` only with `include_all_metadata`. A token without `channels:history` gets
`missing_scope` (with `needed` and `provided`), a channel the bot is not in
`not_in_channel`.

`conversations.replies` (https://docs.slack.dev/reference/methods/conversations.replies): a
channel ID and the `ts` of an existing message (else `thread_not_found`); the parent first,
then its replies oldest first, within `oldest`/`latest`, paged the same way, metadata only
with `include_all_metadata`; the same scope and membership as the history. Slack's page says
bot tokens "lack sufficient permissions" for it in channels, yet bots with
`channels:history` read channel threads with it in practice (docs/integrations.md):
`replies_scope=False` makes it answer `missing_scope`, the case breakerwatch must survive.
`conversations.list` (https://docs.slack.dev/reference/methods/conversations.list): `types`
(default `public_channel`), `exclude_archived`, `limit` (at most 1000) and a cursor; each
channel as `{"id", "name", "is_archived", "is_private", "is_member"}`, the name without `#`;
`channels:read` (`list_scope=False`: `missing_scope`).
`chat.update` (https://docs.slack.dev/reference/methods/chat.update) keeps a message's
`metadata` when none is given and replaces it when one is.

Faults are switched from the test (`fake.mode = "down"`, `fake.fail_next(...)`). `hold`
acts on a request and answers only when released: the window between Slack's receipt and
the client's acknowledgement, where a crash can double a post. `stall` hangs without acting
until released, then answers 503: Slack down the slow way. Three modes act and then let the
client down, so it cannot know the post happened: `acted_disconnect` drops the connection,
`acted_stall` answers only when released (past the client's timeout), `acted_5xx` answers
Slack's 503 page.
Every request is recorded with its arrival time; messages are kept per channel, with their
edits and thread replies.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FakeSlack", "Message", "Received"]

SERVER_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Server Error | Slack</title></head>"
    b"<body><h1>Server Error</h1><p>It seems like there's a problem on our end.</p>"
    b"</body></html>"
)
MODES = ("healthy", "down", "ratelimited", "fatal_error", "disconnect", "hold", "stall",
         "acted_disconnect", "acted_stall", "acted_5xx")  # fmt: skip
_ACTED = ("hold", "acted_disconnect", "acted_stall", "acted_5xx")  # act, then answer (or not)
HISTORY_LIMIT = 999
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain;charset=utf-8"


@dataclass
class Received:
    """One request as the fake saw it."""

    at: float  # time.time() on arrival
    method: str  # API method ("chat.postMessage") or "webhook"
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]


@dataclass
class Message:
    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: Any = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier versions, oldest first
    posted_at: float = 0.0
    attachments: list[Any] | None = None  # legacy attachments (Alertmanager's Slack receiver)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeSlack:
    """`with FakeSlack() as slack:`; `slack.api_url` is the Web API base URL (ends in /api/)."""

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = ("xoxb-test-token",),
        channels: tuple[str, ...] = ("#integrations",),
        not_member: tuple[str, ...] = (),
        archived: tuple[str, ...] = (),
        history_scope: bool = True,
        replies_scope: bool = True,
        list_scope: bool = True,
        private: tuple[str, ...] = (),
        webhooks: dict[str, str] | None = None,
        rate: float = 1.0,
        burst: int = 10,
    ) -> None:
        self.tokens = set(tokens)
        self.channels = {name: f"C{i:08d}" for i, name in enumerate(channels, 1)}
        self.not_member = set(not_member)
        self.archived = set(archived)
        self.history_scope = history_scope  # channels:history (and groups:history) granted
        self.replies_scope = replies_scope  # conversations.replies answers a bot token
        self.list_scope = list_scope  # channels:read (and groups:read) granted
        self.private = set(private)  # private channels (groups:history, groups:read)
        # webhook path secret -> channel
        self.webhooks = dict(webhooks or {"T000/B000/hooksecret": "#integrations"})
        self.revoked_hooks: set[str] = set()
        self.rate, self.burst = rate, burst
        self.mode = "healthy"
        self.retry_after = 1
        self._faults: deque[str] = deque()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._seq = 0
        self.requests: list[Received] = []
        self.messages: list[Message] = []
        self.held = 0
        self.in_flight = 0  # requests being handled now
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life cycle and addresses --------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def webhook_url(self, secret: str = "T000/B000/hooksecret") -> str:
        return f"{self.url}/services/{secret}"

    # -- faults --------------------------------------------------------------------------

    def fail_next(self, *modes: str) -> None:
        """The next requests answer with these modes, one each, then `mode` again."""
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self._faults.extend(modes)

    def release(self) -> None:
        """Let every held request (mode "hold") be answered."""
        self._release.set()

    def rearm(self) -> None:
        """After a `release`, hold the requests to come again."""
        self._release = threading.Event()

    def settle(self, within: float = 10.0) -> None:
        """Wait until every request received has been handled (acted on, or not): what a
        client's settle time gives a slow Slack before the client looks."""
        deadline = time.monotonic() + within
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)

    def _started(self, change: int) -> None:
        with self._lock:
            self.in_flight += change

    def _next_mode(self) -> str:
        with self._lock:
            return self._faults.popleft() if self._faults else self.mode

    def _rate_limited(self, key: str) -> bool:
        """A token bucket per channel (or webhook): `rate` a second, `burst` at once."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return True
            self._buckets[key] = (tokens - 1, now)
            return False

    # -- what tests read -----------------------------------------------------------------

    def calls(self, method: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def top_level(self, channel: str = "#integrations") -> list[Message]:
        """Channel messages that are not thread replies (what an on-call sees in the channel)."""
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.thread_ts == ts]

    def texts(self) -> list[str]:
        """Every text the fake was sent, edits included (to search for what must not leak)."""
        with self._lock:
            return [r.body.decode("utf-8", "replace") for r in self.requests]

    # -- the API -------------------------------------------------------------------------

    def _record(self, method: str, headers: dict[str, str], body: bytes, payload: Any) -> None:
        with self._lock:
            self.requests.append(Received(time.time(), method, headers, body, payload))

    def _ts(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{int(time.time())}.{self._seq:06d}"

    def web_api(
        self, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        payload = _payload(headers, body)
        self._record(method, headers, body, payload if isinstance(payload, dict) else {})
        mode = self._next_mode()
        fault = self._fault(mode, api=True)
        if fault is not None:
            return fault
        return self._held(mode, self._web_api(method, headers, payload))

    def _web_api(
        self, method: str, headers: dict[str, str], payload: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], bytes]:
        if payload is None:
            return _ok_false("invalid_form_data")
        token = _bearer(headers) or payload.get("token")
        if not token:
            return _ok_false("not_authed")
        if token not in self.tokens:
            return _ok_false("invalid_auth")
        if method == "auth.test":
            return _ok({"url": "https://fake.slack.com/", "team": "Fake", "user": "breakerwatch",
                        "team_id": "T000", "user_id": "U000", "bot_id": "B000"})  # fmt: skip
        if method == "chat.postMessage":
            return self._post(payload)
        if method == "chat.update":
            return self._update(payload)
        if method == "conversations.history":
            return self._history(payload)
        if method == "conversations.replies":
            return self._replies(payload)
        if method == "conversations.list":
            return self._list(payload)
        return _ok_false("unknown_method")

    def _channel(
        self, payload: dict[str, Any]
    ) -> tuple[str | None, tuple[int, dict[str, str], bytes] | None]:
        name = payload.get("channel")
        if not name:
            return None, _ok_false("channel_not_found")
        known = {**self.channels, **{v: v for v in self.channels.values()}}
        if name not in known:
            return None, _ok_false("channel_not_found")
        canonical = next(k for k, v in self.channels.items() if name in (k, v))
        if canonical in self.archived:
            return None, _ok_false("is_archived")
        if canonical in self.not_member:
            return None, _ok_false("not_in_channel")
        return canonical, None

    def _post(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        channel, error = self._channel(payload)
        if error is not None or channel is None:
            return error or _ok_false("channel_not_found")
        text, blocks = payload.get("text"), payload.get("blocks")
        if not text and not blocks and not payload.get("attachments"):
            return _ok_false("no_text")
        if blocks is not None and not _valid_blocks(blocks):
            return _ok_false("invalid_blocks")
        if self._rate_limited(channel):
            return _ratelimited(self.retry_after)
        thread_ts = payload.get("thread_ts")
        if thread_ts is not None and not any(m.ts == thread_ts for m in self.messages):
            return _ok_false("thread_not_found")
        metadata = _metadata(payload.get("metadata"))
        if metadata is _INVALID:
            return _ok_false("invalid_metadata_format")
        ts = self._ts()
        message = Message(
            channel, ts, text, blocks, thread_ts, bool(payload.get("reply_broadcast")),
            metadata, posted_at=time.time(),
        )  # fmt: skip
        with self._lock:
            self.messages.append(message)
        body = {"channel": self.channels[channel], "ts": ts, "message": _message_json(message)}
        return _ok(body)

    def _readable(
        self, payload: dict[str, Any], granted: bool
    ) -> tuple[str, None] | tuple[None, tuple[int, dict[str, str], bytes]]:
        """The channel (by name) whose messages a read method may return, or its error."""
        if not granted:
            private = payload.get("channel") in {self.channels[c] for c in self.private}
            needed = "groups:history" if private else "channels:history"
            body = {"ok": False, "error": "missing_scope", "needed": needed,
                    "provided": "chat:write"}  # fmt: skip
            return None, (200, {"Content-Type": _JSON}, json.dumps(body).encode())
        channel_id = payload.get("channel")
        channel = next((name for name, cid in self.channels.items() if cid == channel_id), None)
        if channel is None:
            return None, _ok_false("channel_not_found")
        if channel in self.not_member:
            return None, _ok_false("not_in_channel")
        return channel, None

    def _history(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        channel, error = self._readable(payload, self.history_scope)
        if error is not None:
            return error
        with self._lock:
            found = [m for m in self.messages if m.channel == channel
                     and (m.thread_ts is None or m.reply_broadcast)]  # fmt: skip
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page(payload, found, "messages")

    def _replies(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        channel, error = self._readable(payload, self.history_scope and self.replies_scope)
        if error is not None:
            return error
        ts = payload.get("ts")
        with self._lock:
            parent = next((m for m in self.messages if m.ts == ts and m.channel == channel), None)
            thread = [m for m in self.messages if m.thread_ts == ts and m.channel == channel]
        if parent is None:
            return _ok_false("thread_not_found")
        thread.sort(key=lambda m: float(m.ts))
        return self._page(payload, [parent, *thread], "messages")

    def _page(
        self, payload: dict[str, Any], found: list[Message], key: str
    ) -> tuple[int, dict[str, str], bytes]:
        """One page of `found` within `oldest`/`latest`, with a cursor to the next."""
        try:
            oldest = float(payload.get("oldest") or 0)
            latest = float(payload.get("latest") or time.time() + 1)
            limit = min(int(payload.get("limit") or 100), HISTORY_LIMIT)
            start = int(payload.get("cursor") or "0")
        except ValueError:
            return _ok_false("invalid_arguments")
        inclusive = _true(payload.get("inclusive"))
        metadata = _true(payload.get("include_all_metadata"))
        found = [m for m in found if (oldest <= float(m.ts) <= latest if inclusive
                                      else oldest < float(m.ts) < latest)]  # fmt: skip
        page = found[start : start + limit]
        more = start + limit < len(found)
        messages = [{**_message_json(m), **({"metadata": m.metadata} if metadata and m.metadata
                                             else {})} for m in page]  # fmt: skip
        cursor = str(start + limit) if more else ""
        return _ok({key: messages, "has_more": more, "pin_count": 0,
                    "response_metadata": {"next_cursor": cursor}})  # fmt: skip

    def _list(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if not self.list_scope:
            body = {"ok": False, "error": "missing_scope", "needed": "channels:read",
                    "provided": "chat:write"}  # fmt: skip
            return 200, {"Content-Type": _JSON}, json.dumps(body).encode()
        types = str(payload.get("types") or "public_channel").split(",")
        try:
            limit = min(int(payload.get("limit") or 100), 1000)
            start = int(payload.get("cursor") or "0")
        except ValueError:
            return _ok_false("invalid_arguments")
        listed = [
            {"id": cid, "name": name.lstrip("#"), "is_archived": name in self.archived,
             "is_private": name in self.private, "is_member": name not in self.not_member}
            for name, cid in self.channels.items()
            if ("private_channel" if name in self.private else "public_channel") in types
            and not (_true(payload.get("exclude_archived")) and name in self.archived)
        ]  # fmt: skip
        page = listed[start : start + limit]
        cursor = str(start + limit) if start + limit < len(listed) else ""
        return _ok({"channels": page, "response_metadata": {"next_cursor": cursor}})

    def _update(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        channel, error = self._channel(payload)
        if error is not None or channel is None:
            return error or _ok_false("channel_not_found")
        ts = payload.get("ts")
        with self._lock:
            found = next((m for m in self.messages if m.ts == ts and m.channel == channel), None)
        if found is None:
            return _ok_false("message_not_found")
        blocks = payload.get("blocks")
        if blocks is not None and not _valid_blocks(blocks):
            return _ok_false("invalid_blocks")
        metadata = _metadata(payload.get("metadata"))
        if metadata is _INVALID:
            return _ok_false("invalid_metadata_format")
        with self._lock:
            found.edits.append({"text": found.text, "blocks": found.blocks})
            found.text = payload.get("text", found.text)
            found.blocks = blocks if blocks is not None else found.blocks
            found.metadata = found.metadata if metadata is None else metadata
        return _ok({"channel": self.channels[channel], "ts": ts, "text": found.text,
                    "message": _message_json(found)})  # fmt: skip

    def webhook(
        self, secret: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            payload = json.loads(body) if "json" in headers.get("content-type", "") else None
        except ValueError:
            payload = None
        self._record("webhook", headers, body, payload if isinstance(payload, dict) else {})
        mode = self._next_mode()
        fault = self._fault(mode, api=False)
        if fault is not None:
            return fault
        return self._held(mode, self._webhook(secret, payload))

    def _webhook(self, secret: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
        channel = self.webhooks.get(secret)
        if channel is None or secret in self.revoked_hooks:
            return 404, {"Content-Type": _TEXT}, b"no_service"
        if not isinstance(payload, dict):
            return 400, {"Content-Type": _TEXT}, b"invalid_payload"
        if channel in self.archived:
            return 410, {"Content-Type": _TEXT}, b"channel_is_archived"
        attachments = payload.get("attachments")
        if isinstance(attachments, list) and len(attachments) > 100:
            return 400, {"Content-Type": _TEXT}, b"too_many_attachments"
        said = attachments is not None and _says_something(attachments)
        if not payload.get("text") and not payload.get("blocks") and not said:
            return 400, {"Content-Type": _TEXT}, b"missing_text_or_fallback_or_attachments"
        if payload.get("blocks") is not None and not _valid_blocks(payload["blocks"]):
            return 400, {"Content-Type": _TEXT}, b"invalid_blocks"
        if self._rate_limited("hook:" + secret):
            return 429, {"Retry-After": "1"}, b""
        message = Message(channel, self._ts(), payload.get("text"), payload.get("blocks"),
                          posted_at=time.time(), attachments=attachments)  # fmt: skip
        with self._lock:
            self.messages.append(message)
        return 200, {"Content-Type": _TEXT}, b"ok"

    def _held(
        self, mode: str, answer: tuple[int, dict[str, str], bytes]
    ) -> tuple[int, dict[str, str], bytes]:
        """The request has been acted on (as Slack would); in "hold" and "acted_stall" the
        answer waits for the release, in "acted_disconnect" there is none, in "acted_5xx" it
        is Slack's 503 page."""
        if mode in ("hold", "acted_stall"):
            with self._lock:
                self.held += 1
            self._release.wait()
        if mode == "acted_disconnect":
            return -1, {}, b""
        if mode == "acted_5xx":
            return 503, {"Content-Type": "text/html; charset=utf-8"}, SERVER_ERROR_PAGE
        return answer

    def _fault(self, mode: str, *, api: bool) -> tuple[int, dict[str, str], bytes] | None:
        if mode == "healthy" or mode in _ACTED:
            return None
        if mode == "stall":  # hangs without acting, then fails: Slack down, the slow way
            self._release.wait()
            mode = "down"
        if mode == "down":
            return 503, {"Content-Type": "text/html; charset=utf-8"}, SERVER_ERROR_PAGE
        if mode == "ratelimited":
            if api:
                return _ratelimited(self.retry_after)
            return 429, {"Retry-After": str(self.retry_after)}, b""
        if mode == "fatal_error":
            return (
                _ok_false("fatal_error") if api else (500, {"Content-Type": _TEXT}, b"rollup_error")
            )
        return -1, {}, b""  # disconnect: the handler closes the socket without an answer


def _payload(headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    kind = headers.get("content-type", "")
    try:
        if "json" in kind:
            data = json.loads(body or b"{}")
            return data if isinstance(data, dict) else None
        fields: dict[str, Any] = dict(parse_qsl(body.decode()))
        if isinstance(fields.get("blocks"), str):
            fields["blocks"] = json.loads(fields["blocks"])
        return fields
    except (ValueError, UnicodeDecodeError):
        return None


_INVALID = object()


def _metadata(value: Any) -> Any:
    """A message's `metadata` as given (a form body carries it as JSON text); `_INVALID` if
    it is not an object with an `event_type`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _INVALID
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
        return _INVALID
    return value


def _true(value: Any) -> bool:
    return str(value or "").lower() in ("1", "true")


def _says_something(attachments: Any) -> bool:
    """Attachments, each a table with a fallback, text, a title or fields."""
    return (
        isinstance(attachments, list)
        and len(attachments) > 0
        and all(
            isinstance(a, dict) and any(a.get(k) for k in ("fallback", "text", "title", "fields"))
            for a in attachments
        )
    )


def _valid_blocks(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return False
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text", ""))) > 3000:
            return False
    return True


def _message_json(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "message", "subtype": "bot_message", "bot_id": "B000",
                            "text": message.text or "", "ts": message.ts}  # fmt: skip
    if message.blocks is not None:
        data["blocks"] = message.blocks
    if message.thread_ts is not None:
        data["thread_ts"] = message.thread_ts
    return data


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


def _ok(fields: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": _JSON}, json.dumps({"ok": True, **fields}).encode()


def _ok_false(error: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": _JSON}, json.dumps({"ok": False, "error": error}).encode()


def _ratelimited(seconds: int) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
    return 429, {"Content-Type": _JSON, "Retry-After": str(seconds)}, body


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._counted(self._get)

        def do_POST(self) -> None:
            self._counted(self._post)

        def _counted(self, handle: Callable[[], None]) -> None:
            """`handle` the request received, counted in `in_flight` until it is answered."""
            fake._started(1)
            try:
                handle()
            finally:
                fake._started(-1)

        def _get(self) -> None:
            path, _, query = self.path.partition("?")
            if not path.startswith("/api/"):
                self._answer((404, {"Content-Type": _TEXT}, b"not found"))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["content-type"] = "application/x-www-form-urlencoded"  # the query's fields
            self._answer(fake.web_api(path[len("/api/") :], headers, query.encode()))

        def _post(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            if path.startswith("/api/"):
                answer = fake.web_api(path[len("/api/") :], headers, body)
            elif path.startswith("/services/"):
                answer = fake.webhook(path[len("/services/") :], headers, body)
            else:
                answer = 404, {"Content-Type": _TEXT}, b"not found"
            self._answer(answer)

        def _answer(self, answer: tuple[int, dict[str, str], bytes]) -> None:
            status, reply_headers, reply = answer
            if status < 0:  # disconnect before any answer
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler
