"""What a report directory already holds, so that `report` does not replace a table with numbers by
an all-pending one without a word (issue 25: a report run without the --set its runs were trained
with overwrote a good table, exit 0).

The report's ``<name>.provenance.json`` (api.write_report) says how many cells have a number of ours
(``results``) and the profile and --set overrides the table was made with. A report written before
it held ``results`` is judged by its CSV's ``ours`` column.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


def count_results(table) -> int:
    """Cells with a number of ours."""
    return sum(cell.ours is not None for row in table.rows for cell in row.cells)


def summary_path(directory, name: str) -> Path:
    return Path(directory) / f"{name}.provenance.json"


@dataclass
class Kept:
    path: Path
    results: int
    overrides: list[str] | None = None
    profile: str | None = None


def kept_results(directory, name: str, formats) -> Kept | None:
    """The report already in `directory` when it has numbers of ours, else None."""
    summary = summary_path(directory, name)
    try:
        value = json.loads(summary.read_text())
        if isinstance(value, dict) and isinstance(value.get("results"), int):
            if value["results"] <= 0:
                return None
            return Kept(summary, value["results"], value.get("overrides"), value.get("profile"))
    except (OSError, ValueError):
        pass
    table = Path(directory) / f"{name}.csv"
    try:
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    results = sum(bool((row.get("ours") or "").strip()) for row in rows)
    return Kept(table, results) if results else None


def describe(kept: Kept) -> str:
    made = ""
    if kept.profile is not None:
        flags = " ".join([f"--profile {kept.profile}", *(f"--set {o}" for o in kept.overrides or [])])
        made = f", made with {flags}"
    return f"the report there ({kept.path.name}: {kept.results} cells with results{made})"
