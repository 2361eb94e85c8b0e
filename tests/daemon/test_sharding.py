"""Sharding: the rendezvous assignment (pure), `[daemon] shard` and its environment variable,
and `breakerwatch check --shards`. The sharded daemons themselves: tests/system/test_ha.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from daemon.config import ConfigError, parse
from daemon.sharding import EVERYTHING, Shard, assign, owner, parse_shard

NAMES = [f"hubspot-customer-{i}" for i in range(10_000)]


class Named(NamedTuple):
    name: str
    everywhere: bool = False  # an egress canary, or a parent of others


INTEGRATIONS = [Named(name) for name in NAMES]
BREAKERWATCH = str(Path(sys.executable).with_name("breakerwatch"))
CONFIG = """
[[integrations]]
name = "{name}"
kind = "http"
url = "http://127.0.0.1:9/{name}"
"""


def test_the_assignment_is_pinned_so_an_upgrade_moves_nothing() -> None:
    """Replicas of different versions must agree: this hash is part of the contract."""
    assert [owner(name, 5) for name in ("kit", "hubspot", "mailchimp", "sendgrid")] == [4, 3, 0, 4]
    assert [owner(f"customer-{i}", 5) for i in range(12)] == [0, 1, 3, 4, 2, 1, 2, 3, 3, 0, 2, 4]


def test_shards_are_balanced() -> None:
    sizes = [len(members) for members in assign(INTEGRATIONS, 5)]
    assert sum(sizes) == len(NAMES)
    assert all(abs(size - 2000) < 150 for size in sizes), sizes  # binomial sd is 40


def test_adding_a_replica_moves_only_what_the_new_one_takes() -> None:
    before = {name: owner(name, 5) for name in NAMES}
    after = {name: owner(name, 6) for name in NAMES}
    moved = [name for name in NAMES if before[name] != after[name]]
    assert all(after[name] == 5 for name in moved)  # every move goes to the new shard
    assert abs(len(moved) - len(NAMES) / 6) < 200  # and it takes its fair share, no more


def test_removing_the_last_replica_moves_only_its_integrations() -> None:
    before = {name: owner(name, 5) for name in NAMES}
    moved = [name for name in NAMES if owner(name, 4) != before[name]]
    assert moved == [name for name in NAMES if before[name] == 4]


def test_exactly_one_shard_takes_each_integration_but_every_one_the_canary() -> None:
    shards = [Shard(index, 3) for index in range(3)]
    for integration in INTEGRATIONS[:500]:
        assert sum(shard.takes(integration) for shard in shards) == 1
    assert all(shard.takes(Named("canary", everywhere=True)) for shard in shards)
    assert all(EVERYTHING.takes(integration) for integration in INTEGRATIONS[:10])
    assert assign([Named("a"), Named("canary", everywhere=True)], 2) == [
        ["a", "canary"] if owner("a", 2) == 0 else ["canary"],
        ["canary"] if owner("a", 2) == 0 else ["a", "canary"],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5/5", "the index must be 0 to 4: shards are numbered from 0"),
        ("1/0", "the count must be 1 to 1000"),
        ("two/5", 'must be INDEX/COUNT, such as "2/5" (the third of five, from 0)'),
        ("-1/5", 'must be INDEX/COUNT, such as "2/5" (the third of five, from 0)'),
    ],
)
def test_a_bad_shard_is_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text)


def test_the_config_key_and_the_environment_variable() -> None:
    path = Path("/etc/breakerwatch/config.toml")
    text = '[daemon]\nshard = "1/3"\n' + CONFIG.format(name="kit")
    assert parse(text, path, environ={}).daemon.shard == Shard(1, 3)
    both = parse(text, path, environ={"BREAKERWATCH_SHARD": "2/4"})
    assert both.daemon.shard == Shard(2, 4)  # the environment wins, as for STATE_DIRECTORY
    assert parse(CONFIG.format(name="kit"), path, environ={}).daemon.shard == EVERYTHING
    with pytest.raises(ConfigError) as raised:
        parse('[daemon]\nshard = "3/3"\n', path, environ={"BREAKERWATCH_SHARD": "4"})
    assert raised.value.errors == [
        f"{path}: daemon.shard: the index must be 0 to 2: shards are numbered from 0 (got '3/3')",
        f'{path}: $BREAKERWATCH_SHARD: must be INDEX/COUNT, such as "2/5" (the third of five, '
        "from 0) (got '4')",
    ]


def test_the_template_gives_each_shard_the_configured_port_plus_its_index() -> None:
    path = Path("/etc/breakerwatch/config.toml")
    text = '[daemon]\nlisten = "127.0.0.1:9500"\n' + CONFIG.format(name="kit")
    template = {"BREAKERWATCH_SHARD": "3/4", "BREAKERWATCH_PORT_PER_SHARD": "1"}
    assert parse(text, path, environ=template).daemon.listen == ("127.0.0.1", 9503)
    alone = {"BREAKERWATCH_SHARD": "3/4"}  # a StatefulSet: every pod has its own address
    assert parse(text, path, environ=alone).daemon.listen == ("127.0.0.1", 9500)
    with pytest.raises(ConfigError) as raised:
        parse(text.replace("9500", "65534"), path, environ=template)
    assert raised.value.errors == [f"{path}: daemon.listen: plus the shard's index (3) is past "
                                   "port 65535: choose a lower port"]  # fmt: skip


@pytest.mark.system
def test_check_prints_the_assignment(tmp_path: Path) -> None:
    names = [f"customer-{i}" for i in range(12)]
    config = tmp_path / "config.toml"
    canary = CONFIG.format(name="canary") + "egress = true\n"
    blocks = "".join(CONFIG.format(name=n) for n in names) + canary
    config.write_text('[daemon]\nshard = "2/5"\n' + blocks)
    done = subprocess.run(
        [BREAKERWATCH, "check", "--config", str(config), "--shards", "5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    shards = assign([*map(Named, names), Named("canary", everywhere=True)], 5)
    assert lines[0] == f"{config}: OK: 13 integrations"
    assert lines[1:6] == [
        f"shard {i}/5: {len(shards[i])} integrations"
        + ("  <- this replica's [daemon] shard" if i == 2 else "")
        for i in range(5)
    ]
    listed = [line.split("\t") for line in lines[6:]]
    assert sorted(name for _, name in listed) == sorted(names + ["canary"] * 5)
    for shard, name in listed:
        assert name == "canary" or shard == f"{owner(name, 5)}/5"
    bad = subprocess.run(
        [BREAKERWATCH, "check", "--config", str(config), "--shards", "0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--shards: must be a whole number 1 to 1000" in bad.stderr
