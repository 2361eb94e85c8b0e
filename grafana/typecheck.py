"""Grafana's own TypeScript types, applied to the generated dashboards.

Each dashboard becomes a TypeScript module whose object literal must satisfy
@grafana/schema's `Dashboard`, each panel's options its panel plugin's `Options`, and each
target `DataQuery` with the fields Grafana's Prometheus data source reads (its own type
lives in @grafana/prometheus, which brings a UI toolkit along; these are the fields of its
`PromQuery`). TypeScript checks object literals for keys the type does not have, so a
misspelt key fails as a wrong type does. `tsc` runs from grafana/schema-check, where
package-lock.json pins TypeScript and @grafana/schema (`npm ci` installs them).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["LEGACY_PANELS", "PANEL_OPTIONS", "SCHEMA_CHECK", "module", "type_errors"]

SCHEMA_CHECK = Path(__file__).parent / "schema-check"
# Panel type -> the name of its plugin in @grafana/schema's generated panel configs.
PANEL_OPTIONS = {"timeseries": "TimeSeries", "stat": "Stat", "state-timeline": "StateTimeline"}
# Panels Grafana only migrates on load (graph -> timeseries, singlestat -> stat, ...): a
# dashboard that uses one is rewritten by Grafana, and its options are lost on the way.
LEGACY_PANELS = frozenset(
    {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}
)
_RAW = "@grafana/schema/dist/esm/raw/composable"
_HEADER = """// Generated from a breakerwatch dashboard by grafana/typecheck.py: do not edit.
import type { Dashboard, DataQuery } from "@grafana/schema";
{imports}

// JSON has strings where @grafana/schema has string enums (ThresholdsMode.Absolute is
// "absolute"): Json<T> is T with each string enum as the union of its values. Panel options
// take Grafana's defaults for what a dashboard leaves out (Defaults<T>: all optional).
type Json<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
type Defaults<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Defaults<U>>
  : T extends object ? { [K in keyof T]?: Defaults<T[K]> } : T;

// The fields Grafana's Prometheus data source reads from a target (@grafana/prometheus's
// PromQuery), on top of every query's DataQuery.
type PrometheusQuery = Json<DataQuery> & {
  expr: string;
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  interval?: string;
  format?: "time_series" | "table" | "heatmap";
  exemplar?: boolean;
};

"""


def module(board: dict[str, Any]) -> str:
    """`board` as a TypeScript module that compiles only if Grafana's types accept it."""
    imports = "\n".join(
        f"import type {{ Options as {name}Options }} from "
        f'"{_RAW}/{kind.replace("-", "")}/panelcfg/x/{name}PanelCfg_types.gen";'
        for kind, name in PANEL_OPTIONS.items()
    )
    fields = ", ".join(
        f"{json.dumps(key)}: {_panels(value) if key == 'panels' else json.dumps(value)}"
        for key, value in board.items()
    )
    return _HEADER.replace("{imports}", imports) + (
        f"export const dashboard = {{{fields}}} satisfies Json<Dashboard>;\n"
    )


def _panels(panels: list[dict[str, Any]]) -> str:
    return "[" + ", ".join(_panel(panel) for panel in panels) + "]"


def _panel(panel: dict[str, Any]) -> str:
    options = PANEL_OPTIONS.get(panel.get("type", ""))
    fields = []
    for key, value in panel.items():
        if key == "options" and options is not None:
            text = f"({json.dumps(value)} satisfies Defaults<{options}Options>)"
        elif key == "targets":
            text = (
                "[" + ", ".join(f"({json.dumps(t)} satisfies PrometheusQuery)" for t in value) + "]"
            )
        elif key == "panels":
            text = _panels(value)
        else:
            text = json.dumps(value)
        fields.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(fields) + "}"


def type_errors(modules: dict[str, str], folder: Path) -> dict[str, list[str]]:
    """Write each of `modules` (name -> TypeScript) to `folder`, run tsc on them all at
    once, and return each module's errors (`TS2353: Object literal may only specify ...`)."""
    names = {}
    for name, text in modules.items():
        path = folder / f"{name}.ts"
        path.write_text(text)
        names[path.name] = name
    config = folder / "tsconfig.json"
    config.write_text(json.dumps({
        "extends": str(SCHEMA_CHECK / "tsconfig.json"),
        "compilerOptions": {"typeRoots": [], "baseUrl": str(SCHEMA_CHECK),
                            "paths": {"@grafana/schema/*": ["node_modules/@grafana/schema/*"],
                                      "@grafana/schema": ["node_modules/@grafana/schema"]}},
        "files": [f"{name}.ts" for name in modules],
    }))  # fmt: skip
    tsc = SCHEMA_CHECK / "node_modules" / ".bin" / "tsc"
    done = subprocess.run(
        [str(tsc), "-p", str(config), "--pretty", "false"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    errors: dict[str, list[str]] = {name: [] for name in modules}
    for line in done.stdout.splitlines():
        found = re.match(r"(?:.*/)?([^/(]+\.ts)\(\d+,\d+\): error (TS\d+: .*)", line)
        if found and found[1] in names:
            errors[names[found[1]]].append(found[2])
        elif line.strip() and not line.startswith(" "):
            raise RuntimeError(f"tsc: {line}")
    return errors
