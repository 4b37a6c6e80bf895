"""What the CLI calls: gather a spec's runs, build its table, write or print it, gate on the paper.

    write_report(spec, runs, store, formats, out_dir) -> {format: path}
    terminal_table(spec, runs, store) -> rich renderable
    check_paper(spec, runs, store, tolerance) -> [PaperDifference(row, column, paper, ours, diff), ...]
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ssa_bench.errors import UserError
from ssa_bench.store import write_text_atomic
from ssa_bench.matrix.report_settings import ACCURACY_METRICS
from ssa_bench.report.gather import gather, results_root
from ssa_bench.report.render_csv import render_csv
from ssa_bench.report.render_latex import render_latex
from ssa_bench.report.render_markdown import render_markdown
from ssa_bench.report.render_terminal import terminal_renderable, terminal_text
from ssa_bench.report.table_model import ReportTable, build_table

RENDERERS = {"latex": (render_latex, ".tex"), "markdown": (render_markdown, ".md"), "csv": (render_csv, ".csv")}


def report_table(spec, runs, store) -> ReportTable:
    """Gather the spec's runs from the store and build its table model."""
    from ssa_bench.report.caption import from_scratch_baselines

    from ssa_bench.report.intervals import attach_intervals
    from ssa_bench.store import Store

    frame = gather(store, runs)
    table = build_table(spec, frame)
    table.from_scratch = from_scratch_baselines(runs)
    attach_intervals(table, frame, Store(results_root(store)))
    return table


def default_out_dir(spec, store) -> Path:
    return results_root(store) / "reports" / str(spec.name)


def write_report(spec, runs, store, formats=("latex", "markdown", "csv"), out_dir=None,
                 table: ReportTable | None = None) -> dict[str, Path]:
    """Write the table in each format to `out_dir` (default <results>/reports/<spec name>/)."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"unknown report format '{unknown[0]}'", key="--format",
                        fix=f"use one of: {', '.join(RENDERERS)}")
    table = table or report_table(spec, runs, store)
    directory = Path(out_dir) if out_dir else default_out_dir(spec, store)
    paths = {}
    for fmt in formats:
        render, suffix = RENDERERS[fmt]
        path = directory / f"{table.name}{suffix}"
        write_text_atomic(path, render(table))     # readable by others as the umask allows
        paths[fmt] = path
    return paths


def terminal_table(spec, runs, store):
    """The rich renderable the CLI prints (a table and its caption lines)."""
    return terminal_renderable(report_table(spec, runs, store))


def report_text(spec, runs, store, width: int = 160) -> str:
    """The terminal table as plain text."""
    return terminal_text(report_table(spec, runs, store), width=width)


class PaperDifference(NamedTuple):
    row: str        # "section / label"
    column: str     # "group metric"
    paper: float
    ours: float
    diff: float     # |ours - paper|

    def __str__(self) -> str:
        return (f"{self.row} | {self.column}: paper {self.paper:g}, ours {self.ours:.2f}, "
                f"|diff| {self.diff:.2f}")


def paper_differences(table: ReportTable, tolerance: float, metrics=ACCURACY_METRICS) -> list[PaperDifference]:
    """Cells where ours differs from the paper by more than `tolerance` points (accuracy metrics by
    default: GFLOPs and latency differ by counter and device, not by reproduction quality).
    Missing cells are not differences; the report flags them."""
    if tolerance < 0:
        raise UserError(f"--check-paper tolerance must be >= 0, got {tolerance:g}", key="--check-paper",
                        fix="pass the allowed difference in points, e.g. --check-paper 0.5")
    found = []
    for row in table.rows:
        name = " / ".join(str(p) for p in (row.section, row.label) if p is not None)
        for column, cell in zip(table.columns, row.cells):
            if column.metric in metrics and cell.delta is not None and abs(cell.delta) > tolerance:
                where = f"{column.group_title} {column.metric}" if column.group_title else column.metric
                found.append(PaperDifference(name, where, cell.paper, cell.ours, abs(cell.delta)))
    return found


def check_paper(spec, runs, store, tolerance: float, metrics=ACCURACY_METRICS) -> list[PaperDifference]:
    """The CLI's --check-paper TOL: exit 1 when this list is not empty."""
    return paper_differences(report_table(spec, runs, store), tolerance, metrics)
