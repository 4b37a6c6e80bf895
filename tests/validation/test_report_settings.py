"""Root cause 3: report settings were checked only by `report`, after training, or never.

`plan` and `run` refuse every name the report would not find, before a run starts.
"""
from __future__ import annotations

import pytest

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: Baseline}, {label: SSA, ssa: {enabled: true}}]\n"

CASES = [
    ("report: {columns: [mIoU, miou2]}", "report.columns[1]", "unknown metric 'miou2'"),
    ("report: {columns: [gflop]}", "report.columns[0]", "did you mean 'gflops'"),
    ("report: {rank_by: speed}", "report.rank_by", "unknown metric 'speed'"),
    ("report: {decimals: {mIoU: 9}}", "report.decimals.mIoU", "0 to 6"),
    ("report: {decimals: {mIoU: -1}}", "report.decimals.mIoU", "0 to 6"),
    ("report: {decimals: {mIoU: 1.5}}", "report.decimals.mIoU", "expected an integer, got float 1.5"),
    ("report: {decimals: {mIoU: true}}", "report.decimals.mIoU", "expected an integer, got bool True"),
    ("report: {decimals: {accuracy: 1}}", "report.decimals.accuracy", "unknown metric"),
    ("report: {decimals: [1]}", "report.decimals", "expected a mapping"),
    ("report: {baseline_row: Basline}", "report.baseline_row", "did you mean 'Baseline'"),
    ("report: {baseline_row: Nothing}", "report.baseline_row", "names no row"),
    ("report: {paper_only_rows: [DNC]}", "report.paper_only_rows", "no paper table"),
    ("paper_table: 3\nreport: {paper_only_rows: [Not A Row]}", "report.paper_only_rows[0]",
     "is not in the paper's"),
    ("paper_table: 3\nreport: {paper_only_rows: [{section: x}]}", "report.paper_only_rows[0]", "needs a label"),
    ("paper_table: 42", "paper_table", "unknown paper table '42'"),
    ("report: {paper_table: tabel3}", "paper_table", "unknown paper table"),
    ("columns: datset", "columns", "names no run key"),
    ("sections: basline", "sections", "did you mean 'baseline'"),
    ("report: {colums: [mIoU]}", "report.colums", "did you mean 'columns'"),
]


@pytest.mark.parametrize("extra,key,message", CASES, ids=[c[0] for c in CASES])
def test_report_setting_refused_at_plan_and_run(refuse, extra, key, message):
    for command in ("plan", "run"):
        refuse.bad_spec(BASE + extra + "\n", key, message, command=command)


def test_paper_only_row_without_paper_table(refuse):
    refuse.bad_spec(BASE.replace("{label: Baseline}", "{label: DNC, paper_only: true}"), "rows[0]",
                    "no paper table")


def test_valid_report_settings_plan(tmp_path):
    from ssa_bench.matrix import load_spec

    path = tmp_path / "ok.yaml"
    path.write_text(BASE + "paper_table: 3\nreport: {columns: [mIoU, gflops], decimals: {mIoU: 1}, "
                    "baseline_row: Baseline}\n")
    assert len(load_spec(str(path)).runs) == 2
