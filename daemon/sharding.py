"""Which replica probes which integration: rendezvous (highest random weight) hashing. Pure.

Each integration goes to the shard whose hash of (shard, name) is highest. The hash depends
on nothing but the name and the shard's index, so every replica computes the same answer
alone, with no coordination; growing from N to N+1 replicas moves only the integrations the
new shard now wins (about 1/(N+1) of them), all to it; shrinking moves only the removed
shard's integrations. Shards are numbered from 0, like Kubernetes StatefulSet ordinals and
Prometheus's hashmod: "2/5" is the third of five. An `egress` canary ("is it us?") is
about the replica's own network, and a parent others depend on (`depends_on`) must be seen
wherever its children are, so every shard probes them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ENVIRONMENT", "EVERYTHING", "MAX_SHARDS", "PORT_PER_SHARD", "Shard", "assign", "owner",
    "parse_shard",
]  # fmt: skip

ENVIRONMENT = "BREAKERWATCH_SHARD"  # wins over [daemon] shard, for templates and StatefulSets
# "1": listen on [daemon] listen's port plus the shard's index, so N shards on one machine
# (the systemd template, breakerwatch@I-N.service) share one config file.
PORT_PER_SHARD = "BREAKERWATCH_PORT_PER_SHARD"
MAX_SHARDS = 1000


class Integration(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def everywhere(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, integration: Integration) -> bool:
        """Whether this shard probes `integration`."""
        return (
            self.count == 1
            or integration.everywhere
            or owner(integration.name, self.count) == self.index
        )


EVERYTHING = Shard(0, 1)


def parse_shard(text: str) -> Shard:
    """`"2/5"` as a Shard; ValueError naming what is wrong."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise ValueError('must be INDEX/COUNT, such as "2/5" (the third of five, from 0)')
    index, count = int(match[1]), int(match[2])
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"the count must be 1 to {MAX_SHARDS}")
    if index >= count:
        raise ValueError(f"the index must be 0 to {count - 1}: shards are numbered from 0")
    return Shard(index, count)


def owner(name: str, count: int) -> int:
    """The shard (0 to count-1) that probes integration `name`."""
    key = name.encode()
    return max(range(count), key=lambda index: _weight(index, key))


def assign(integrations: Iterable[Integration], count: int) -> list[list[str]]:
    """The names of the integrations each of `count` shards probes, in the order given."""
    every = [Shard(index, count) for index in range(count)]
    shards: list[list[str]] = [[] for _ in range(count)]
    for integration in integrations:
        for shard in every:
            if shard.takes(integration):
                shards[shard.index].append(integration.name)
    return shards


def _weight(index: int, key: bytes) -> int:
    digest = hashlib.blake2b(key, digest_size=8, salt=index.to_bytes(8, "big")).digest()
    return int.from_bytes(digest, "big")
