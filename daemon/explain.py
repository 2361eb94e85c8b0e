"""`breakerwatch probe NAME --explain`: one probe, shown step by step.

The probe runs through a breaker restored from the daemon's saved state (read, never
written back), so "what the breaker would do" is what the running daemon's breaker would
do with this result. A failed probe ends with the verdict an alert would carry: the saved
breakers of its parents and of the egress canaries, and its vendor's status page, read now.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from alerts.verdict import judge
from alerts.verdict import line as verdict_line
from daemon.config import Config, IntegrationConfig
from daemon.integrations import Integration, build_adapter, oauth_tokens, token_store
from daemon.state import StateStore
from daemon.vendor_pages import VendorPages
from daemon.verdicts import FAILING
from probes import AttemptEvent, Breaker, BreakerSnapshot, Kind, Result, State
from probes.adapters import ClientOptions
from probes.http import new_client
from probes.outbound import Outbound
from probes.text import printable
from probes.transport import EVENTS

__all__ = ["explain"]


async def explain(config: Config, name: str, out: TextIO, *, show: bool) -> int:
    """Probe `name` once; print the result (and with `show`, every step). 0 if it succeeded."""
    chosen = next((i for i in config.integrations if i.name == name), None)
    if chosen is None:
        names = ", ".join(i.name for i in config.integrations) or "none"
        out.write(f"breakerwatch probe: no integration named {name!r} in {config.source} "
                  f"(it has: {names})\n")  # fmt: skip
        return 1
    breaker = Breaker(name, chosen.breaker)
    every = StateStore.peek(config.daemon.state_dir)
    saved = every.get(name)
    if saved is not None:
        breaker.restore(saved)
    before = (breaker.state, breaker.consecutive_failures)
    attempts: list[tuple[AttemptEvent, dict[str, float]]] = []
    marks: dict[str, float] = {}

    async def trace(event: str, info: dict[str, Any]) -> None:
        marks[event] = time.monotonic()

    def attempt(event: AttemptEvent) -> None:
        attempts.append((event, dict(marks)))
        marks.clear()

    outbound = Outbound.build(config.proxies, config.daemon.ca_file)
    options: ClientOptions = {"hooks": [attempt], "transport": outbound.transport()}
    store = token_store(config, [chosen])  # its OAuth tokens, shared with the daemon
    oauth = oauth_tokens(chosen, store, time.monotonic) if store is not None else None
    adapter = build_adapter(chosen, breaker, options, oauth)
    lines: list[str] = []
    try:
        async with adapter:
            result = await adapter.health_check(trace=trace)
    finally:
        if store is not None:
            store.close()
    if show:
        request = f"{adapter.base_url}{adapter.health_path}"
        lines.append(f"probe {name} ({chosen.kind}): {adapter.health_method} {request}")
        lines += [f"  {header}: {value}" for header, value in adapter.client.headers.items()]
        lines.append(f"  route: {outbound.proxies.route(request, chosen.proxy_url())}")
        lines.append(f"  trust: {outbound.trust()}")
        lines += [_attempt_line(event, phases) for event, phases in attempts]
    lines.append(_outcome_line(result))
    threshold = chosen.breaker.failure_threshold
    lines.append(_breaker_line(breaker, result, before, threshold, saved is not None))
    if not result.outcome.ok:
        lines.append(await _verdict(config, chosen, result, every, outbound))
    out.write("".join(printable(line) + "\n" for line in lines))  # it goes to a terminal
    return 0 if result.outcome.ok else 1


def _attempt_line(event: AttemptEvent, marks: dict[str, float]) -> str:
    phases = [
        f"{phase} {1000 * (marks[end] - marks[start]):.0f}ms"
        for phase, (start, end) in EVENTS.items()
        if start in marks and end in marks
    ]
    outcome = event.outcome
    answer = f"HTTP {outcome.status}" if outcome.status else (outcome.error or outcome.kind)
    timing = f" ({', '.join(phases)})" if phases else ""
    return f"  attempt {event.attempt}: {answer} in {1000 * event.duration:.0f}ms{timing}"


def _outcome_line(result: Result) -> str:
    outcome = result.outcome
    kind = outcome.kind.value + (f" ({outcome.reason})" if outcome.reason else "")
    detail = f": {outcome.detail}" if outcome.detail and not outcome.ok else ""
    retries = f"; {result.attempts} attempts, stopped: {result.stop}" if result.attempts > 1 else ""
    return f"outcome: {kind}{detail}{retries}"


def _breaker_line(
    breaker: Breaker, result: Result, before: tuple[State, int], threshold: int, restored: bool
) -> str:
    state, failures = breaker.state, breaker.consecutive_failures
    origin = "the daemon's saved breaker" if restored else "a fresh breaker: none is saved"
    text = f"breaker: {before[0]} -> {state} ({origin}; this run is not saved)"
    if result.rejection is not None:
        wait = result.rejection.retry_after
        when = f"; next trial in {wait:.0f}s" if wait is not None else ""
        text += f"; it is {result.rejection.reason}: no request was sent{when}"
    elif state is State.OPEN and before[0] is not State.OPEN:
        text += f"; this probe opened it: no probes for {breaker.open_remaining or 0:.0f}s"
    elif state is State.CLOSED and failures:
        text += f"; {failures} of {threshold} consecutive failures before it opens"
    elif result.outcome.kind is Kind.THROTTLED:
        text += "; throttled: not counted as a failure, probes pause for the cooldown"
    return text


async def _verdict(
    config: Config,
    chosen: IntegrationConfig,
    result: Result,
    saved: dict[str, BreakerSnapshot],
    outbound: Outbound,
) -> str:
    """The verdict an alert would carry now, from the saved breakers and the vendor's page."""

    def failing(name: str) -> bool:
        return name in saved and saved[name].state in FAILING

    reading = None
    if chosen.status_page:
        options: ClientOptions = {"transport": outbound.transport()}
        integration = Integration(chosen, Breaker(chosen.name, chosen.breaker), options,
                                  wall=time.time)  # fmt: skip
        async with new_client(outbound.transport()) as http:
            pages = VendorPages(lambda: [integration], http, clock=time.monotonic)
            await pages.read_due()
        await integration.aclose()
        reading = pages.readings.get(chosen.name)
    outcome = result.outcome
    verdict = judge(
        reason=outcome.reason.value if outcome.reason else None,
        egress=chosen.egress,
        failing_parents=[p for p in chosen.parents if failing(p)],
        failing_canaries=[c.name for c in config.integrations
                          if c.egress and c.name != chosen.name and failing(c.name)],
        page=chosen.status_page,
        vendor=reading.status if reading else None,
        problem=reading.problem if reading else None,
        children=sum(chosen.name in c.depends_on for c in config.integrations),
    )  # fmt: skip
    return f"verdict: {verdict_line(verdict)}"
