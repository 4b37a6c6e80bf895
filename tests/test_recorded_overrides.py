"""Runs made under --set overrides are found again (issue 25, measured case 2): after `run SPEC --set
train.max_iters=20`, `status`/`report`/`figures` without the --set say where the results are and how
to select them (--use-recorded-overrides); `report` does not replace a table with numbers by an
all-pending one; the command `figures` suggests keeps the overrides."""
from __future__ import annotations

import json
import os

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


# -- found by mutation testing (tools/mutation.py store): store/plans.py on its own ----------------
def _plain_run(run_id):
    from ssa_bench.matrix.run import Run

    return Run(id=run_id, label=run_id, group=run_id, section=None, column=None, seed=0, row_index=0,
               config={"baseline": "segformer_mini"}, spec_name="t.yaml", paper_baseline="segformer_mini",
               paper_dataset="demo_shapes")


def test_record_plan_keeps_one_entry_per_spec_profile_and_overrides(tmp_path):
    from ssa_bench.store.plans import KEY, plan_entry, record_plan

    store = Store(tmp_path)
    run = _plain_run("r1")
    entry = plan_entry("t.yaml", "/specs/t.yaml", "paper", ["a=1"])
    assert entry == {"spec": "t.yaml", "path": "/specs/t.yaml", "profile": "paper", "overrides": ["a=1"]}
    record_plan(store, run, entry)                                   # run.json written first
    record_plan(store, run, plan_entry("t.yaml", "/elsewhere/t.yaml", "paper", ["a=1"]))   # same plan
    record_plan(store, run, plan_entry("t.yaml", "/specs/t.yaml", "cpu-demo", ["a=1"]))
    record_plan(store, run, plan_entry("t.yaml", "/specs/t.yaml", "paper", []))
    stored = json.loads(open(store.paths("r1").config).read())
    assert stored["id"] == "r1" and stored["config"] == run.config
    assert [(item["path"], item["profile"], item["overrides"]) for item in stored[KEY]] == [
        ("/specs/t.yaml", "paper", ["a=1"]), ("/specs/t.yaml", "cpu-demo", ["a=1"]), ("/specs/t.yaml", "paper", [])]
    assert all(len(item["at"]) >= 19 and item["at"][4] == "-" for item in stored[KEY])


def test_recorded_plans_rank_by_done_runs_then_runs_then_newest(tmp_path):
    from ssa_bench.store.plans import KEY, recorded_plans

    store = Store(tmp_path)
    os.makedirs(store.paths("a_damaged").run_dir)
    with open(store.paths("a_damaged").config, "w") as handle:
        handle.write("{")                                            # listed first, skipped
    plans = {"b1": [("paper", ["x=1"], "2026-01-01T00:00:00"), ("paper", [], "2026-01-02T00:00:00")],
             "b2": [("paper", ["x=1"], "2026-01-03T00:00:00"), ("other", [], "2026-01-01T00:00:00")],
             "b3": [("paper", [], "2026-01-05T00:00:00")]}
    for run_id, items in plans.items():
        store.write_run(_plain_run(run_id))
        value = json.loads(open(store.paths(run_id).config).read())
        value[KEY] = [{"spec": "t.yaml", "profile": p, "overrides": o, "at": at} for p, o, at in items]
        value[KEY].append({"spec": "u.yaml", "profile": "paper", "overrides": [], "at": "2027"})
        with open(store.paths(run_id).config, "w") as handle:
            json.dump(value, handle)
    write_record(tmp_path, "b3", miou=30.0)
    found = recorded_plans(store, "t.yaml")
    assert [(p.profile, p.overrides, p.run_ids, p.done, p.last) for p in found] == [
        ("paper", [], ["b1", "b3"], 1, "2026-01-05T00:00:00"),
        ("paper", ["x=1"], ["b1", "b2"], 0, "2026-01-03T00:00:00"),
        ("other", [], ["b2"], 0, "2026-01-01T00:00:00")]
    assert found[1].flags() == "--profile paper --set x=1" and found[1].flags(with_profile=False) == "--set x=1"
