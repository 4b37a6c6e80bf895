"""Root cause 3: report settings were checked only by `report`, after training, or never.

`plan` and `run` refuse every name the report would not find, before a run starts.
"""
from __future__ import annotations

import pytest

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: Baseline}, {label: SSA, ssa: {enabled: true}}]\n"

CASES = [
    pytest.param("report: {columns: [mIoU, miou2]}", "report.columns[1]", "unknown metric 'miou2'",
                 id='columns-unknown-metric'),
    pytest.param("report: {columns: [gflop]}", "report.columns[0]", "did you mean 'gflops'",
                 id='columns-near-miss'),
    pytest.param("report: {rank_by: speed}", "report.rank_by", "unknown metric 'speed'",
                 id='rank_by-unknown-metric'),
    pytest.param("report: {decimals: {mIoU: 9}}", "report.decimals.mIoU", "0 to 6",
                 id='decimals-above-6'),
    pytest.param("report: {decimals: {mIoU: -1}}", "report.decimals.mIoU", "0 to 6",
                 id='decimals-negative'),
    pytest.param("report: {decimals: {mIoU: 1.5}}", "report.decimals.mIoU", "expected an integer, got float 1.5",
                 id='decimals-float'),
    pytest.param("report: {decimals: {mIoU: true}}", "report.decimals.mIoU", "expected an integer, got bool True",
                 id='decimals-bool'),
    pytest.param("report: {decimals: {accuracy: 1}}", "report.decimals.accuracy", "unknown metric",
                 id='decimals-unknown-metric'),
    pytest.param("report: {decimals: [1]}", "report.decimals", "expected a mapping",
                 id='decimals-not-a-mapping'),
    pytest.param("report: {baseline_row: Basline}", "report.baseline_row", "did you mean 'Baseline'",
                 id='baseline_row-near-miss'),
    pytest.param("report: {baseline_row: Nothing}", "report.baseline_row", "names no row",
                 id='baseline_row-no-such-row'),
    pytest.param("report: {paper_only_rows: [DNC]}", "report.paper_only_rows", "no paper table",
                 id='paper_only_rows-without-paper-table'),
    pytest.param("paper_table: 3\nreport: {paper_only_rows: [Not A Row]}", "report.paper_only_rows[0]",
                 "is not in the paper's", id='paper_only_rows-not-in-paper-table'),
    pytest.param("paper_table: 3\nreport: {paper_only_rows: [{section: x}]}", "report.paper_only_rows[0]", "needs a label",
                 id='paper_only_rows-without-label'),
    pytest.param("paper_table: 42", "paper_table", "unknown paper table '42'",
                 id='paper_table-unknown-number'),
    pytest.param("report: {paper_table: tabel3}", "paper_table", "unknown paper table",
                 id='paper_table-near-miss'),
    pytest.param("columns: datset", "columns", "names no run key",
                 id='columns-no-run-key'),
    pytest.param("sections: basline", "sections", "did you mean 'baseline'",
                 id='sections-near-miss'),
    pytest.param("report: {colums: [mIoU]}", "report.colums", "did you mean 'columns'",
                 id='report-key-near-miss'),
]


# Explicit ids: the YAML snippets hold newlines, which mutmut's in-process pytest cannot select.
@pytest.mark.parametrize("extra,key,message", CASES)
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
