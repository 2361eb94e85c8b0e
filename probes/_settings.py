"""Validation of numeric settings, shared by the breaker and retry configurations.

A `Checks` collects every invalid setting with the setting's name, the allowed range and
the value received, so the config loader can report all of a file's errors at once,
prefixed with their path (`integrations[2].breaker.`), each one sentence saying what to fix.
"""

from __future__ import annotations

import math
from dataclasses import fields
from types import MappingProxyType
from typing import Any

# Field metadata: what config.toml may set ("setting"), and which of those are durations
# (written "30s" there, seconds here). The dataclass is the one home of these facts.
SETTING = MappingProxyType({"setting": True})
DURATION = MappingProxyType({"setting": True, "duration": True})


def user_settings(cls: type) -> dict[str, bool]:
    """The fields of a settings dataclass that config.toml sets: name -> is a duration.
    (Read from the dataclass once: a config of 10,000 integrations asks 20,000 times.)"""
    found = _USER_SETTINGS.get(cls)
    if found is None:
        found = _USER_SETTINGS[cls] = {
            f.name: bool(f.metadata.get("duration"))
            for f in fields(cls)
            if f.metadata.get("setting")
        }
    return dict(found)


_USER_SETTINGS: dict[type, dict[str, bool]] = {}


class InvalidSetting(ValueError):
    """A setting is outside its allowed range."""

    def __init__(self, setting: str, rule: str, value: object) -> None:
        self.setting = setting
        self.rule = rule
        self.value = value
        super().__init__(f"{setting}: {rule} (got {value!r})")


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


class Checks:
    """Runs range checks on an object's attributes, keeping every failure."""

    def __init__(self, values: Any) -> None:
        self._values = values
        self.problems: list[InvalidSetting] = []

    def _get(self, setting: str) -> Any:
        return getattr(self._values, setting)

    def _fail(self, setting: str, rule: str) -> bool:
        self.problems.append(InvalidSetting(setting, rule, self._get(setting)))
        return False

    def number(self, setting: str, *, integer: bool = False) -> bool:
        value = self._get(setting)
        if integer and (isinstance(value, bool) or not isinstance(value, int)):
            return self._fail(setting, "must be a whole number")
        if not is_number(value):
            return self._fail(setting, "must be a finite number")
        return True

    def at_least(
        self, setting: str, minimum: float, *, integer: bool = False, maximum: float = math.inf
    ) -> bool:
        if not self.number(setting, integer=integer):
            return False
        if self._get(setting) < minimum:
            return self._fail(setting, f"must be >= {minimum:g}")
        return self.at_most(setting, maximum)

    def greater_than(self, setting: str, minimum: float, *, maximum: float = math.inf) -> bool:
        if not self.number(setting):
            return False
        if self._get(setting) <= minimum:
            return self._fail(setting, f"must be > {minimum:g}")
        return self.at_most(setting, maximum)

    def at_most(self, setting: str, maximum: float) -> bool:
        """A sane ceiling: beyond it a value is a typo, or would cost memory or overflow."""
        return self._get(setting) <= maximum or self._fail(setting, f"must be <= {maximum:g}")

    def fraction(self, setting: str, *, allow_zero: bool, allow_one: bool) -> bool:
        if not self.number(setting):
            return False
        value = self._get(setting)
        low_ok = value > 0 or (allow_zero and value == 0)
        high_ok = value < 1 or (allow_one and value == 1)
        if low_ok and high_ok:
            return True
        low, high = "[0" if allow_zero else "(0", "1]" if allow_one else "1)"
        return self._fail(setting, f"must be in {low}, {high}")

    def not_below(self, setting: str, other: str, *, valid: bool) -> None:
        """`setting >= other`, checked only when both are valid numbers."""
        if valid and is_number(self._get(other)) and self._get(setting) < self._get(other):
            self._fail(setting, f"must be >= {other}")

    def raise_first(self) -> None:
        if self.problems:
            raise self.problems[0]
