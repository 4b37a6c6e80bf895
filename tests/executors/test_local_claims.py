"""The local executor and the run claim: two `run`s of the same runs at once train each run once;
a worker that dies is recorded as failed and its claim released; a run another live process holds
is followed, not trained. Workers here are a fake (a few lines of Python), so no torch."""
from __future__ import annotations

import io
import multiprocessing
import os
import sys
import textwrap
import time

from rich.console import Console

from ssa_bench.executors import get_executor
from ssa_bench.executors.local import LocalExecutor
from ssa_bench.matrix.run import Run
from ssa_bench.store import Owner, Store

FAKE_WORKER = textwrap.dedent("""
    import os, sys, time
    from ssa_bench.store import Store
    _, _, root, run_id = sys.argv
    store = Store(root)
    with open(os.path.join(root, "trainings.log"), "a") as log:   # O_APPEND: one line per start
        log.write(f"{run_id} {os.getpid()}\\n")
    if run_id.startswith("dies"):
        sys.exit(3)                                   # killed before recording anything
    time.sleep(float(os.environ.get("FAKE_TRAIN_S", "0.3")))
    store.write_record(run_id, {"id": run_id, "metrics": {"mIoU": 1.0}})
    store.set_state(run_id, "done")
""")


def _run(run_id: str) -> Run:
    return Run(id=run_id, label=run_id, group=run_id, section=None, column=None, seed=0, row_index=0,
               config={"baseline": "segformer_mini", "dataset": "demo_shapes", "train": {"device": "cpu"}},
               spec_name="t.yaml", paper_baseline="segformer_mini", paper_dataset="demo_shapes")


def _executor(root, worker) -> LocalExecutor:
    return LocalExecutor(Store(root), max_parallel=2, console=Console(file=io.StringIO()),
                         worker_command=(sys.executable, str(worker)))


def _submitter(root, worker, run_ids, barrier, results) -> None:
    executor = _executor(root, worker)
    runs = [_run(run_id) for run_id in run_ids]
    barrier.wait(timeout=60)                      # both `run`s select and claim at the same instant
    to_run, skipped = executor.select(runs)
    outcome = executor.run(to_run, attach=executor.attachable(skipped))
    results.put((os.getpid(), outcome.code, len(to_run)))


def _trainings(root) -> list[str]:
    path = os.path.join(root, "trainings.log")
    return [line.split()[0] for line in open(path)] if os.path.exists(path) else []


def test_two_runs_at_once_train_each_run_once(tmp_path):
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    run_ids = [f"r{i}" for i in range(4)]
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    for attempt in range(2):
        root = tmp_path / f"results{attempt}"
        submitters = [context.Process(target=_submitter, args=(str(root), worker, run_ids, barrier, results))
                      for _ in range(2)]
        for process in submitters:
            process.start()
        for process in submitters:
            process.join(timeout=120)
        outcomes = [results.get(timeout=10) for _ in submitters]
        assert sorted(_trainings(root)) == sorted(run_ids), outcomes        # each run exactly once
        assert all(code == 0 for _, code, _ in outcomes), outcomes          # the other one followed
        store = Store(root)
        assert all(store.view(run_id).state == "done" for run_id in run_ids)
        assert all(store.claim_holder(run_id) is None for run_id in run_ids)


def test_a_dead_worker_fails_its_run_and_releases_the_claim(tmp_path):
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    executor = _executor(tmp_path, worker)
    outcome = executor.run([_run("dies1"), _run("ok1")])
    store = executor.store
    assert outcome.code == 1 and outcome.failed == ["dies1"]
    state = store.read_state("dies1")
    assert state["state"] == "failed" and "exited with code 3" in state["reason"]
    assert store.view("ok1").state == "done"
    assert store.claim_holder("dies1") is None and store.claim_holder("ok1") is None


def test_a_run_held_by_a_live_process_is_followed_not_trained(tmp_path, monkeypatch):
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    executor = _executor(tmp_path, worker)
    store = executor.store
    other = multiprocessing.get_context("fork").Process(target=_hold_then_finish, args=(str(tmp_path), "held"))
    ready = tmp_path / "held.ready"
    monkeypatch.setenv("HOLD_READY", str(ready))
    other.start()
    try:
        while not ready.exists():
            time.sleep(0.01)
        to_run, skipped = executor.select([_run("held"), _run("free")])
        assert [r.id for r in to_run] == ["free"] and [r.id for r in skipped] == ["held"]
        outcome = executor.run(to_run, attach=executor.attachable(skipped))
    finally:
        other.join(timeout=30)
    assert outcome.code == 0
    assert _trainings(tmp_path) == ["free"]                 # 'held' was trained by the other process
    assert store.view("held").state == "done"


def _hold_then_finish(root, run_id) -> None:
    store = Store(root)
    me = Owner.this_process("local")
    assert store.claim(run_id, me)
    store.set_state(run_id, "running", executor="local", pid=os.getpid())
    open(os.environ["HOLD_READY"], "w").close()
    time.sleep(1.5)
    store.write_record(run_id, {"id": run_id, "metrics": {"mIoU": 2.0}})
    store.set_state(run_id, "done")
    store.release_claim(run_id, me)


def test_get_executor_checks_max_parallel_and_name(tmp_path):
    import pytest

    from ssa_bench.errors import UserError

    with pytest.raises(UserError, match="--max-parallel"):
        get_executor("local", Store(tmp_path), max_parallel=0)
    with pytest.raises(UserError, match="unknown executor"):
        get_executor("ssh", Store(tmp_path))
    assert isinstance(get_executor("local", Store(tmp_path), max_parallel=3), LocalExecutor)
