"""Matrix expansion: rows x product(axes) x zip(axes) + include - exclude, then x seeds.

Works on plain dicts that still carry where they came from (``origin``: "rows[2]",
"include[0]"), so later validation can name the YAML key a bad value was written under.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

from ssa_bench.errors import SpecError


@dataclass
class Expanded:
    values: dict          # the merged row: base <- row <- axis values
    origin: str           # key path of the row in the YAML
    axis_values: dict     # dotted axis key -> value, for labels, columns and sections


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "cfg":
            out[key] = deep_merge(out[key], value)
        elif key == "cfg" and isinstance(value, dict):
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def get_path(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(values: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    if parts[0] == "cfg" and len(parts) > 1:
        # cfg keys are mmseg's dotted keys, kept flat: cfg.model.decode_head.channels
        values.setdefault("cfg", {})[".".join(parts[1:])] = value
        return
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _axis_combinations(axes: dict, zipped: dict, file: str) -> list[dict]:
    lengths = {key: len(values) for key, values in zipped.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise SpecError(f"zip axes have different lengths ({listed})", file=file, key="zip",
                        fix="give every zipped key the same number of values")
    zip_rows = [dict(zip(zipped, combo)) for combo in zip(*zipped.values())] if zipped else [{}]
    product_rows = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] if axes else [{}]
    return [{**a, **z} for a in product_rows for z in zip_rows]


def _matches(row: Expanded, rule: dict) -> bool:
    for key, wanted in rule.items():
        have = row.values.get("label") if key == "label" else get_path(row.values, key)
        if have != wanted:
            return False
    return True


def expand(base: dict, rows: list[dict], axes: dict, zipped: dict, include: list[dict],
           exclude: list[dict], file: str) -> list[Expanded]:
    named = rows or [{}]
    out: list[Expanded] = []
    combos = _axis_combinations(axes, zipped, file)
    for index, row in enumerate(named):
        origin = f"rows[{index}]" if rows else "base"
        merged_row = deep_merge(base, row)
        if row.get("paper_only"):
            # Shown with the paper's numbers only: never crossed with axes, never run.
            out.append(Expanded(merged_row, origin, {}))
            continue
        for combo in combos:
            values = copy.deepcopy(merged_row)
            for key, value in combo.items():
                set_path(values, key, copy.deepcopy(value))
            out.append(Expanded(values, origin, combo))
    for index, row in enumerate(include):
        out.append(Expanded(deep_merge(base, row), f"include[{index}]", {}))
    kept = [row for row in out if not any(_matches(row, rule) for rule in exclude)]
    for index, rule in enumerate(exclude):
        if not any(_matches(row, rule) for row in out):
            raise SpecError(f"exclude rule matches no row: {rule}", file=file, key=f"exclude[{index}]",
                            fix="check the label / values against the rows, or delete the rule")
    return kept
