"""spec -> plan -> records -> report with the real spec loader, planner and store, on the matrix
files in experiments/tables/. Records are written by the test (numbers it chooses) in the store
layout of docs/ARCHITECTURE.md, as the worker would write them."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from tests.report.report_fixtures import write_record

from ssa_bench.report import check_paper, report_table, write_report
from ssa_bench.report.caption import caption_sentences
from ssa_bench.report.render_latex import render_latex

import ssa_bench.matrix as spec_module
import ssa_bench.store as store_module

REPO = Path(__file__).resolve().parents[2]
TABLE_SPECS = sorted(p.name for p in (REPO / "experiments" / "tables").glob("*.yaml"))
TABLE3 = ["Baseline", "+ SEPA", "+ SPPA", "+ SEPA + SPPA", "+ SEPA + Lg + Lsd", "+ SPPA + Lg + Lpd", "SSA (Ours)"]


@pytest.fixture(autouse=True)
def _from_repo_root(from_repo_root):
    """Spec paths like tables/table3.yaml resolve under experiments/ of the repository."""


def _planned(name: str, profile: str):
    spec = spec_module.load_spec(f"tables/{name}", profile=profile)
    return spec, spec_module.plan(spec)


def _fill(root: Path, runs, skip=(), miou=lambda index: 40.0 + 0.25 * index) -> None:
    """A record for every distinct run but those in `skip`; mIoU rises with the run's position."""
    seen = []
    for run in runs:
        if run.id not in seen:
            seen.append(run.id)
    for index, run_id in enumerate(seen):
        if run_id not in skip:
            write_record(root, run_id, miou=miou(index), seed=0)


@pytest.mark.parametrize("profile", ["paper", "cpu-demo"])
def test_table3_from_spec_to_files(tmp_path, profile):
    spec, runs = _planned("table3.yaml", profile)
    store = store_module.Store(tmp_path)
    _fill(tmp_path, runs, skip={runs[-1].id})
    table = report_table(spec, runs, store)
    assert [row.label for row in table.rows] == TABLE3
    miou = next(i for i, c in enumerate(table.columns) if c.metric == "mIoU")
    assert [row.cells[miou].paper for row in table.rows] == pytest.approx(
        [42.36, 42.88, 42.76, 43.27, 44.26, 44.48, 45.36])
    assert table.rows[-1].cells[miou].missing
    assert all(row.cells[miou].ours is not None for row in table.rows[:-1])
    if profile == "cpu-demo":
        assert any("CPU demo on synthetic data" in s for s in caption_sentences(table))
    paths = write_report(spec, runs, store, formats=["latex", "markdown", "csv"], out_dir=None)
    assert paths["csv"].parent == tmp_path / "reports" / spec.name
    # What the files say is what the records hold: each row's mIoU is the value written for
    # its run (the last run has none), the paper's number beside it.
    written = {run.label: 40.0 + 0.25 * index for index, run in enumerate(runs[:-1])}
    frame = pd.read_csv(paths["csv"])
    csv_rows = frame[frame["metric"] == "mIoU"].set_index("label")
    for label, value in written.items():
        assert csv_rows.loc[label, "ours"] == pytest.approx(value)
    assert pd.isna(csv_rows.loc[runs[-1].label, "ours"])
    assert csv_rows.loc["Baseline", "paper"] == pytest.approx(42.36)
    markdown = paths["markdown"].read_text()
    latex = paths["latex"].read_text()
    body = latex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    latex_rows = [line for line in body.splitlines() if "&" in line]
    assert len(latex_rows) == len(TABLE3)
    for index, (label, value) in enumerate(written.items()):
        assert f"{value:.2f}" in _table_line(markdown, f"| {label} |"), label
        assert f"{value:.2f}" in latex_rows[index], label


def _table_line(text: str, start: str) -> str:
    lines = [line for line in text.splitlines() if line.lstrip().startswith(start)]
    assert len(lines) == 1, (start, lines)
    return lines[0]


@pytest.mark.parametrize("name", TABLE_SPECS)
def test_every_matrix_file_reports_beside_the_papers_numbers(tmp_path, name):
    spec, runs = _planned(name, "paper")
    _fill(tmp_path, runs)
    table = report_table(spec, runs, tmp_path)
    assert table.rows and not any(c.missing for row in table.rows for c in row.cells)
    if not table.has_paper:
        return
    miou = [i for i, c in enumerate(table.columns) if c.metric == "mIoU"]
    unmatched = [(row.section, row.label) for row in table.rows if all(row.cells[i].paper is None for i in miou)]
    # Every row the spec runs has the paper's numbers beside it.
    assert not unmatched, unmatched
    if table.paper.key == "table2":
        assert not [row for row in table.rows if row.paper_only]
        assert {"ProtoSeg", "DNC", "GMMSeg", "CAC"} <= {row.label for row in table.rows}


@pytest.mark.latex
@pytest.mark.parametrize("name", TABLE_SPECS)
def test_every_matrix_files_latex_compiles(tmp_path, name):
    from test_latex_compile import PDFLATEX, compile_latex

    if PDFLATEX is None:
        pytest.skip("pdflatex is not installed (apt-get install $(grep -v '^#' ci/apt-latex.txt))")
    spec, runs = _planned(name, "cpu-demo")
    _fill(tmp_path, runs, skip={runs[0].id})
    compile_latex(render_latex(report_table(spec, runs, tmp_path)), tmp_path / "latex")


def test_check_paper_gate_through_the_cli(tmp_path, capsys):
    from ssa_bench.cli import main

    spec, runs = _planned("table3.yaml", "paper")
    paper = [42.36, 42.88, 42.76, 43.27, 44.26, 44.48, 45.36]
    _fill(tmp_path, runs, miou=lambda index: paper[index] + (1.5 if index == 2 else 0.1))
    check = check_paper(spec, runs, tmp_path, tolerance=1.0)
    assert [(d.row, round(d.diff, 2)) for d in check.differences] == [("+ SPPA", 1.5)]
    common = ["report", "tables/table3.yaml", "--results-dir", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(common + ["--check-paper", "1.0"]) == 1
    assert "+ SPPA" in capsys.readouterr().err
    assert main(common + ["--check-paper", "2.0"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == sorted(f"{spec.name}{s}" for s in (".csv", ".md", ".tex", ".provenance.json"))
