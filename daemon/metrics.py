"""The Prometheus exposition (docs/metrics.md), rendered straight from compact state.

One `ProbeStats` per integration holds its counters and its latency histogram; the
breaker's own state supplies the breaker gauges. `render` writes the text format directly
(one pre-built label string per integration), because a labelled child object per series
costs seconds and hundreds of megabytes at 10,000 integrations. prometheus_client still
provides the process, platform and GC collectors and `breakerwatch_build_info`, on a
private registry.

Series that exist from start-up: every breaker state (one-hot), the automatic transitions,
the probe counters and histogram, every failure reason (at 0, so `increase()` sees the
first failure). Series that appear when they mean something: `open_until` while open, the
last success time after the first success, the last HTTP status after the first probe,
rate-limit headroom where the vendor reports it.
"""

from __future__ import annotations

import platform
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import islice
from types import MappingProxyType
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Info, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from alerts.sinks import LOOKUPS, FailureReason, SinkStats
from daemon.degraded import Detector
from daemon.recent import LatencyDay
from probes import Breaker, Kind, Reason, Result, State, Transition
from probes.outcome import LOCAL_CODES
from probes.statuspage import INDICATORS

__all__ = [
    "BUCKETS",
    "CONTENT_TYPE",
    "DaemonStats",
    "HttpStats",
    "ProbeStats",
    "Row",
    "accepts_gzip",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (RFC 9110, 12.5.3): listed, or
    covered by `*`, with a q-value above 0."""
    weights: dict[str, float] = {}
    for item in (header or "").split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


Histogram = tuple[tuple[int, ...], float]  # (cumulative counts, the last one +Inf; sum)
_LE: dict[tuple[float, ...], tuple[str, ...]] = {
    buckets: (*map(repr, buckets), "+Inf") for buckets in (BUCKETS, DELAY_BUCKETS)
}


_EMPTY: dict[tuple[float, ...], Histogram] = {
    buckets: ((0,) * (len(buckets) + 1), 0.0) for buckets in (BUCKETS, DELAY_BUCKETS)
}


def empty(buckets: tuple[float, ...]) -> Histogram:
    return _EMPTY[buckets]  # immutable, so every integration can start from the same one


def observe(histogram: Histogram, buckets: tuple[float, ...], value: float) -> Histogram:
    """`histogram` with `value` counted: a new pair, so a reader in another thread sees it whole."""
    counts, total = histogram
    bounds = (*buckets, float("inf"))
    return tuple(c + (value <= b) for c, b in zip(counts, bounds, strict=True)), total + value


_REASONS = tuple(Reason)
_OVERRIDES = (State.FORCED_OPEN, State.DISABLED)
# Why the HTTP server refused a request (daemon.access and daemon.server).
_REFUSALS = ("misdirected", "too_large", "unauthorized", "cross_site", "content_type",
             "no_admin_token")  # fmt: skip
_REASON_INDEX = {reason: i for i, reason in enumerate(_REASONS)}
Number = float | int | None
_AUTOMATIC = (
    (State.CLOSED, State.OPEN),
    (State.OPEN, State.HALF_OPEN),
    (State.HALF_OPEN, State.OPEN),
    (State.HALF_OPEN, State.CLOSED),
)
# Every integration starts from this one (224 bytes; 2 MB at 10,000): a transition replaces it.
_NO_TRANSITIONS: Mapping[tuple[State, State], int] = MappingProxyType(dict.fromkeys(_AUTOMATIC, 0))


class ProbeStats:
    """One integration's counters, written by the event loop and read by scrapes.

    Every field is replaced by a single assignment, so a scrape from another thread sees
    each value whole; the histogram is one (cumulative bucket counts, sum) pair for that reason.
    """

    __slots__ = (
        "day", "failures", "histogram", "last_duration", "last_success_at", "last_transition_at",
        "missed", "probes", "rate_limit_remaining", "rejected", "retries", "status", "success",
        "throttled", "throttled_since", "tls_expiry", "transitions",
    )  # fmt: skip

    def __init__(self) -> None:
        self.probes = self.rejected = self.throttled = self.retries = self.missed = 0
        self.failures: tuple[int, ...] = (0,) * len(_REASONS)
        self.histogram = empty(BUCKETS)
        self.last_duration: float | None = None
        self.success: int | None = None
        self.status: int | None = None  # the last probe's HTTP status; 0: no answer
        self.last_success_at: float | None = None
        self.last_transition_at: float | None = None
        self.rate_limit_remaining: int | None = None
        self.throttled_since: float | None = None  # throttled since, with nothing else between
        self.tls_expiry: float | None = None
        self.transitions = _NO_TRANSITIONS
        self.day = LatencyDay()  # the last day's latencies, for the status page

    def observe(self, result: Result, now: float) -> None:
        """Count one probe's result (`now`: wall-clock time it finished)."""
        outcome = result.outcome
        if outcome.kind is Kind.REJECTED:
            self.rejected += 1
            return
        if outcome.kind is Kind.LOCAL:  # not a probe of the vendor: the daemon counts it
            return
        self.probes += 1
        self.status = outcome.status or 0
        self.retries += max(0, result.attempts - 1)
        if outcome.kind is Kind.THROTTLED:
            self.throttled_since = self.throttled_since or now
        elif outcome.kind in (Kind.SUCCESS, Kind.FAILURE):
            self.throttled_since = None
        if outcome.kind is Kind.SUCCESS:
            self.success = 1
            self.last_success_at = now
        else:
            self.success = 0
            if outcome.kind is Kind.THROTTLED:
                self.throttled += 1
            elif outcome.kind is Kind.FAILURE and outcome.reason is not None:
                failures = list(self.failures)
                failures[_REASON_INDEX[outcome.reason]] += 1
                self.failures = tuple(failures)
        self._time(result.duration)
        self.day.observe(now, result.duration, ok=outcome.kind is Kind.SUCCESS)

    def _time(self, seconds: float) -> None:
        self.histogram = observe(self.histogram, BUCKETS, seconds)  # one assignment
        self.last_duration = seconds

    def transition(self, event: Transition) -> None:
        key = (event.from_state, event.to_state)
        self.transitions = {**self.transitions, key: self.transitions.get(key, 0) + 1}
        self.last_transition_at = event.at


@dataclass
class DaemonStats:
    """Daemon-wide values: the reload status (the Prometheus/Alertmanager convention), how
    late probes start against their schedule (is the daemon keeping up?), and the probes
    that failed for want of our own resources (is it us?)."""

    reload_successful: int = 1
    reload_success_at: float = 0.0
    state_persisted: int = 1
    start_delay: Histogram = field(default_factory=lambda: empty(DELAY_BUCKETS))
    local_trouble: int = 0
    local_failures: dict[str, int] = field(default_factory=dict)  # by errno name

    def started(self, delay: float) -> None:
        self.start_delay = observe(self.start_delay, DELAY_BUCKETS, delay)

    def failed_locally(self, code: str) -> None:
        self.local_failures = {**self.local_failures, code: self.local_failures.get(code, 0) + 1}


@dataclass
class HttpStats:
    """The HTTP server's own numbers (written and read on the server's thread)."""

    limit: int  # the most connections open at once
    open: int = 0
    evicted: int = 0  # idle connections closed to make room at the limit
    refused: dict[str, int] = field(default_factory=dict)  # requests refused, by reason

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


@dataclass(frozen=True, slots=True)
class Row:
    """What the exposition needs of one integration."""

    name: str
    breaker: Breaker
    stats: ProbeStats
    latency: Detector | None = None
    label: str = field(init=False)

    def __post_init__(self) -> None:  # names are [a-z0-9_-]: no escaping needed
        object.__setattr__(self, "label", f'integration="{self.name}"')


class CanaryNumbers(NamedTuple):
    """One integration's canary writes, for the exposition."""

    state: State  # of the canary's own breaker
    successes: int
    failures: int
    rejected: int
    last_duration: float | None
    last_success_at: float | None


def process_registry(shard: str = "0/1") -> CollectorRegistry:
    """The standard process, platform and GC collectors, and build info (with the replica's
    shard: "0/1" when it probes everything), on a private registry."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    info = Info("breakerwatch_build", "breakerwatch version", registry=registry)
    info.info(
        {
            "version": version("breakerwatch"),
            "python_version": platform.python_version(),
            "shard": shard,
        }
    )
    return registry


_Gauge = Callable[[Row], Number]
_Counter = Callable[[ProbeStats], int]

# (name, help, value) for the one-series-per-integration families, in exposition order.
_BREAKER_GAUGES: tuple[tuple[str, str, _Gauge], ...] = (
    ("breakerwatch_breaker_last_transition_timestamp_seconds",
     "Unix time of the last transition.", lambda r: r.breaker.since),
    ("breakerwatch_breaker_consecutive_failures",
     "Consecutive failed probes.", lambda r: r.breaker.consecutive_failures),
    ("breakerwatch_breaker_failure_rate",
     "Failure rate over the breaker's window, 0 to 1.", lambda r: r.breaker.failure_rate),
    ("breakerwatch_integration_degraded",
     "1 while the integration is slow but working (degraded), else 0.",
     lambda r: None if r.latency is None else int(r.latency.degraded)),
    ("breakerwatch_latency_baseline_seconds",
     "The integration's usual probe latency, learned (absent while warming up) or pinned.",
     lambda r: None if r.latency is None else r.latency.baseline),
    ("breakerwatch_latency_recent_p95_seconds",
     "The 95th percentile of the last 20 successful probes' latency.",
     lambda r: None if r.latency is None else r.latency.p95),
)  # fmt: skip
_COUNTERS: tuple[tuple[str, str, _Counter], ...] = (
    ("breakerwatch_probes_total", "Probes sent.", lambda s: s.probes),
    ("breakerwatch_probes_rejected_total",
     "Probes not sent: the breaker was open or cooling down.", lambda s: s.rejected),
    ("breakerwatch_probes_throttled_total",
     "Probes the vendor throttled (429).", lambda s: s.throttled),
    ("breakerwatch_probes_missed_total",
     "Scheduled probes that did not run on time.", lambda s: s.missed),
    ("breakerwatch_retries_total", "Retry attempts.", lambda s: s.retries),
)  # fmt: skip
_PROBE_GAUGES: tuple[tuple[str, str, _Gauge], ...] = (
    ("breakerwatch_probe_last_duration_seconds",
     "Duration of the last probe.", lambda r: r.stats.last_duration),
    ("breakerwatch_probe_success",
     "1 if the last probe succeeded, else 0.", lambda r: r.stats.success),
    ("breakerwatch_probe_http_status_code",
     "HTTP status of the last probe's answer; 0 when none came.", lambda r: r.stats.status),
    ("breakerwatch_probe_last_success_timestamp_seconds",
     "Unix time of the last successful probe.", lambda r: r.stats.last_success_at),
    ("breakerwatch_rate_limit_remaining",
     "Requests left before the vendor throttles, where it says.",
     lambda r: r.stats.rate_limit_remaining),
    ("breakerwatch_tls_certificate_expiry_timestamp_seconds",
     "Unix time the server certificate expires (http probes over TLS).",
     lambda r: r.stats.tls_expiry),
)  # fmt: skip


# The families with several lines per integration, as one template each: the lines of one
# integration are one %-format and one replace of _LABEL by its label (at 10,000
# integrations, a line at a time took most of the page's 0.7 s).
_LABEL = "\x00"  # never in a label: names are [a-z0-9_-]
_ONE_HOT = {
    current: "".join(f'breakerwatch_breaker_state{{{_LABEL},state="{state.value}"}} '
                     f"{1 if state is current else 0}\n" for state in State)
    for current in State
}  # fmt: skip
_FAILURES = "".join(f'breakerwatch_probe_failures_total{{{_LABEL},reason="{reason.value}"}} %d\n'
                    for reason in _REASONS)  # fmt: skip
_DURATIONS = "".join(
    f'breakerwatch_probe_duration_seconds_bucket{{{_LABEL},le="{bound}"}} %d\n'
    for bound in _LE[BUCKETS]
) + (f"breakerwatch_probe_duration_seconds_sum{{{_LABEL}}} %r\n"
     f"breakerwatch_probe_duration_seconds_count{{{_LABEL}}} %d\n")  # fmt: skip


def render(
    rows: Iterable[Row],
    daemon: DaemonStats,
    standard: CollectorRegistry,
    now: float,
    sinks: Mapping[str, SinkStats] | None = None,
    http: HttpStats | None = None,
    vendor: Mapping[str, tuple[str, int]] | None = None,
    scopes: Mapping[str, int] | None = None,
    canaries: Mapping[str, CanaryNumbers] | None = None,
    *,
    gzipped: bool = False,
) -> Iterator[bytes]:
    """The whole /metrics page, gzipped (level 1) if asked (`now`: wall-clock time, for the
    open-until timestamps;
    `sinks`: the alert sinks' counters, by channel; `http`: the HTTP server's; `vendor`:
    per integration with a status page, its indicator and unresolved vendor incidents;
    `scopes`: per integration whose scopes were told, how many its credential lacks;
    `canaries`: per integration with canary writes, how they go), in pieces, each made as
    the one before is sent. A piece is 64 KiB of text, encoded (and compressed) as it
    comes: at 10,000 integrations the page is 29 MB; as one list of its 366,000 lines it
    took some 50 MB more at its peak, joined into one body 29 MB more again, and as all
    its pieces at once (built before the first was sent) 16 MB more."""
    rows = list(rows)
    out = _Page(gzipped)
    _head(
        out, "breakerwatch_breaker_state", "gauge", "Breaker state, one-hot: 1 for the current one."
    )
    yield from out.extend(_ONE_HOT[row.breaker.state].replace(_LABEL, row.label) for row in rows)
    _head(out, "breakerwatch_breaker_transitions_total", "counter", "Breaker transitions.")
    for row in rows:
        for (before, after), count in row.stats.transitions.items():
            labels = f'{row.label},from_state="{before.value}",to_state="{after.value}"'
            out.append(f"breakerwatch_breaker_transitions_total{{{labels}}} {count}\n")
    yield from out.ready()
    for name, help_text, gauge in _BREAKER_GAUGES:
        yield from _gauge(out, rows, name, help_text, gauge)
    yield from _gauge(
        out, rows, "breakerwatch_breaker_open_until_timestamp_seconds",
        "Unix time the open period ends (while open).",
        lambda r: None if (left := r.breaker.open_remaining) is None else now + left,
    )  # fmt: skip
    name = "breakerwatch_breaker_override_since_timestamp_seconds"
    _head(out, name, "gauge", "Unix time an operator forced the breaker open or disabled it "
          "(while it is held so).")  # fmt: skip
    for row in rows:
        held = row.breaker.state
        if held in _OVERRIDES:
            out.append(f'{name}{{{row.label},mode="{held.value}"}} {row.breaker.since!r}\n')
    for name, help_text, counter in _COUNTERS:
        _head(out, name, "counter", help_text)
        yield from out.extend(f"{name}{{{row.label}}} {counter(row.stats)}\n" for row in rows)
    _head(out, "breakerwatch_probe_failures_total", "counter", "Failed probes, by reason.")
    # every reason from the start, so increase() sees the first failure
    failures = ((_FAILURES % row.stats.failures).replace(_LABEL, row.label) for row in rows)
    yield from out.extend(failures)
    name = "breakerwatch_probe_duration_seconds"
    _head(out, name, "histogram", "Probe duration, retries included.")
    yield from out.extend((_DURATIONS % (*row.stats.histogram[0], row.stats.histogram[1],
                                         row.stats.histogram[0][-1])).replace(_LABEL, row.label)
                          for row in rows)  # fmt: skip
    for name, help_text, gauge in _PROBE_GAUGES:
        yield from _gauge(out, rows, name, help_text, gauge)
    _head(out, "breakerwatch_config_last_reload_successful", "gauge",
          "1 if the last configuration load succeeded.")  # fmt: skip
    out.append(f"breakerwatch_config_last_reload_successful {daemon.reload_successful}\n")
    name = "breakerwatch_config_last_reload_success_timestamp_seconds"
    _head(out, name, "gauge", "Unix time of the last successful configuration load.")
    out.append(f"{name} {daemon.reload_success_at!r}\n")
    _head(out, "breakerwatch_state_persisted", "gauge",
          "1 while the state is written to its file; 0 when kept in memory only.")  # fmt: skip
    out.append(f"breakerwatch_state_persisted {daemon.state_persisted}\n")
    name = "breakerwatch_probe_start_delay_seconds"
    _head(out, name, "histogram", "How late probes start after their scheduled time.")
    _histogram(out, name, "", "", DELAY_BUCKETS, daemon.start_delay)
    _head(out, "breakerwatch_local_trouble", "gauge",
          "1 while probes fail for want of breakerwatch's own resources (file descriptors, "
          "ports, memory).")  # fmt: skip
    out.append(f"breakerwatch_local_trouble {daemon.local_trouble}\n")
    name = "breakerwatch_local_failures_total"
    _head(out, name, "counter", "Probes that failed for want of our own resources, by errno.")
    for code in sorted({*LOCAL_CODES, *daemon.local_failures}):
        out.append(f'{name}{{reason="{code}"}} {daemon.local_failures.get(code, 0)}\n')
    if http is not None:
        _http(out, http)
    if sinks:
        _notifications(out, sinks)
    if vendor:
        _vendor(out, vendor)
    if canaries:
        _canaries(out, canaries)
    if scopes:
        name = "breakerwatch_credential_scopes_missing"
        _head(out, name, "gauge", "Scopes the credential lacks of those its writes need (absent "
              "until the vendor has told).")  # fmt: skip
        yield from out.extend(
            f'{name}{{integration="{n}"}} {count}\n' for n, count in sorted(scopes.items())
        )
    yield from out.finish(generate_latest(standard))


class _Page:
    """Lines in; every `PIECE` characters or so joined, encoded and (if `gzipped`)
    compressed; the page comes out as those pieces, never joined into one, each handed
    out (by `extend`, `ready` and `finish`) as soon as it is made."""

    PIECE = 1 << 16  # characters: 64 KiB of text at a time
    BATCH = 256  # lines taken from a family at a time (one of them can be 1.5 KB)

    def __init__(self, gzipped: bool) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._pieces: list[bytes] = []
        # wbits 31: the gzip format (RFC 1952), with a zero mtime as gzip.compress(mtime=0)
        self._gzip = zlib.compressobj(1, zlib.DEFLATED, 31) if gzipped else None

    def append(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.PIECE:
            self._flush()

    def extend(self, lines: Iterable[str]) -> Iterator[bytes]:
        """A family at a time, `BATCH` lines at a time (a list's extend and a sum in C)."""
        more = iter(lines)
        while batch := list(islice(more, self.BATCH)):
            self._lines += batch
            self._size += sum(map(len, batch))
            if self._size >= self.PIECE:
                self._flush()
                yield from self.ready()

    def ready(self) -> list[bytes]:
        """The pieces made and not yet handed out."""
        pieces, self._pieces = self._pieces, []
        return pieces

    def _flush(self) -> None:
        self._add("".join(self._lines).encode())
        self._lines.clear()
        self._size = 0

    def _add(self, data: bytes) -> None:
        self._pieces.append(self._gzip.compress(data) if self._gzip else data)

    def finish(self, tail: bytes) -> list[bytes]:
        self._flush()
        self._add(tail)
        if self._gzip:
            self._pieces.append(self._gzip.flush())
        return self.ready()


def _canaries(out: _Page, canaries: Mapping[str, CanaryNumbers]) -> None:
    name = "breakerwatch_canary_breaker_state"
    _head(out, name, "gauge", "The canary writes' own breaker, one-hot (open: writes failing).")
    for integration, numbers in sorted(canaries.items()):
        for state in (State.CLOSED, State.OPEN, State.HALF_OPEN):
            one = int(numbers.state is state)
            out.append(f'{name}{{integration="{integration}",state="{state.value}"}} {one}\n')
    name = "breakerwatch_canary_runs_total"
    _head(out, name, "counter", "Canary write runs, by how they ended (rejected: its breaker "
          "was open).")  # fmt: skip
    for integration, numbers in sorted(canaries.items()):
        for outcome, count in (("success", numbers.successes), ("failure", numbers.failures),
                               ("rejected", numbers.rejected)):  # fmt: skip
            out.append(f'{name}{{integration="{integration}",outcome="{outcome}"}} {count}\n')
    for name, help_text, index in (
        ("breakerwatch_canary_last_duration_seconds", "How long the last canary run took.", 4),
        ("breakerwatch_canary_last_success_timestamp_seconds",
         "Unix time of the last canary run that wrote and read back.", 5),
    ):  # fmt: skip
        _head(out, name, "gauge", help_text)
        for integration, numbers in sorted(canaries.items()):
            value = numbers[index]
            if value is not None:
                out.append(f'{name}{{integration="{integration}"}} {value!r}\n')


def _vendor(out: _Page, vendor: Mapping[str, tuple[str, int]]) -> None:
    name = "breakerwatch_vendor_status"
    _head(out, name, "gauge", "What the vendor's status page says, one-hot (unknown: it "
          "could not be read).")  # fmt: skip
    for integration, (indicator, _) in sorted(vendor.items()):
        for value in INDICATORS:
            one = int(value == indicator)
            out.append(f'{name}{{integration="{integration}",indicator="{value}"}} {one}\n')
    name = "breakerwatch_vendor_incidents"
    _head(out, name, "gauge", "Unresolved incidents on the vendor's status page.")
    for integration, (_, count) in sorted(vendor.items()):
        out.append(f'{name}{{integration="{integration}"}} {count}\n')


def _http(out: _Page, http: HttpStats) -> None:
    _head(out, "breakerwatch_http_connections", "gauge", "Open connections to the HTTP server.")
    out.append(f"breakerwatch_http_connections {http.open}\n")
    name = "breakerwatch_http_connections_limit"
    _head(out, name, "gauge", "The most connections served at once; more wait to be accepted.")
    out.append(f"{name} {http.limit}\n")
    name = "breakerwatch_http_connections_evicted_total"
    _head(out, name, "counter", "Idle connections closed to make room at the limit.")
    out.append(f"{name} {http.evicted}\n")
    name = "breakerwatch_http_requests_refused_total"
    _head(out, name, "counter", "HTTP requests refused, by reason.")
    for reason in _REFUSALS:
        out.append(f'{name}{{reason="{reason}"}} {http.refused.get(reason, 0)}\n')


def _notifications(out: _Page, sinks: Mapping[str, SinkStats]) -> None:
    items = sorted(sinks.items())
    _head(out, "breakerwatch_notifications_total", "counter", "Notifications delivered.")
    for channel, stats in items:
        out.append(f'breakerwatch_notifications_total{{channel="{channel}"}} {stats.sent}\n')
    name = "breakerwatch_notification_failures_total"
    _head(out, name, "counter", "Failed notification attempts, by reason (each is retried).")
    for channel, stats in items:
        for reason in FailureReason:
            count = stats.failures.get(reason.value, 0)
            out.append(f'{name}{{channel="{channel}",reason="{reason.value}"}} {count}\n')
    name = "breakerwatch_notification_queue_depth"
    _head(out, name, "gauge", "Notifications waiting to be delivered.")
    for channel, stats in items:
        out.append(f'{name}{{channel="{channel}"}} {stats.depth}\n')
    told = [(channel, stats) for channel, stats in items if stats.exactly_once is not None]
    name = "breakerwatch_notification_exactly_once"
    _head(out, name, "gauge", "1 if an interrupted send is looked up before it is sent again.")
    for channel, stats in told:
        out.append(f'{name}{{channel="{channel}"}} {int(stats.exactly_once or 0)}\n')
    name = "breakerwatch_notification_lookups_total"
    _head(out, name, "counter", "Interrupted sends looked up before sending again, by outcome.")
    for channel, stats in told:
        for outcome in LOOKUPS:
            count = stats.lookups.get(outcome, 0)
            out.append(f'{name}{{channel="{channel}",outcome="{outcome}"}} {count}\n')


def _histogram(
    out: _Page,
    name: str,
    prefix: str,
    labels: str,
    buckets: tuple[float, ...],
    histogram: Histogram,
) -> None:
    """Bucket, sum and count lines; `prefix` goes before `le` (the other labels and a comma)."""
    counts, total = histogram
    for bound, count in zip(_LE[buckets], counts, strict=True):
        out.append(f'{name}_bucket{{{prefix}le="{bound}"}} {count}\n')
    braces = f"{{{labels}}}" if labels else ""
    out.append(f"{name}_sum{braces} {total!r}\n{name}_count{braces} {counts[-1]}\n")


def _head(out: _Page, name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")


def _gauge(
    out: _Page, rows: list[Row], name: str, help_text: str, value: _Gauge
) -> Iterator[bytes]:
    _head(out, name, "gauge", help_text)
    yield from out.extend(f"{name}{{{row.label}}} {number!r}\n" for row in rows
               if (number := value(row)) is not None)  # fmt: skip
