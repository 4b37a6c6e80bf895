"""Bootstrap intervals for a report table's accuracy cells and their gains (docs/statistics.md).

For each column group (a dataset, when the table pivots) every row's finished runs are read with
their per-image evidence (the evaluate stage's ``image_counts`` file) and resampled together
(``statistics.Resampled``: one set of image weights for the whole column, so a row and its
baseline row are paired). A cell gets ``ci_low``/``ci_high``; a row's gain over the section's
baseline row gets ``gain_low``/``gain_high``/``gain_p``, and its arrow follows the interval: drawn
only when the interval excludes 0 (``gain_rule = "interval"``). A cell with any run lacking
evidence -- a record older than the file, a damaged file, or a file that does not reproduce the
record's own mIoU -- keeps the seed rule of ``table_model`` and says so (``gain_rule``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from ssa_bench.matrix.report_settings import ACCURACY_METRICS
from ssa_bench.report.aggregate import cell_key
from ssa_bench.report.table_model import ReportTable
from ssa_bench.statistics import ImageCounts, Resampled, point_metrics
from ssa_bench.store import Store
from ssa_bench.store.image_counts import read_image_counts

LEVEL = 0.95
METHOD = "bca"
RESAMPLES = 2000        # per column of a table; docs/statistics.md: the Monte Carlo error this leaves
SEED = 0
# The record keeps mmseg's number rounded to 2 decimals (in float32): evidence that does not give
# the same number back is not this record's.
_AGREEMENT = 0.011


def _evidence(store: Store, run_id: str, record_miou) -> ImageCounts | None:
    arrays = read_image_counts(store.paths(run_id).image_counts)
    if not isinstance(arrays, dict):
        return None
    counts = ImageCounts.from_arrays(arrays)
    if record_miou is None or (isinstance(record_miou, float) and math.isnan(record_miou)):
        return None
    if abs(point_metrics(counts)["mIoU"] - float(record_miou)) > _AGREEMENT:
        return None
    return counts


def attach_intervals(table: ReportTable, frame: pd.DataFrame, store: Store) -> None:
    """Fill the interval fields of ``table``'s accuracy cells (in place) from the runs in ``frame``."""
    accuracy = [i for i, column in enumerate(table.columns) if column.metric in ACCURACY_METRICS]
    if not accuracy or frame.empty:
        return
    done = frame[frame["state"] == "done"].drop_duplicates(subset=["id", "section", "group", "column"])
    ids: dict[tuple, list[str]] = {}
    miou: dict[str, float] = {}
    for rec in done.itertuples(index=False):
        section = None if rec.section is None or (isinstance(rec.section, float) and pd.isna(rec.section)) else rec.section
        column = None if rec.column is None or (isinstance(rec.column, float) and pd.isna(rec.column)) else rec.column
        ids.setdefault(cell_key(section, rec.group, column), []).append(rec.id)
        miou[rec.id] = rec.mIoU
    cache: dict[str, ImageCounts | None] = {}
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
            resampled = Resampled(cells, n_resamples=RESAMPLES, seed=SEED)
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
                cell = row.cells[column_index]
                own = resampled.interval(position, column.metric, level=LEVEL, method=METHOD)
                cell.ci_low, cell.ci_high = own.low, own.high
                if row.is_baseline or base is None or cell.gain is None:
                    continue
                gain = resampled.gain(position, base, column.metric, level=LEVEL, method=METHOD)
                cell.gain_low, cell.gain_high, cell.gain_p = gain.low, gain.high, gain.p
                cell.gain_rule, cell.gain_shown = "interval", gain.excludes_zero
                cell.seeds_share = (gain.shares or {}).get("seeds")
    if images:
        table.interval_facts = {"level": LEVEL, "method": METHOD, "resamples": RESAMPLES,
                                "images": sorted(images)}


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
