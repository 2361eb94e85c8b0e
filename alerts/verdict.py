"""Is it them or us? The verdict an alert carries, judged from what the daemon knows. Pure.

In order, the first that holds:

1. *our side*: a parent this integration depends on (`depends_on`), or an egress canary,
   is failing too; or this integration is the egress canary itself;
2. *the vendor confirms*: their status page shows an unresolved incident or a component
   down (the incident named, with its start and its link);
3. *our side*: the vendor refused our credential (401/403): they are up;
4. *our side*: other integrations depend on it and it has no status page of its own: a
   proxy or gateway of ours (check it first: what depends on it fails with it);
5. *only us so far*: their page says all is well; with how our other integrations on the
   same API host are doing (healthy there points at this integration; failing there too
   at the vendor, or at our route to it);
6. *unknown*: their page could not be read (and why), or none is configured.

`line` gives the verdict as one line of plain text, for logs, terminals, Alertmanager.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from alerts.model import Verdict, VerdictKind
from probes.statuspage import VendorStatus
from probes.text import clip, printable

__all__ = ["HEADLINES", "judge", "line"]

HEADLINES = {
    VerdictKind.VENDOR: "The vendor confirms",
    VerdictKind.US: "Only us so far",
    VerdictKind.OURS: "Our side",
    VerdictKind.UNKNOWN: "Unknown",
}
_LISTED = 3  # names in a verdict; the rest are counted
_DETAIL = 400  # characters of a verdict's detail in its line


def judge(
    *,
    reason: str | None = None,
    egress: bool = False,
    failing_parents: Sequence[str] = (),
    failing_canaries: Sequence[str] = (),
    page: str | None = None,
    vendor: VendorStatus | None = None,
    problem: str | None = None,
    host: str | None = None,
    peers: Sequence[tuple[str, bool]] = (),
    children: int = 0,
) -> Verdict:
    """The verdict on one failing integration.

    `reason` is its last failure's reason; `failing_parents` and `failing_canaries` the
    integrations it depends on and the egress canaries that are failing now; `page` its
    vendor's status page, `vendor` what that page said (None: `problem` says why it could
    not be read); `peers` the other integrations on its API `host`, each with whether it
    is healthy; `children` how many integrations depend on it.
    """
    if egress:
        return Verdict(VerdictKind.OURS, "this is the egress canary: our own network or proxy")
    if failing_parents:
        return Verdict(VerdictKind.OURS, f"{_names(failing_parents)}, which it depends on, "
                                         f"{_is(failing_parents)} failing too")  # fmt: skip
    if failing_canaries:
        canaries = f"{_names(failing_canaries)} {_is(failing_canaries)}"
        return Verdict(VerdictKind.OURS, f"the egress canary {canaries} failing too: our network")
    where = urlsplit(page).netloc if page else ""
    if vendor is not None and vendor.confirms:
        return _confirmed(where, page or "", vendor)
    if reason == "auth":
        return Verdict(VerdictKind.OURS, "the vendor refused our credential (they are up): "
                                         "check the key or token")  # fmt: skip
    if children and not page:
        behind = "1 integration depends" if children == 1 else f"{children} integrations depend"
        return Verdict(
            VerdictKind.OURS, f"{behind} on it, and it has no vendor page: ours to check"
        )
    if vendor is not None:
        said = f"{where} says {vendor.description or 'all is well'}".rstrip(".")
        return Verdict(VerdictKind.US, said + _peers(host, peers), page)
    if page:
        return Verdict(VerdictKind.UNKNOWN, f"{where} could not be read: {problem or 'not yet'}")
    return Verdict(
        VerdictKind.UNKNOWN, "no vendor status page to ask (status_page)" + _peers(host, peers)
    )


def line(verdict: Verdict) -> str:
    """The verdict as one line of plain text (printable: it may carry a vendor's words)."""
    text = f"{HEADLINES[verdict.kind]}: {clip(printable(verdict.detail), _DETAIL)}"
    if verdict.since is not None:
        text += f", since {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(verdict.since))}"
    return text + (f" {printable(verdict.link)}" if verdict.link else "")


def _confirmed(where: str, page: str, vendor: VendorStatus) -> Verdict:
    incidents = sorted(vendor.incidents, key=lambda i: i.created_at or 0.0)
    if incidents:
        first = incidents[0]
        more = f" and {len(incidents) - 1} more" if len(incidents) > 1 else ""
        return Verdict(VerdictKind.VENDOR,
                       f'{where} reports "{first.name}" ({first.impact}, {first.status}){more}',
                       first.shortlink or page, first.created_at)  # fmt: skip
    down = [f"{name} {state.replace('_', ' ')}" for name, state in vendor.degraded
            if state != "under_maintenance"]  # fmt: skip
    return Verdict(VerdictKind.VENDOR, f"{where} shows {_names(down)}", page)


def _peers(host: str | None, peers: Sequence[tuple[str, bool]]) -> str:
    if not host or not peers:
        return ""
    failing = [name for name, healthy in peers if not healthy]
    if not failing:
        return f"; {_names([n for n, _ in peers])} on {host} {_is(peers)} healthy"
    return f"; {_names(failing)} on {host} {_is(failing)} failing too"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _is(names: Sequence[object]) -> str:
    return "is" if len(names) == 1 else "are"
