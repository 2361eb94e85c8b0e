"""The generated dashboards, checked by Grafana's own TypeScript types (@grafana/schema, with
TypeScript, both pinned in grafana/schema-check/package-lock.json): every dashboard
satisfies `Dashboard`, every panel's options its plugin's `Options`, every target a
Prometheus `DataQuery`; and mistakes injected into a copy are caught, one per kind."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grafana.generate import build
from grafana.typecheck import LEGACY_PANELS, PANEL_OPTIONS, SCHEMA_CHECK, module, type_errors

pytestmark = [
    pytest.mark.system,  # tsc, a child process
    pytest.mark.skipif(
        not (SCHEMA_CHECK / "node_modules" / ".bin" / "tsc").exists(),
        reason="run `make test` (npm ci in grafana/schema-check installs tsc)",
    ),
]

BOARDS = {name.removesuffix(".json"): json.loads(text) for name, text in build().items()}


def first(board: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(panel for panel in board["panels"] if panel["type"] == kind)


def wrong_field_type(board: dict[str, Any]) -> None:
    first(board, "timeseries")["gridPos"]["w"] = "12"


def unknown_panel_option(board: dict[str, Any]) -> None:
    first(board, "timeseries").setdefault("options", {})["legendd"] = {"showLegend": True}


def misspelt_dashboard_key(board: dict[str, Any]) -> None:
    board["refrsh"] = board.pop("refresh")


def misspelt_panel_key(board: dict[str, Any]) -> None:
    panel = first(board, "stat")
    panel["fieldconfig"] = panel.pop("fieldConfig")


def misspelt_target_key(board: dict[str, Any]) -> None:
    target = first(board, "stat")["targets"][0]
    target["legend_format"] = target.pop("legendFormat")


def wrong_enum_value(board: dict[str, Any]) -> None:
    thresholds = first(board, "stat")["fieldConfig"]["defaults"]["thresholds"]
    thresholds["mode"] = "absolut"


def wrong_option_type(board: dict[str, Any]) -> None:
    first(board, "stat").setdefault("options", {})["colorMode"] = 1


MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "wrong_field_type": (wrong_field_type, "TS2322"),
    "unknown_panel_option": (unknown_panel_option, "TS2353"),
    "misspelt_dashboard_key": (misspelt_dashboard_key, "TS2353"),
    "misspelt_panel_key": (misspelt_panel_key, "TS2353"),
    "misspelt_target_key": (misspelt_target_key, "TS2353"),
    "wrong_enum_value": (wrong_enum_value, "TS2820"),  # "Did you mean 'absolute'?"
    "wrong_option_type": (wrong_option_type, "TS2322"),
}


def test_the_dashboards_pass_grafanas_types_and_injected_mistakes_do_not(
    tmp_path: Path,
) -> None:
    modules = {name: module(board) for name, board in BOARDS.items()}
    for name, (inject, _) in MISTAKES.items():
        board = copy.deepcopy(BOARDS["overview"])
        inject(board)
        modules[name] = module(board)
    errors = type_errors(modules, tmp_path)
    assert {name: errors[name] for name in BOARDS} == {name: [] for name in BOARDS}
    for name, (_, code) in MISTAKES.items():
        assert errors[name], f"{name} was not caught"
        assert any(error.startswith(code) for error in errors[name]), errors[name]


def test_no_legacy_panel_type_and_every_panel_type_is_checked() -> None:
    kinds = {panel["type"] for board in BOARDS.values() for panel in board["panels"]}
    assert not kinds & LEGACY_PANELS
    assert kinds - {"row"} <= set(PANEL_OPTIONS)  # each has its options checked
