"""Our own trouble as a rule, driven by the test's clock: it starts at the first local
failure, more failures extend it, and it ends once a quiet spell has passed."""

from __future__ import annotations

from daemon.trouble import Trouble, health


def test_trouble_starts_once_and_ends_after_a_quiet_spell() -> None:
    trouble = Trouble(quiet=30.0)
    assert not trouble.ended(0.0)  # no trouble, nothing to end
    assert trouble.failed("too many open files (EMFILE)", now=100.0, wall=1_000.0)
    assert not trouble.failed("too many open files (EMFILE)", now=110.0, wall=1_010.0)
    assert (trouble.what, trouble.since) == ("too many open files (EMFILE)", 1_000.0)
    assert not trouble.ended(139.0)  # 29 s after the last failure
    assert trouble.ended(140.0)
    assert trouble.what is None
    assert not trouble.ended(200.0)  # told once
    assert trouble.failed("no local port is free (EADDRNOTAVAIL)", now=300.0, wall=1_200.0)
    assert trouble.since == 1_200.0


def test_health_names_the_worst_thing_first() -> None:
    assert health(11.0, 10.0, "EMFILE", "disk full") == (
        False, "unhealthy: the scheduler heartbeat is 11s old"
    )  # fmt: skip
    healthy, said = health(1.0, 10.0, "EMFILE", "disk full")
    assert healthy
    assert said.startswith("degraded: breakerwatch itself is in trouble: EMFILE")
    healthy, said = health(1.0, 10.0, None, "disk full")
    assert healthy
    assert said.startswith("ok, but not persisting: disk full")
    assert health(10.0, 10.0, None, None) == (True, "ok")
