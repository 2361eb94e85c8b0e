"""The pinned install stays true: every package in requirements/*.txt is pinned with its
hashes, every dependency pyproject.toml declares is pinned within its range (so a change to
pyproject.toml without `make lock` fails here), the smaller locks agree with the larger ones,
and the licence the metadata declares is the one in LICENSE."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\$")


def pins(name: str) -> dict[str, str]:
    """requirements/NAME.txt as {package: version}; each pin must carry a hash."""
    lines = (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = _PIN.match(line)
        if match:
            assert lines[number + 1].strip().startswith("--hash=sha256:"), line
            found[canonicalize_name(match[1])] = match[2]
        else:
            assert not re.match(r"^[A-Za-z0-9]", line), f"{name}.txt: not a hashed pin: {line}"
    return found


def declared(*extras: str) -> list[Requirement]:
    project = PROJECT["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(text) for text in wanted]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("run", declared()),
        ("test", declared("test")),
        ("bench", declared("test", "bench")),
        ("build", [Requirement(r) for r in PROJECT["build-system"]["requires"]]),
    ],
)
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: str, requirements: list[Requirement]
) -> None:
    pinned = pins(lock)
    for requirement in requirements:
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in {lock}.txt: run make lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}.txt pins {requirement.name}=={version}, outside {requirement}: run make lock"
        )


def test_the_locks_agree_with_each_other() -> None:
    run, test, bench = pins("run"), pins("test"), pins("bench")
    assert {name: test[name] for name in run} == run
    assert {name: bench[name] for name in test} == test


def test_the_declared_licence_is_the_one_in_the_repository() -> None:
    assert PROJECT["project"]["license"] == "MIT"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
