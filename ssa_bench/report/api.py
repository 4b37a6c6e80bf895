"""What the CLI calls: gather a spec's runs, build its table, write or print it, gate on the paper.

    report_table(spec, runs, store) -> ReportTable (numbers, intervals, cell texts, caption: in that order)
    write_report(spec, runs, store, formats, out_dir) -> {format: path}
    terminal_table(spec, runs, store) -> rich renderable
    check_paper(spec, runs, store, tolerance) -> PaperCheck (compared, differences, missing; paper_check.py)
"""
from __future__ import annotations

import json
from pathlib import Path
from ssa_bench.errors import UserError
from ssa_bench.store import Store, write_text_atomic
from ssa_bench.report.caption import from_scratch_baselines, write_caption
from ssa_bench.report.cells import write_cell_texts
from ssa_bench.report.gather import gather, results_root
from ssa_bench.report.intervals import attach_intervals
from ssa_bench.report.paper_check import (EXAMPLE, PaperCheck, Tolerances, compare_with_paper, parse_tolerances,
                                          uncovered_metrics)
from ssa_bench.report.render_csv import render_csv
from ssa_bench.report.render_json import render_json
from ssa_bench.report.render_latex import render_latex
from ssa_bench.report.render_markdown import render_markdown
from ssa_bench.report.render_terminal import terminal_renderable, terminal_text
from ssa_bench.report.table_model import ReportTable, build_table

RENDERERS = {"latex": (render_latex, ".tex"), "markdown": (render_markdown, ".md"), "csv": (render_csv, ".csv"),
             "json": (render_json, ".json")}
DEFAULT_FORMATS = ("latex", "markdown", "csv")     # json on request: --format json


def report_table(spec, runs, store) -> ReportTable:
    """Gather the spec's runs from the store and build its table model, each step once and in order:
    every number (table_model), the bootstrap intervals from the runs' evidence (intervals), every
    cell's and row's text (cells), the caption (caption). The renderers only lay it out."""
    frame = gather(store, runs)
    table = build_table(spec, frame)
    table.from_scratch = from_scratch_baselines(runs)
    table.batch_notes = sorted({note for note in frame["train_batch_note"] if isinstance(note, str) and note})
    table.overrides = list(spec.overrides)
    attach_intervals(table, frame, Store(results_root(store)))
    write_cell_texts(table)
    write_caption(table)
    return table


def provenance(table: ReportTable) -> dict:
    """What the report's provenance JSON records next to the rendered files."""
    return {"table": table.name, "spec": table.spec_path, "profile": table.profile,
            "paper_table": table.paper_name or None, "caption": table.caption_line, "notes": table.notes,
            "overrides": list(table.overrides), "baselines": list(table.ours_baselines),
            "datasets": list(table.ours_datasets), "eval_modes": list(table.ours_eval_modes),
            "from_scratch": list(table.from_scratch), "batch_notes": list(table.batch_notes),
            "runs": sorted({run_id for row in table.rows for run_id in row.run_ids})}


def default_out_dir(spec, store) -> Path:
    return results_root(store) / "reports" / str(spec.name)


def write_report(spec, runs, store, formats=DEFAULT_FORMATS, out_dir=None,
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
    # the caption's details and the runs behind the table, for a paper's supplementary material;
    # "results" (cells with a number of ours) lets a later `report` see what it would replace (kept.py)
    from ssa_bench.report.kept import count_results

    path = directory / f"{table.name}.provenance.json"
    record = {**provenance(table), "results": count_results(table)}
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    paths["provenance"] = path
    return paths


def terminal_table(spec, runs, store):
    """The rich renderable the CLI prints (a table and its caption lines)."""
    return terminal_renderable(report_table(spec, runs, store))


def report_text(spec, runs, store, width: int = 160) -> str:
    """The terminal table as plain text."""
    return terminal_text(report_table(spec, runs, store), width=width)


def paper_gate(table: ReportTable, tolerances: Tolerances) -> None:
    """Refuse (UserError, exit 2) a --check-paper that could not check what it is asked to: a spec
    without a paper table, or a metric with paper numbers and no tolerance. Called before writing."""
    if table.paper is None:
        raise UserError("--check-paper: the spec names no paper table, so there is nothing to compare",
                        file=table.spec_path, key="paper_table",
                        fix="set paper_table (e.g. paper_table: 3) or drop --check-paper")
    uncovered = uncovered_metrics(table, tolerances)
    if uncovered:
        raise UserError(f"no tolerance for {', '.join(uncovered)}, which the table "
                        "has paper numbers for", key="--check-paper",
                        fix=f"add a default (--check-paper 0.5) or {uncovered[0]}=TOL or {uncovered[0]}=off")


def tolerances_from(values) -> Tolerances:
    """--check-paper's values (or one number for every metric) -> Tolerances; UserError when malformed."""
    if isinstance(values, Tolerances):
        return values
    if isinstance(values, (int, float)):
        values = [repr(float(values))]
    try:
        return parse_tolerances(values)
    except ValueError as error:
        raise UserError(str(error), key="--check-paper", fix=EXAMPLE) from None


def check_paper(spec, runs, store, tolerance, table: ReportTable | None = None) -> PaperCheck:
    """Every cell with a paper number against its metric's tolerance (``tolerance``: Tolerances, one
    number for every metric in its own unit, or the option's values such as ["0.5,gflops=5%"])."""
    tolerances = tolerances_from(tolerance)
    table = table or report_table(spec, runs, store)
    paper_gate(table, tolerances)
    return compare_with_paper(table, tolerances)
