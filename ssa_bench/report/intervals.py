"""Bootstrap intervals for a report table's accuracy cells and their gains (docs/statistics.md).

For each column group (a dataset, when the table pivots) every row's finished runs are read with
their per-image evidence (the evaluate stage's ``image_counts`` file) and resampled together
(``statistics.Resampled``: one set of image weights for the whole column, so a row and its
baseline row are paired). A cell gets ``ci_low``/``ci_high``; a row's gain over the section's
baseline row gets ``gain_low``/``gain_high``/``gain_p``, and its arrow follows the interval: drawn
only when the interval excludes 0 (``gain_rule = "interval"``). A run's evidence is read from its
bootstrap draws (``RunPaths.bootstrap_draws``, drawn by the evaluate stage under the test set's
canonical weights: reading them is all a report does) or, for a run evaluated before the draws
file existed, resampled from its per-image counts -- the same numbers either way. A cell with any
run lacking evidence -- a record older than the file, a damaged file, or a file that does not reproduce the
record's own mIoU -- keeps the seed rule of ``table_model`` and says so (``gain_rule``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from typing import NamedTuple

import pandas as pd

from ssa_bench.vocabulary.metrics import ACCURACY_METRICS
from ssa_bench.report.aggregate import cell_key
from ssa_bench.report.table_model import ReportTable
from ssa_bench.statistics import (TABLE_LEVEL, TABLE_METHOD, TABLE_RESAMPLES, TABLE_SEED, ImageCounts, Resampled,
                                  RunDraws, point_metrics)
from ssa_bench.store import Store, read_json, write_json_atomic
from ssa_bench.store.image_counts import read_bootstrap_draws, read_image_counts

# The record keeps mmseg's number rounded to 2 decimals (in float32): evidence that does not give
# the same number back is not this record's.
_AGREEMENT = 0.011


def _evidence(store: Store, run_id: str, record_miou) -> RunDraws | ImageCounts | None:
    """The run's draws when its file is there and fits this report's bootstrap, else its counts."""
    if record_miou is None or (isinstance(record_miou, float) and math.isnan(record_miou)):
        return None
    paths = store.paths(run_id)
    arrays = read_bootstrap_draws(paths.bootstrap_draws)
    if isinstance(arrays, dict):
        try:
            draws = RunDraws.from_arrays(arrays)
        except (ValueError, KeyError, TypeError):
            draws = None
        if draws is not None and (draws.n_resamples, draws.seed) == (TABLE_RESAMPLES, TABLE_SEED):
            return draws if _agrees(draws.point["mIoU"], record_miou) else None
    arrays = read_image_counts(paths.image_counts)
    if not isinstance(arrays, dict):
        return None
    counts = ImageCounts.from_arrays(arrays)
    return counts if _agrees(point_metrics(counts)["mIoU"], record_miou) else None


def _agrees(evidence_miou: float, record_miou) -> bool:
    return abs(evidence_miou - float(record_miou)) <= _AGREEMENT


FIELDS = ("ci_low", "ci_high", "gain_low", "gain_high", "gain_p", "gain_rule", "gain_shown", "seeds_share")
CACHE_VERSION = 2


def attach_intervals(table: ReportTable, frame: pd.DataFrame, store: Store) -> None:
    """Fill the interval fields of ``table``'s accuracy cells (in place) from the runs in ``frame``.

    The result is cached in ``<results>/reports/<table>/.intervals-cache.json`` under a fingerprint
    of everything it depends on (the cells' run ids, the size and mtime of each run's record and
    evidence file, the bootstrap settings), so a report run again on unchanged results reads it
    back instead of resampling; any change of a run's files recomputes the table."""
    accuracy = [i for i, column in enumerate(table.columns) if column.metric in ACCURACY_METRICS]
    if not accuracy or frame.empty:
        return
    ids, miou = _cell_runs(frame)
    fingerprint = _fingerprint(table, ids, store, accuracy)
    cache_path = os.path.join(str(store.root), "reports", table.name, ".intervals-cache.json")
    cached = read_json(cache_path)
    if not (isinstance(cached, dict) and cached.get("fingerprint") == fingerprint
            and isinstance(cached.get("cells"), dict)):
        cached = {"fingerprint": fingerprint, **_compute(table, ids, miou, store, accuracy)}
        # Only resampling is worth caching: a table with no per-image evidence (older or damaged
        # runs, nothing run yet) is cheap to redo and leaves the results folder untouched.
        if cached["cells"]:
            try:
                write_json_atomic(cache_path, cached)
            except OSError:
                pass            # a read-only results tree: the report is still right, only slower
    for position, values in cached["cells"].items():
        row_index, column_index = (int(part) for part in position.split("/"))
        cell = table.rows[row_index].cells[column_index]
        for name in FIELDS:
            if name in values:
                setattr(cell, name, values[name])
    table.interval_facts = cached.get("facts") or {}


def _cell_runs(frame: pd.DataFrame) -> tuple[dict[tuple, list[str]], dict[str, float]]:
    done = frame[frame["state"] == "done"].drop_duplicates(subset=["id", "section", "group", "column"])
    ids: dict[tuple, list[str]] = {}
    miou: dict[str, float] = {}
    for rec in done.itertuples(index=False):
        ids.setdefault(cell_key(_none(rec.section), rec.group, _none(rec.column)), []).append(rec.id)
        miou[rec.id] = rec.mIoU
    return ids, miou


def _none(value):
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _stat(path: str):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _fingerprint(table: ReportTable, ids: dict, store: Store, accuracy: list[int]) -> str:
    parts = {"version": CACHE_VERSION, "level": TABLE_LEVEL, "method": TABLE_METHOD, "resamples": TABLE_RESAMPLES,
             "seed": TABLE_SEED,
             "columns": [[table.columns[i].group, table.columns[i].metric] for i in accuracy], "rows": []}
    for row in table.rows:
        runs = sorted({run_id for i in accuracy for run_id in ids.get(cell_key(row.section, row.label,
                                                                                table.columns[i].group), [])})
        paths = [store.paths(run_id) for run_id in runs]
        parts["rows"].append([row.section, row.label, row.is_baseline, row.paper_only,
                              [row.cells[i].gain is not None for i in accuracy],
                              [[run_id, _stat(p.record), _stat(p.image_counts), _stat(p.bootstrap_draws)]
                               for run_id, p in zip(runs, paths)]])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _compute(table: ReportTable, ids: dict, miou: dict, store: Store, accuracy: list[int]) -> dict:
    """{"cells": {"row/column": {field: value}}, "facts": {...}} for every cell with evidence."""
    out: dict[str, dict] = {}
    cache: dict[str, RunDraws | ImageCounts | None] = {}
    images: set[int] = set()
    for group in dict.fromkeys(table.columns[i].group for i in accuracy):
        cells, positions = [], {}
        for row_index, row in enumerate(table.rows):
            if row.paper_only:
                continue
            run_ids = ids.get(cell_key(row.section, row.label, group), [])
            for run_id in run_ids:
                if run_id not in cache:
                    cache[run_id] = _evidence(store, run_id, miou.get(run_id))
            runs = [cache[run_id] for run_id in run_ids]
            if runs and all(run is not None for run in runs):
                positions[row_index] = len(cells)
                cells.append(runs)
        if not cells:
            continue
        try:
            resampled = Resampled(cells, n_resamples=TABLE_RESAMPLES, seed=TABLE_SEED)
        except ValueError:
            # Rows evaluated on different images (another test set): each alone, no pairing.
            continue
        images.add(cells[0][0].n_images)
        bases = {row.section: index for index, row in enumerate(table.rows) if row.is_baseline}
        for row_index, position in positions.items():
            row = table.rows[row_index]
            base = positions.get(bases.get(row.section, -1))
            for column_index in accuracy:
                column = table.columns[column_index]
                if column.group != group:
                    continue
                values = out.setdefault(f"{row_index}/{column_index}", {})
                own = resampled.interval(position, column.metric, level=TABLE_LEVEL, method=TABLE_METHOD)
                values.update(ci_low=own.low, ci_high=own.high)
                if row.is_baseline or base is None or row.cells[column_index].gain is None:
                    continue
                gain = resampled.gain(position, base, column.metric, level=TABLE_LEVEL, method=TABLE_METHOD)
                values.update(gain_low=gain.low, gain_high=gain.high, gain_p=gain.p, gain_rule="interval",
                              gain_shown=gain.excludes_zero, seeds_share=(gain.shares or {}).get("seeds"))
    facts = ({"level": TABLE_LEVEL, "method": TABLE_METHOD, "resamples": TABLE_RESAMPLES,
              "images": sorted(images)}
             if images else {})
    return {"cells": out, "facts": facts}


class PaperInInterval(NamedTuple):
    """One accuracy cell's answer to "does the paper's number lie inside our interval?"."""
    row: str               # "section / label"
    column: str            # "group metric"
    paper: float
    ours: float
    ci_low: float
    ci_high: float

    @property
    def inside(self) -> bool:
        return self.ci_low <= self.paper <= self.ci_high

    def __str__(self) -> str:
        where = "inside" if self.inside else "outside"
        return (f"{self.row} | {self.column}: paper {self.paper:g} {where} ours' interval "
                f"[{self.ci_low:.2f}, {self.ci_high:.2f}] (ours {self.ours:.2f})")


def paper_in_intervals(table: ReportTable) -> list[PaperInInterval]:
    """Every cell with both a paper number and our bootstrap interval, for ``--check-paper`` to
    gate on (e.g. fail on the cells whose ``inside`` is False). Cells without per-image evidence
    are not listed: the tolerance check covers them. The interval is over test images only (and
    seeds, when several ran): it says whether another test-set sample could have given the paper's
    number, not whether a different training could."""
    found = []
    for row in table.rows:
        name = " / ".join(str(part) for part in (row.section, row.label) if part is not None)
        for column, cell in zip(table.columns, row.cells):
            if column.metric in ACCURACY_METRICS and cell.paper is not None and cell.ci_low is not None:
                where = f"{column.group_title} {column.metric}" if column.group_title else column.metric
                found.append(PaperInInterval(name, where, cell.paper, cell.ours, cell.ci_low, cell.ci_high))
    return found
