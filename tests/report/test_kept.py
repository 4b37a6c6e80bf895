"""What a report folder already holds (ssa_bench/report/kept.py), read from the provenance JSON or,
for a report older than its ``results`` count, from the CSV's ``ours`` column (found by mutation
testing, tools/mutation.py report: no test read these files directly)."""
from __future__ import annotations

import json

from ssa_bench.report.kept import Kept, describe, kept_results


def test_the_provenance_count_with_profile_and_overrides(tmp_path):
    summary = tmp_path / "table3.provenance.json"
    summary.write_text(json.dumps({"results": 5, "profile": "cpu-demo", "overrides": ["train.max_iters=20"]}))
    kept = kept_results(tmp_path, "table3", ["csv"])
    assert kept == Kept(summary, 5, ["train.max_iters=20"], "cpu-demo")
    assert describe(kept) == ("the report there (table3.provenance.json: 5 cells with results, made with "
                              "--profile cpu-demo --set train.max_iters=20)")
    summary.write_text(json.dumps({"results": 0}))
    assert kept_results(tmp_path, "table3", ["csv"]) is None


def test_an_older_report_is_judged_by_its_csv(tmp_path):
    (tmp_path / "table3.csv").write_text("label,ours\nA,41.2\nB,\nC, \nD,40\n")
    kept = kept_results(tmp_path, "table3", ["csv"])
    assert kept == Kept(tmp_path / "table3.csv", 2)
    assert describe(kept) == "the report there (table3.csv: 2 cells with results)"
    (tmp_path / "table3.provenance.json").write_text("{not json")
    assert kept_results(tmp_path, "table3", ["csv"]) == Kept(tmp_path / "table3.csv", 2)
    (tmp_path / "table3.csv").write_text("label,ours\nA,\n")
    assert kept_results(tmp_path, "table3", ["csv"]) is None
    assert kept_results(tmp_path / "none", "table3", ["csv"]) is None
