"""Runs made under --set overrides are found again (issue 25, measured case 2): after `run SPEC --set
train.max_iters=20`, `status`/`report`/`figures` without the --set say where the results are and how
to select them (--use-recorded-overrides); `report` does not replace a table with numbers by an
all-pending one; the command `figures` suggests keeps the overrides."""
from __future__ import annotations

import json

import pytest

from ssa_bench.cli import main
from ssa_bench.matrix import load_spec
from ssa_bench.store import Store
from tests.report.report_fixtures import write_record

SPEC = "tables/table3.yaml"
SETS = ["--profile", "cpu-demo", "--set", "train.max_iters=20"]


@pytest.fixture(autouse=True)
def _from_repo_root(from_repo_root):
    """Spec paths like tables/table3.yaml resolve under experiments/ of the repository."""


@pytest.fixture
def recorded(tmp_path, demo_data, monkeypatch):
    """`ssa-bench run tables/table3.yaml --profile cpu-demo --set train.max_iters=20` with a stand-in
    for the local executor that writes each run's record: the store as a finished `run` leaves it."""
    from ssa_bench.executors import local
    from ssa_bench.executors.base import Outcome

    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    results = tmp_path / "results"

    def finished(runs, store, **_):
        for number, run in enumerate(runs):
            write_record(results, run.id, miou=30.0 + number)
        return Outcome(0)

    monkeypatch.setattr(local, "run_local", finished)
    assert main(["run", SPEC, *SETS, "--results-dir", str(results), "--no-report"]) == 0
    return results


def test_run_keeps_the_overrides_of_each_run_in_run_json(recorded):
    spec = load_spec(SPEC, profile="cpu-demo", overrides=["train.max_iters=20"])
    store = Store(recorded)
    for run in spec.runs:
        planned = json.loads(open(store.paths(run.id).config).read())["planned_with"]
        assert [(p["spec"], p["profile"], p["overrides"]) for p in planned] == [
            ("table3", "cpu-demo", ["train.max_iters=20"])]


def test_status_without_the_set_names_the_recorded_overrides(recorded, capsys):
    assert main(["status", SPEC, "--profile", "cpu-demo", "--results-dir", str(recorded)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "7 run(s) of this spec (7 done) were recorded with --set train.max_iters=20" in err, err
    assert "--use-recorded-overrides" in err


def test_status_names_the_recorded_profile_too(recorded, capsys):
    assert main(["status", SPEC, "--results-dir", str(recorded)]) == 0       # profile paper
    err = " ".join(capsys.readouterr().err.split())
    assert "recorded with --profile cpu-demo --set train.max_iters=20" in err, err


def test_use_recorded_overrides_shows_the_recorded_runs(recorded, capsys):
    assert main(["status", SPEC, "--use-recorded-overrides", "--json", "--results-dir", str(recorded)]) == 0
    captured = capsys.readouterr()
    assert {row["state"] for row in json.loads(captured.out)} == {"done"}
    assert "--profile cpu-demo --set train.max_iters=20" in captured.err


def test_use_recorded_overrides_without_recorded_runs_is_one_line(tmp_path, capsys):
    assert main(["status", SPEC, "--use-recorded-overrides", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run of spec 'table3' is recorded" in err[0]


def test_report_without_the_set_keeps_a_report_that_had_results(recorded, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["--results-dir", str(recorded), "--out", str(out), "--format", "markdown", "--format", "csv"]
    assert main(["report", SPEC, *SETS, *argv]) == 0
    good = {path.name: path.read_bytes() for path in out.iterdir()}
    assert "30.0" in good["table3.md"].decode()
    capsys.readouterr()
    assert main(["report", SPEC, "--profile", "cpu-demo", *argv]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "not written" in err and "--overwrite-empty" in err and "--set train.max_iters=20" in err, err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == good
    # asked for: written
    assert main(["report", SPEC, "--profile", "cpu-demo", "--overwrite-empty", *argv]) == 0
    assert (out / "table3.md").read_bytes() != good["table3.md"]


def test_report_of_a_directory_written_before_results_were_counted_judges_its_csv(recorded, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["--results-dir", str(recorded), "--out", str(out), "--format", "csv"]
    assert main(["report", SPEC, *SETS, *argv]) == 0
    provenance = out / "table3.provenance.json"       # as written before it counted results
    provenance.write_text(json.dumps({k: v for k, v in json.loads(provenance.read_text()).items() if k != "results"}))
    assert main(["report", SPEC, "--profile", "cpu-demo", *argv]) == 1


def test_report_with_recorded_overrides_stores_them_with_the_report(recorded, tmp_path):
    out = tmp_path / "report"
    assert main(["report", SPEC, "--use-recorded-overrides", "--format", "csv", "--out", str(out),
                 "--results-dir", str(recorded)]) == 0
    summary = json.loads((out / "table3.provenance.json").read_text())     # 7 rows x (mIoU, GFLOPs)
    assert summary == {**summary, "results": 14, "profile": "cpu-demo", "overrides": ["train.max_iters=20"]}


def test_figures_suggests_a_command_with_the_overrides(tmp_path, capsys):
    code = main(["figures", SPEC, "--profile", "cpu-demo", "--set", "train.max_iters=21",
                 "--results-dir", str(tmp_path), "--out", str(tmp_path / "figures")])
    err = capsys.readouterr().err
    assert code == 2
    assert "tables/table3.yaml --profile cpu-demo --set train.max_iters=21 (then" in err, err


def test_figures_without_the_set_names_the_recorded_overrides(recorded, tmp_path, capsys):
    main(["figures", SPEC, "--profile", "cpu-demo", "--results-dir", str(recorded), "--out", str(tmp_path / "f")])
    err = " ".join(capsys.readouterr().err.split())
    assert "recorded with --set train.max_iters=20" in err, err
