"""The worker: a run's missing stages in order, cached, its record, resume after a kill, failures."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssa_bench import worker
from ssa_bench.errors import DataError
from ssa_bench.store import Store

from tests.stages.stage_helpers import add_run, run_config  # noqa: E402

RECORD_KEYS = {"schema", "id", "config", "metrics", "curve", "flops", "params_m", "latency", "train",
               "seed", "env", "finished_at"}


@pytest.fixture
def store(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    monkeypatch.setenv("SSA_BENCH_THREADS", "1")
    return Store(tmp_path / "results")


def test_every_stage_of_the_store_has_a_function():
    # The store names the stages (and their order); the worker only maps each name to its code.
    from ssa_bench import store as store_module

    assert worker.STAGES is store_module.STAGES
    assert set(worker.STAGE_FUNCTIONS) == set(store_module.STAGES)


def test_failure_leaves_traceback_and_state(store):
    config = run_config()
    config["cfg"] = {"model.decode_head.type": "NoSuchHead"}      # builds, then fails in mmseg
    run_id = add_run(store, config)
    with pytest.raises(Exception, match="NoSuchHead"):
        worker.execute_run(store.root, run_id)
    state = store.read_state(run_id)
    assert state["state"] == "failed" and "\n" not in state["reason"] and "NoSuchHead" in state["reason"]
    # Relative to the run's folder (the results folder may move); resolved by the store.
    assert state["traceback"] == "traceback.txt"
    assert store.resolve(run_id, state["traceback"]) == store.path(run_id, "traceback.txt")
    assert "NoSuchHead" in Path(store.resolve(run_id, state["traceback"])).read_text()
    assert store.record(run_id) is None and not store.stage_done(run_id, "train")
    # The CLI: exit code 1, the same recorded failure.
    assert worker.main(["--results-dir", store.root, run_id]) == 1


def test_missing_dataset_fails_before_training(store, tmp_path):
    config = run_config()
    config.update(dataset="mine", dataset_def={"root": str(tmp_path / "nowhere"), "classes": ["a", "b"],
                                               "reduce_zero_label": False, "img_suffix": ".jpg",
                                               "seg_map_suffix": ".png"})
    run_id = add_run(store, config)
    with pytest.raises(DataError, match="mine"):
        worker.execute_run(store.root, run_id)
    assert store.read_state(run_id)["state"] == "failed"
    assert "nowhere" in store.read_state(run_id)["reason"]


def test_unknown_run_id(store):
    with pytest.raises(FileNotFoundError, match="run.json"):
        worker.execute_run(store.root, "0123456789ab")


def test_git_commit_and_versions():
    commit = worker._git_commit()
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    versions = worker._versions()
    assert "torch" in versions and "mmsegmentation" in versions


@pytest.mark.slow
def test_full_run_record_and_cache(store, monkeypatch):
    run_id = add_run(store, run_config(ssa=True, seed=5))
    record = worker.execute_run(store.root, run_id)
    assert record == store.record(run_id)
    assert RECORD_KEYS <= set(record)
    assert record["id"] == run_id and record["seed"] == 5 and record["config"] == store.read_config(run_id)
    metrics = record["metrics"]
    assert {"mIoU", "mAcc", "aAcc", "per_class_iou"} <= set(metrics) and len(metrics["per_class_iou"]) == 8
    assert [p["iter"] for p in record["curve"]] == [10, 20]
    assert record["flops"]["paper"] > 0 and record["flops"]["input_size"] == [64, 64]
    assert record["params_m"] > 0
    assert record["latency"]["device"] == "cpu" and record["latency"]["median_ms"] > 0
    assert record["train"]["iters"] == 20 and record["train"]["resumed_from_iter"] is None
    assert record["dump"] == ["dump/predictions.npz", "dump/ssa_analysis.npz"]
    env = record["env"]
    assert env["host"] and env["python"].startswith("3.") and "torch" in env["versions"]
    assert "git_commit" in env
    state = store.read_state(run_id)
    assert state["state"] == "done" and "traceback" not in state
    assert not os.path.exists(store.path(run_id, "traceback.txt"))
    stamps = {name: os.stat(store.stage_path(run_id, name)).st_mtime_ns for name in worker.STAGES}

    # A second execution runs no stage at all: every stage is cached.
    def no_stage(name):
        def run(config, run_dir):
            raise AssertionError(f"stage {name} ran again")
        return run

    for name in worker.STAGES:
        monkeypatch.setitem(worker.STAGE_FUNCTIONS, name, no_stage(name))
    again = worker.execute_run(store.root, run_id)
    assert again["metrics"] == metrics
    assert stamps == {name: os.stat(store.stage_path(run_id, name)).st_mtime_ns for name in worker.STAGES}

    # Only the missing stage is redone.
    os.unlink(store.stage_path(run_id, "measure"))
    called = []

    def measure(config, run_dir):
        called.append("measure")
        return {"flops": {"paper": 1.0, "full": 2.0, "input_size": [64, 64]},
                "params_m": 0.5, "latency": {"device": "cpu"}}

    monkeypatch.setitem(worker.STAGE_FUNCTIONS, "measure", measure)
    worker.execute_run(store.root, run_id)
    assert called == ["measure"] and store.record(run_id)["params_m"] == 0.5


@pytest.mark.slow
def test_killed_worker_resumes_from_checkpoint(store):
    """SIGKILL the worker process right after its first checkpoint; the next execution continues
    from that checkpoint (not from iteration 0) and finishes the run."""
    run_id = add_run(store, run_config(max_iters=30, checkpoint_interval=10, val_interval=15))
    work = Path(store.run_dir(run_id)) / "work_dir"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "ssa_bench.worker", "--results-dir", store.root, run_id],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not (work / "iter_10.pth").exists():
        assert process.poll() is None, "worker ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not store.stage_done(run_id, "train") and store.record(run_id) is None
    assert store.read_state(run_id)["state"] == "running"     # what a killed job leaves behind

    record = worker.execute_run(store.root, run_id)
    resumed = record["train"]["resumed_from_iter"]
    assert resumed is not None and 10 <= resumed < 30
    assert record["train"]["iters"] == 30
    assert [p["iter"] for p in record["curve"]] == [15, 30]
    assert store.read_state(run_id)["state"] == "done"
