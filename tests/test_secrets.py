"""Secret references resolve in one place, and a resolved secret never shows itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.secrets import Secret, SecretError, is_reference, resolve

CANARY = "canary-0b1d2e3f4a5c"


def test_env_reference() -> None:
    secret = resolve("env:KIT_API_KEY", environ={"KIT_API_KEY": f" {CANARY}\n"})
    assert secret.reveal() == CANARY
    assert secret.reference == "env:KIT_API_KEY"


def test_file_reference(tmp_path: Path) -> None:
    path = tmp_path / "hubspot-token"
    path.write_text(CANARY + "\n")
    assert resolve(f"file:{path}", environ={}).reveal() == CANARY


def test_credential_reference(tmp_path: Path) -> None:
    (tmp_path / "hubspot-token").write_text(CANARY)
    from_env = resolve("credential:hubspot-token", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    given = resolve("credential:hubspot-token", environ={}, credentials_directory=str(tmp_path))
    assert from_env.reveal() == given.reveal() == CANARY


def test_a_secret_never_shows_its_value() -> None:
    secret = resolve("env:X", environ={"X": CANARY})
    for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"k": secret})):
        assert CANARY not in text
    assert repr(secret) == "Secret('env:X')"
    assert secret == Secret(CANARY, "env:X")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (CANARY, "a secret must not be written inline; write a reference instead: env:NAME"),
        ("env:", "a secret must not be written inline"),
        ("vault:x", "a secret must not be written inline"),
        ("env:MISSING", "the environment variable MISSING is not set"),
        ("env:not valid", "'env:not valid' is not a valid environment variable name"),
        ("env:EMPTY", "'env:EMPTY' resolves to an empty value"),
        ("file:/nonexistent/key", "the file /nonexistent/key does not exist"),
        ("file:/", "the file / is a directory, not a file"),
        ("credential:token", "'credential:token' needs $CREDENTIALS_DIRECTORY"),
        ("credential:../etc/passwd", "'credential:../etc/passwd' is not a valid credential name"),
    ],
)
def test_errors_say_what_to_fix_and_never_the_value(reference: str, message: str) -> None:
    with pytest.raises(SecretError) as error:
        resolve(reference, environ={"EMPTY": "  "})
    assert str(error.value).startswith(message)
    if reference == CANARY:
        assert CANARY not in str(error.value)


def test_is_reference() -> None:
    assert all(map(is_reference, ["env:A", "file:/a", "credential:a"]))
    assert not any(map(is_reference, ["xoxb-123", "https://x", "env:", "kit-key"]))


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_one_trailing_newline_is_how_files_are_written(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "kit-api-key"
    path.write_bytes((CANARY + ending).encode())
    assert resolve(f"file:{path}", environ={}).reveal() == CANARY


@pytest.mark.parametrize(
    "value", [f"{CANARY}\n\n", f"{CANARY}\nsecond line\n", f"{CANARY}\t", f"ab\x00{CANARY}",
              f"\x1b[2J{CANARY}"],
)  # fmt: skip
def test_any_other_control_character_is_refused_by_name(tmp_path: Path, value: str) -> None:
    """A second line or a tab would break the header the secret travels in: the check
    says so (naming the reference, never the value) instead of a probe failing for ever."""
    path = tmp_path / "kit-api-key"
    path.write_text(value)
    with pytest.raises(SecretError) as error:
        resolve(f"file:{path}", environ={})
    assert str(error.value).startswith(f"'file:{path}' holds a control character")
    assert CANARY not in str(error.value)
