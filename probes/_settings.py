"""Validation of numeric settings, shared by the breaker and retry configurations.

Each check raises `InvalidSetting` naming the setting, the allowed range and the value
received, so the config loader can prefix the path in the file (`integrations[2].breaker.`)
and print one sentence that says what to fix.
"""

from __future__ import annotations

import math


class InvalidSetting(ValueError):
    """A setting is outside its allowed range."""

    def __init__(self, setting: str, rule: str, value: object) -> None:
        self.setting = setting
        self.rule = rule
        self.value = value
        super().__init__(f"{setting}: {rule} (got {value!r})")


def _require_finite(setting: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSetting(setting, "must be a finite number", value)


def at_least(setting: str, value: float, minimum: float, *, integer: bool = False) -> None:
    """Require `value >= minimum` (and an int when `integer`)."""
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidSetting(setting, "must be a whole number", value)
    _require_finite(setting, value)
    if value < minimum:
        raise InvalidSetting(setting, f"must be >= {minimum:g}", value)


def greater_than(setting: str, value: float, minimum: float) -> None:
    """Require `value > minimum`."""
    _require_finite(setting, value)
    if value <= minimum:
        raise InvalidSetting(setting, f"must be > {minimum:g}", value)


def fraction(setting: str, value: float, *, allow_zero: bool, allow_one: bool) -> None:
    """Require `value` in [0, 1], (0, 1], [0, 1) or (0, 1) as the flags say."""
    _require_finite(setting, value)
    low_ok = value > 0 or (allow_zero and value == 0)
    high_ok = value < 1 or (allow_one and value == 1)
    if not (low_ok and high_ok):
        low = "[0" if allow_zero else "(0"
        high = "1]" if allow_one else "1)"
        raise InvalidSetting(setting, f"must be in {low}, {high}", value)
