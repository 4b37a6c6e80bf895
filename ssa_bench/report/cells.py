"""The text of every cell and row of a report table, decided once into the model so every renderer
prints the same thing: a cell's paper and ours (value, seed spread or interval, gain over the
section's baseline row) and its Δ; a row's section title, label, rank and seeds.

A gain's kind is "up"/"down" (an arrow: its paired bootstrap interval excludes 0; without per-image
evidence: beyond the seed noise, or a single seed) or "noise" (shown in brackets, no arrow).
Numbers become text here only (``format_number``); renderers only decide the markup.
"""
from __future__ import annotations

import math

from ssa_bench.report.table_model import MISSING, Cell, CellText, Column, ReportTable, Row
from ssa_bench.vocabulary.metrics import ACCURACY_METRICS


def format_number(value: float | None, decimals: int = 2, signed: bool = False) -> str:
    """Fixed decimals, widened only where they would print a non-zero value as 0.0 (a 0.04-GFLOPs
    demo model, a gain of 0.004)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    places = decimals
    while places < 4 and value != 0 and abs(value) < 10 ** (-places):
        places += 1
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    return text.replace("-", "−") if signed else text


def write_cell_texts(table: ReportTable) -> None:
    """Fill the text fields of every row and cell of ``table`` (in place), from its numbers."""
    previous = object()
    for row in table.rows:
        row.section_title = "" if row.section == previous or row.section is None else str(row.section)
        previous = row.section
        row.label_text = f"{row.label} (paper only)" if row.paper_only else str(row.label)
        row.rank_text = "" if row.rank is None else str(row.rank)
        row.seeds_text = _seeds_text(row)
        for column, cell in zip(table.columns, row.cells):
            decimals = table.decimals_for(column.metric)
            cell.paper_text = _paper_text(row, column, cell, decimals)
            cell.ours_text = _ours_text(table.intervals, row, column, cell, decimals)
            cell.delta_text = _delta_text(cell, decimals) if table.shows_delta(column) else ""


def _seeds_text(row: Row) -> str:
    done, asked = row.seeds
    if row.paper_only or asked == 0:
        return ""
    return str(asked) if done == asked else f"{done}/{asked}"


def _arrow(gain: float, decimals: int) -> tuple[str, str]:
    return ("up" if gain > 0 else "down"), format_number(abs(gain), decimals)


def _paper_text(row: Row, column: Column, cell: Cell, decimals: int) -> CellText:
    if cell.paper is None:
        return CellText("")
    gain = kind = None
    if cell.paper_gain and column.metric in ACCURACY_METRICS and not row.is_baseline:
        kind, gain = _arrow(cell.paper_gain, decimals)
    return CellText(format_number(cell.paper, decimals), gain=gain, gain_kind=kind)


def _ours_text(intervals: str, row: Row, column: Column, cell: Cell, decimals: int) -> CellText:
    """``intervals`` is the table's report.intervals: "ci" prints the interval, "pm" its half-width as ±."""
    if row.paper_only:
        return CellText("")
    if cell.ours is None:
        return CellText(MISSING if cell.missing else "")
    spread = format_number(cell.std, decimals) if cell.std is not None else None
    interval = None
    if cell.ci_low is not None and column.metric in ACCURACY_METRICS:
        if intervals == "ci":
            interval = f"{format_number(cell.ci_low, decimals)}, {format_number(cell.ci_high, decimals)}"
        elif intervals == "pm":
            # ± the interval's half-width takes the place of the seed std (the caption says so)
            spread = format_number((cell.ci_high - cell.ci_low) / 2, decimals)
    gain = kind = None
    if cell.gain is not None and column.metric in ACCURACY_METRICS and not row.is_baseline:
        if cell.gain_shown:
            kind, gain = _arrow(cell.gain, decimals)
        else:
            kind, gain = "noise", format_number(cell.gain, decimals, signed=True)
    return CellText(format_number(cell.ours, decimals), spread=spread, gain=gain, gain_kind=kind,
                    interval=interval)


def _delta_text(cell: Cell, decimals: int) -> str:
    if cell.delta is None:
        return ""
    # round off float noise (6.4 − 6.4 = 9e-16 would print as +0.0000)
    return format_number(round(cell.delta, 9), decimals, signed=True)
