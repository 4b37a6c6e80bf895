"""`report --check-paper`: every cell with a paper number is compared with its metric's tolerance,
the number of cells compared is printed, and the gate trips on a pending, failed or missing cell
(unless --allow-missing) and on a table where nothing could be compared.

Specs are the real matrix files, planned by the real planner; records are written by the test into a
temp store in the worker's layout (report_fixtures.write_record), with the numbers the test chooses.
"""
from __future__ import annotations

import os
import types

import pytest
from tests.report.report_fixtures import write_record, write_state

from ssa_bench.cli import main
from ssa_bench.errors import UserError
from ssa_bench.report import check_paper, parse_tolerances, report_table
from ssa_bench.report.paper_check import Tolerance

import ssa_bench.matrix as spec_module

TABLE3_MIOU = {"Baseline": 42.36, "+ SEPA": 42.88, "+ SPPA": 42.76, "+ SEPA + SPPA": 43.27,
               "+ SEPA + Lg + Lsd": 44.26, "+ SPPA + Lg + Lpd": 44.48, "SSA (Ours)": 45.36}
TABLE3_GFLOPS = 6.4     # every row of the paper's Table 3


@pytest.fixture(autouse=True)
def _from_repo_root(from_repo_root):
    """tables/table1.yaml resolves under experiments/."""


def _planned(name: str, *sets: str):
    spec = spec_module.load_spec(f"tables/{name}", profile="paper", overrides=list(sets))
    return spec, spec_module.plan(spec)


def _report(tmp_path, spec_name: str, *extra: str, capsys) -> tuple[int, str]:
    out = tmp_path / "out"
    try:
        code = main(["report", f"tables/{spec_name}", "--results-dir", str(tmp_path / "results"),
                     "--out", str(out), *extra])
    except SystemExit as stop:      # argparse refuses a malformed value itself
        code = stop.code
    return code, capsys.readouterr().err


def _fill_table3(root, miou=None, gflops=None, skip=()):
    _, runs = _planned("table3.yaml")
    for run in runs:
        if run.label in skip:
            continue
        write_record(root, run.id, miou=(miou or {}).get(run.label, TABLE3_MIOU[run.label]),
                     gflops=(gflops or {}).get(run.label, TABLE3_GFLOPS))
    return runs


def _fill_table1_with_papers_numbers(root, skip_sections=()):
    """A record for each of Table 1's 54 runs holding the paper's own mIoU and GFLOPs for its cell
    (taken from the report's paper column on an empty store: the gate, not the lookup, is tested
    here; tests/report/test_paper_numbers.py tests the lookup)."""
    spec, runs = _planned("table1.yaml")
    table = report_table(spec, runs, root)
    paper = {}
    for row in table.rows:
        for column, cell in zip(table.columns, row.cells):
            paper[(row.section, row.label, column.group, column.metric)] = cell.paper
    written = []
    for run in runs:
        if run.section in skip_sections:
            continue
        key = (run.section, run.group, run.column)
        write_record(root, run.id, miou=paper[(*key, "mIoU")], gflops=paper[(*key, "gflops")],
                     latency_ms=30.0, device="cpu")
        written.append(run)
    return spec, runs, written


def test_table1_with_every_run_pending_fails_and_says_it_compared_nothing(tmp_path, capsys):
    # issue 23, measured case 4: exited 0 having checked nothing
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5", capsys=capsys)
    assert code == 1, err
    assert "compared 0 cells" in err
    assert "pending" in err and "--allow-missing" in err
    # allowing the missing cells leaves nothing compared: still no pass
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5", "--allow-missing", capsys=capsys)
    assert code == 1 and "compared nothing" in err, err


def test_table1_gflops_off_by_6_4_fails_while_miou_matches(tmp_path, capsys):
    # issue 23, measured case 4: GFLOPs off by 6.4 passed (only mIoU was checked)
    results = tmp_path / "results"
    spec, runs, _ = _fill_table1_with_papers_numbers(results)
    target = next(r for r in runs if r.paper_baseline == "segformer_b5" and r.label == "SSA (Ours)"
                  and r.column == "ade20k")
    table = report_table(spec, runs, results)
    gflops = next(i for i, c in enumerate(table.columns) if c.metric == "gflops" and c.group == "ade20k")
    paper_gflops = next(row for row in table.rows if target.id in row.run_ids).cells[gflops].paper
    # its mIoU stays the paper's, so that only the GFLOPs differ
    miou = next(i for i, c in enumerate(table.columns) if c.metric == "mIoU" and c.group == "ade20k")
    paper_miou = next(row for row in table.rows if target.id in row.run_ids).cells[miou].paper
    write_record(results, target.id, miou=paper_miou, gflops=paper_gflops + 6.4)
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5", capsys=capsys)
    assert code == 1, err
    differing = [line for line in err.splitlines() if line.startswith("differs")]
    assert len(differing) == 1 and "gflops" in differing[0] and "6.40" in differing[0], err
    # 9 baselines x 2 rows x 3 datasets x (mIoU, GFLOPs): 108 cells; latency on the CPU is not
    # comparable with the paper's V100 (18 cells, said so)
    assert "compared 108 cells" in err and "18 latency_ms not comparable" in err, err
    # a relative GFLOPs tolerance wide enough lets it pass
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5,gflops=15%", capsys=capsys)
    assert code == 0, err


def test_allow_missing_checks_what_exists_and_counts_it(tmp_path, capsys):
    results = tmp_path / "results"
    spec, runs = _planned("table1.yaml")
    # only the first section's runs have finished (OCRNet): the other 8 sections are pending
    _fill_table1_with_papers_numbers(results, skip_sections={r.section for r in runs} - {runs[0].section})
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5", capsys=capsys)
    assert code == 1 and "missing" in err
    code, err = _report(tmp_path, "table1.yaml", "--check-paper", "0.5", "--allow-missing", capsys=capsys)
    assert code == 0, err
    assert "compared 12 cells" in err, err           # 2 rows x 3 datasets x (mIoU, GFLOPs)


def test_a_failed_run_is_a_missing_cell(tmp_path, capsys):
    results = tmp_path / "results"
    runs = _fill_table3(results, skip={"+ SPPA"})
    write_state(results, next(r.id for r in runs if r.label == "+ SPPA"), "failed")
    code, err = _report(tmp_path, "table3.yaml", "--check-paper", "0.5", capsys=capsys)
    assert code == 1
    missing = [line for line in err.splitlines() if line.startswith("missing")]
    assert len(missing) == 2 and all("+ SPPA" in line and "failed" in line for line in missing), err
    assert "compared 12 cells" in err


def test_a_cell_with_some_seeds_missing_fails_unless_allowed(tmp_path, capsys):
    results = tmp_path / "results"
    spec, runs = _planned("table3.yaml", "seeds=[0,1]")
    for run in runs:
        if not (run.label == "SSA (Ours)" and run.seed == 1):
            write_record(results, run.id, miou=TABLE3_MIOU[run.label], gflops=TABLE3_GFLOPS, seed=run.seed)
    check = check_paper(spec, runs, results, tolerance=0.5)
    assert [(m.row, m.why) for m in check.missing] == [("SSA (Ours)", "from 1 of 2 seeds")] * 2
    assert check.compared == 14 and not check.passed() and check.passed(allow_missing=True)


def test_each_metric_has_its_own_tolerance(tmp_path, capsys):
    results = tmp_path / "results"
    _fill_table3(results, miou={"+ SEPA": 42.88 + 0.3}, gflops={"SSA (Ours)": 6.7})
    code, err = _report(tmp_path, "table3.yaml", "--check-paper", "0.5", capsys=capsys)
    assert code == 0, err                                   # 0.3 points, 0.3 GFLOPs: within 0.5
    code, err = _report(tmp_path, "table3.yaml", "--check-paper", "0.5", "--check-paper", "gflops=2%",
                        capsys=capsys)
    assert code == 1 and "SSA (Ours) | gflops" in err       # 0.3 > 2% of 6.4
    code, err = _report(tmp_path, "table3.yaml", "--check-paper", "mIoU=0.2,gflops=off", capsys=capsys)
    assert code == 1 and "+ SEPA | mIoU" in err and "7 gflops not compared (gflops=off)" in err, err
    code, err = _report(tmp_path, "table3.yaml", "--check-paper", "mIoU=0.5,gflops=off", capsys=capsys)
    assert code == 0 and "compared 7 cells" in err, err


def test_exactly_at_the_tolerance_passes(tmp_path):
    results = tmp_path / "results"
    _fill_table3(results, miou={"+ SEPA": 42.88 + 0.5})
    spec, runs = _planned("table3.yaml")
    assert check_paper(spec, runs, results, tolerance=0.5).passed()
    assert not check_paper(spec, runs, results, tolerance=0.49).passed()


@pytest.mark.parametrize("argv, expected", [
    (["--check-paper", "mIoU=0.5"], "no tolerance for gflops"),      # Table 3 has paper GFLOPs
    (["--allow-missing"], "--allow-missing"),
    (["--check-paper", "0.5", "--check-paper", "1"], "two default tolerances"),
    (["--check-paper", "gflops=1,gflops=2"], "gflops is given twice"),
])
def test_a_check_that_could_not_do_its_job_is_refused_before_writing(tmp_path, capsys, argv, expected):
    _fill_table3(tmp_path / "results")
    code, err = _report(tmp_path, "table3.yaml", *argv, capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_a_spec_without_a_paper_table_is_refused(tmp_path, capsys):
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: mine\nbase: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: a}]\n")
    out = tmp_path / "out"
    code = main(["report", str(spec), "--results-dir", str(tmp_path / "results"), "--out", str(out),
                 "--check-paper", "0.5"])
    err = capsys.readouterr().err
    assert code == 2 and "paper_table" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("text, expected", [
    ("0.5", {"default": Tolerance(0.5)}),
    ("0.5,gflops=5%", {"default": Tolerance(0.5), "gflops": Tolerance(5.0, relative=True)}),
    ("latency=off, params=1", {"latency_ms": Tolerance(None), "params_m": Tolerance(1.0)}),
    ("MIOU=0", {"mIoU": Tolerance(0.0)}),
])
def test_tolerance_syntax(text, expected):
    parsed = parse_tolerances([text])
    assert {"default": parsed.default, **parsed.per_metric} == {"default": None, **expected}


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "lots", "5%", "fps=1", "gflops=", "gflops=-2%", "0.5,,1",
                                  "mIoU=nan"])
def test_malformed_tolerances(text):
    with pytest.raises(ValueError):
        parse_tolerances([text])


def test_the_old_gate_still_reports_differences_by_row(tmp_path):
    results = tmp_path / "results"
    _fill_table3(results, miou={"+ SPPA": 42.76 + 1.5})
    spec, runs = _planned("table3.yaml")
    check = check_paper(spec, runs, results, tolerance=1.0)
    assert [(d.row, round(d.diff, 2)) for d in check.differences] == [("+ SPPA", 1.5)]
    with pytest.raises(UserError):
        check_paper(spec, runs, results, tolerance=-1)
    assert os.path.isdir(results)


def test_ci_tolerance_asks_whether_the_papers_number_lies_inside_our_interval(tmp_path):
    """Issue 27: `--check-paper mIoU=ci` gates on our bootstrap interval over test images instead of
    a fixed tolerance; a cell without per-image evidence has no interval and counts as missing."""
    from ssa_bench.report.paper_check import compare_with_paper

    root = tmp_path / "results"
    spec, runs = _planned("table3.yaml")
    _fill_table3(root, miou={label: value + 0.8 for label, value in TABLE3_MIOU.items()})
    table = report_table(spec, runs, root)
    tolerances = parse_tolerances(["mIoU=ci,gflops=0.1"])
    check = compare_with_paper(table, tolerances)
    assert check.compared == 7 and len(check.missing) == 7          # fake records: no evidence
    assert all("without an interval" in m.why for m in check.missing if m.column == "mIoU")
    miou = next(i for i, c in enumerate(table.columns) if c.metric == "mIoU")
    for row in table.rows:
        cell = row.cells[miou]
        half = 1.0 if row.label != "SSA (Ours)" else 0.5        # only this row's interval misses the paper
        cell.ci_low, cell.ci_high = cell.ours - half, cell.ours + half
    check = compare_with_paper(table, tolerances)
    assert check.compared == 14 and not check.missing
    assert [(d.row, d.column) for d in check.differences] == [("SSA (Ours)", "mIoU")]
    assert "outside our interval" in str(check.differences[0])
    with pytest.raises(ValueError, match="only mIoU"):
        parse_tolerances(["gflops=ci"])


# -- found by mutation testing (tools/mutation.py report): the gate on a hand-made table ----------
def _gate_cell(paper, ours, low=None, high=None, **extra):
    values = dict(paper=paper, ours=ours, ci_low=low, ci_high=high, n=1, n_expected=1, missing=False,
                  partial=False)
    values.update(extra)
    return types.SimpleNamespace(**values)


def _gate_table(rows, metrics=("mIoU",), **extra):
    values = dict(columns=[types.SimpleNamespace(metric=m, group_title=None) for m in metrics], rows=rows,
                  latency_comparable=True, latency=None, paper=None)
    values.update(extra)
    return types.SimpleNamespace(**values)


def _gate_row(label, *cells):
    return types.SimpleNamespace(label=label, section=None, paper_only=False, states={}, cells=list(cells))


def test_the_interval_gate_counts_edges_as_inside_and_measures_the_distance():
    from ssa_bench.report.paper_check import compare_with_paper, parse_tolerances

    table = _gate_table([
        _gate_row("at the low edge", _gate_cell(40.0, 41.0, low=40.0, high=42.0)),
        _gate_row("at the high edge", _gate_cell(42.0, 41.0, low=40.0, high=42.0)),
        _gate_row("above", _gate_cell(45.0, 41.0, low=40.0, high=42.0)),
        _gate_row("half an interval", _gate_cell(41.0, 41.0, low=40.0, high=None)),
    ])
    check = compare_with_paper(table, parse_tolerances(["mIoU=ci"]))
    assert check.compared == 3 and check.per_metric == {"mIoU": 3}
    (difference,) = check.differences
    assert (difference.row, difference.diff, difference.interval) == ("above", 4.0, (40.0, 42.0))
    assert [m.row for m in check.missing] == ["half an interval"]


def test_the_tolerance_gate_measures_the_distance_either_way_and_counts_per_metric():
    from ssa_bench.report.paper_check import compare_with_paper, parse_tolerances

    table = _gate_table([_gate_row("below", _gate_cell(42.0, 40.0), _gate_cell(10.0, 10.0)),
                         _gate_row("above", _gate_cell(40.0, 40.2), _gate_cell(10.0, 13.0))],
                        metrics=("mIoU", "gflops"))
    check = compare_with_paper(table, parse_tolerances(["0.5"]))
    assert check.per_metric == {"mIoU": 2, "gflops": 2} and check.compared == 4
    assert [(d.row, d.column, d.diff) for d in check.differences] == [("below", "mIoU", 2.0), ("above", "gflops", 3.0)]


def test_latency_on_another_device_is_not_compared_and_says_which_devices():
    from ssa_bench.report.paper_check import compare_with_paper, parse_tolerances

    rows = [_gate_row("a", _gate_cell(20.0, 90.0)), _gate_row("b", _gate_cell(21.0, 95.0))]
    table = _gate_table(rows, metrics=("latency_ms",), latency_comparable=False, latency={"device": "cpu"},
                        paper=types.SimpleNamespace(latency_device="RTX 3090"))
    check = compare_with_paper(table, parse_tolerances(["1"]))
    assert check.not_comparable == {"latency_ms": (2, "ours on cpu, the paper's on RTX 3090")}
    table.paper = None
    assert compare_with_paper(table, parse_tolerances(["1"])).not_comparable["latency_ms"][1] == \
        "ours on cpu, the paper's on a GPU"


def test_a_malformed_tolerance_is_one_line_naming_the_option_and_an_example():
    """Found by mutation testing: the error's key and fix (the project's one-line-error rule) were not asserted."""
    from ssa_bench.errors import UserError
    from ssa_bench.report.api import tolerances_from

    with pytest.raises(UserError) as caught:
        tolerances_from(["gflops=lots"])
    line = caught.value.one_line()
    assert line.startswith("--check-paper: ") and "\n" not in line
    assert line.endswith(" -- e.g. --check-paper 0.5 or --check-paper 0.5,gflops=5%,latency_ms=off "
                         "or --check-paper mIoU=ci,gflops=5%")
