"""Is it them or us: the verdict, judged purely from the facts given, in its order."""

from __future__ import annotations

from alerts.model import VerdictKind
from alerts.verdict import judge, line
from probes.statuspage import VendorIncident, VendorStatus

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
PAGE = "https://status.hubspot.com"
CALM = VendorStatus("none", "All Systems Operational")
INCIDENT = VendorIncident("Elevated API errors", "major", "investigating", T0, "https://stspg.io/x")
LATER = VendorIncident("Slow imports", "minor", "identified", T0 + 600, None)
TROUBLE = VendorStatus("major", "Partial System Outage", (), (LATER, INCIDENT))
DEGRADED = VendorStatus("minor", "Minor Service Outage", (("CRM API", "degraded_performance"),))


def test_the_vendor_confirms_with_its_earliest_incident_named_and_linked() -> None:
    verdict = judge(page=PAGE, vendor=TROUBLE)
    assert verdict.kind is VerdictKind.VENDOR
    assert verdict.detail == (
        'status.hubspot.com reports "Elevated API errors" (major, investigating) and 1 more'
    )
    assert (verdict.link, verdict.since) == ("https://stspg.io/x", T0)
    assert line(verdict) == (
        'The vendor confirms: status.hubspot.com reports "Elevated API errors" (major, '
        "investigating) and 1 more, since 2026-09-21 14:13 UTC https://stspg.io/x"
    )


def test_a_component_down_without_an_incident_confirms_too() -> None:
    verdict = judge(page=PAGE, vendor=DEGRADED)
    assert verdict.kind is VerdictKind.VENDOR
    assert verdict.detail == "status.hubspot.com shows CRM API degraded performance"
    assert verdict.link == PAGE


def test_only_us_so_far_says_how_the_neighbours_are() -> None:
    alone = judge(page=PAGE, vendor=CALM, host="api.hubapi.com")
    assert alone.kind is VerdictKind.US
    assert alone.detail == "status.hubspot.com says All Systems Operational"
    healthy = judge(page=PAGE, vendor=CALM, host="api.hubapi.com", peers=[("crm", True)])
    assert healthy.detail.endswith("; crm on api.hubapi.com is healthy")
    failing = judge(page=PAGE, vendor=CALM, host="api.hubapi.com",
                    peers=[("crm", False), ("forms", False), ("a", True)])  # fmt: skip
    assert failing.detail.endswith("; crm, forms on api.hubapi.com are failing too")


def test_our_side_comes_first_parents_then_canaries_then_a_refused_credential() -> None:
    parents = judge(failing_parents=["corp-proxy"], failing_canaries=["egress"], vendor=TROUBLE,
                    page=PAGE)  # fmt: skip
    assert (parents.kind, parents.detail) == (
        VerdictKind.OURS, "corp-proxy, which it depends on, is failing too",
    )  # fmt: skip
    canary = judge(failing_canaries=["egress", "egress-2"], page=PAGE, vendor=CALM)
    assert canary.detail == "the egress canary egress, egress-2 are failing too: our network"
    assert judge(egress=True).kind is VerdictKind.OURS
    refused = judge(reason="auth", page=PAGE, vendor=CALM)
    assert refused.kind is VerdictKind.OURS
    assert refused.detail.startswith("the vendor refused our credential")
    # A vendor incident explains even a 401: their page outranks our guess.
    assert judge(reason="auth", page=PAGE, vendor=TROUBLE).kind is VerdictKind.VENDOR


def test_a_parent_without_a_vendor_page_is_ours_to_check() -> None:
    proxy = judge(children=3)
    assert (proxy.kind, proxy.detail) == (
        VerdictKind.OURS, "3 integrations depend on it, and it has no vendor page: ours to check",
    )  # fmt: skip
    assert judge(children=1).detail.startswith("1 integration depends on it")
    assert judge(children=2, page=PAGE, vendor=CALM).kind is VerdictKind.US  # a vendor's, then


def test_unknown_says_why() -> None:
    dead = judge(page=PAGE, problem="timeout: no answer in 10s")
    assert (dead.kind, dead.detail) == (
        VerdictKind.UNKNOWN, "status.hubspot.com could not be read: timeout: no answer in 10s",
    )  # fmt: skip
    none = judge()
    assert none.kind is VerdictKind.UNKNOWN
    assert none.detail == "no vendor status page to ask (status_page)"


def test_a_hostile_detail_is_printable_in_its_line() -> None:
    evil = VendorIncident("\x1b[2Jgone\r\nFORGED", "major", "investigating", None, None)
    verdict = judge(page=PAGE, vendor=VendorStatus("major", "x", (), (evil,)))
    assert "\x1b" not in line(verdict)
    assert "\n" not in line(verdict)
