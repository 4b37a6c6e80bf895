"""Run ids, sharing of runs between tables, and which runs `run` executes again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssa_bench.executors.base import prepare_runs, select_runs
from ssa_bench.matrix import Run, load_spec, plan, run_id
from ssa_bench.matrix.cost import estimate_seconds
from ssa_bench.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_ids_do_not_depend_on_row_order_or_labels(tmp_path):
    text = (REPO / "experiments/tables/table3.yaml").read_text()
    spec = load_spec("tables/table3.yaml")
    head, rows_and_rest = text.split("rows:\n", 1)
    rows, rest = rows_and_rest.split("report:", 1)
    blocks = ["  - " + b for b in rows.split("  - ")[1:]]
    reordered = head + "rows:\n" + "".join(reversed(blocks)) + "report:" + rest
    reordered = reordered.replace("label: Baseline", "label: The baseline")
    (tmp_path / "t3.yaml").write_text(reordered)
    other = load_spec(str(tmp_path / "t3.yaml"))
    assert {r.id for r in plan(spec)} == {r.id for r in plan(other)}
    assert [r.id for r in plan(spec)] == [r.id for r in plan(load_spec("tables/table3.yaml"))]


def test_table3_and_table4_share_their_common_trainings():
    t3 = {r.label: r.id for r in plan(load_spec("tables/table3.yaml"))}
    t4 = {r.label: r.id for r in plan(load_spec("tables/table4.yaml"))}
    assert t3["SSA (Ours)"] == t4["+ Lg + Lrd + Lsd + Lpd"]
    assert t3["+ SEPA + SPPA"] == t4["Baseline + SEPA + SPPA"]
    assert len(set(t3.values())) == 7


def test_id_is_a_hash_of_the_canonical_config():
    config = {"b": 1, "a": {"y": [1, 2], "x": None}}
    assert run_id(config) == run_id({"a": {"x": None, "y": [1, 2]}, "b": 1})
    assert run_id(config) != run_id({**config, "b": 2})
    assert len(run_id(config)) == 12


def _run(name: str) -> Run:
    return Run(id=name, label=name, group=name, section=None, column=None, seed=0, row_index=0,
               config={"x": name}, spec_name="t", paper_baseline="b", paper_dataset="d")


def test_select_runs_skips_done_and_in_flight_and_redoes_the_rest(tmp_path):
    store = Store(tmp_path)
    runs = [_run(n) for n in ("done", "failed", "pending", "missing", "slurm", "stale", "alive")]
    for run in runs[:-1]:
        store.write_run(run)
    store.set_state("done", "done")
    store.write_record("done", {"id": "done"})
    store.set_state("failed", "failed", traceback="t", reason="boom")
    store.set_state("pending", "pending")
    store.set_state("slurm", "running", executor="slurm", job_id="12_0")
    store.set_state("stale", "running", executor="local", pid=2 ** 22 + 12345)   # no such process
    store.set_state("alive", "running", executor="local", pid=os.getpid())
    to_run, skipped = select_runs(runs, store)
    assert [r.id for r in to_run] == ["failed", "pending", "missing", "stale"]
    assert {r.id for r in skipped} == {"done", "slurm", "alive"}
    to_run, _ = select_runs(runs, store, rerun_failed=True)
    assert [r.id for r in to_run] == ["failed"]


def test_force_reruns_done_runs_from_scratch(tmp_path):
    store = Store(tmp_path)
    run = _run("done")
    store.write_run(run)
    store.set_state("done", "done")
    store.write_record("done", {"id": "done"})
    store.write_stage("done", "train", {"iters": 1})
    checkpoint = Path(store.work_dir("done")) / "iter_1.pth"
    checkpoint.write_bytes(b"x")
    to_run, _ = select_runs([run], store, force=True)
    assert to_run == [run] and store.record("done") is not None     # selecting (a dry run) changes nothing
    prepare_runs(to_run, store)
    assert store.record("done") is None and not store.stage_done("done", "train") and not checkpoint.exists()
    assert store.read_run("done") is not None


def test_estimates():
    paper = plan(load_spec("tables/table3.yaml"))[0].config
    demo = plan(load_spec("tables/table3.yaml", profile="cpu-demo"))[0].config
    assert estimate_seconds(paper) > 3600 * 4            # 160k iterations on a GPU
    assert 10 < estimate_seconds(demo) < 600


def test_plan_json_lists_table3_without_importing_torch(tmp_path):
    code = ("import sys, runpy; sys.argv = ['ssa-bench', 'plan', 'tables/table3.yaml', '--json', "
            f"'--results-dir', {str(tmp_path)!r}]\n"
            "from ssa_bench.cli import main\n"
            "code = main()\n"
            "assert 'torch' not in sys.modules and 'mmseg' not in sys.modules, 'planning imported torch'\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["label"] for r in rows] == ["Baseline", "+ SEPA", "+ SPPA", "+ SEPA + SPPA", "+ SEPA + Lg + Lsd",
                                          "+ SPPA + Lg + Lpd", "SSA (Ours)"]
    assert all(len(r["id"]) == 12 and r["state"] == "pending" for r in rows)


def test_a_local_running_state_without_a_pid_is_not_in_flight(tmp_path):
    # os.kill(0, 0) signals our own process group: a "running" state with no pid was taken as alive
    # forever, so the run was never redone.
    from ssa_bench.executors.base import in_flight

    store = Store(tmp_path)
    for name, info in (("no-pid", {}), ("zero", {"pid": 0}), ("alive", {"pid": os.getpid()})):
        store.write_run(_run(name))
        store.set_state(name, "running", executor="local", **info)
    assert not in_flight(store, "no-pid") and not in_flight(store, "zero")
    assert in_flight(store, "alive")
