"""slack-sdk's retries inside one call, for both Slack sinks (the Web API and the webhook).

Its own module so that slack-sdk (4 MB and 50 ms of imports) is loaded only when Slack is
configured.
"""

from __future__ import annotations

import asyncio
import random
import time

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from alerts.sinks import retry_after

__all__ = ["IN_CALL_WAIT", "retry_handlers"]


def retry_handlers() -> list[AsyncRetryHandler]:
    """slack-sdk's own retries inside one call: only a 429 after a short Retry-After, which
    Slack refused without acting. Its retries of a dropped connection and of a 500 or 503
    would send a post again that Slack may have acted on: those are the outbox's to decide,
    after looking (docs/alerts.md)."""
    return [_RateLimitRetry(max_retry_count=1)]


IN_CALL_WAIT = 10.0  # the longest Retry-After waited out inside one call


class _RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's retry of a 429, reading Retry-After in either form (slack-sdk's own reads
    whole seconds only, and raises ValueError on an HTTP-date), and only when the wait is
    short: a longer one is the outbox's to wait, with the sink paused, not this call's."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers, time.time())
        return wait is None or wait <= IN_CALL_WAIT

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers, time.time()) if response is not None else None
        state.next_attempt_requested = True
        await asyncio.sleep((1.0 if wait is None else wait) + random.random())
        state.increment_current_attempt()
