"""The local executor on Ctrl-C: runs it started fail with the reason, runs it only queued go
back to pending, a run another submitter finished meanwhile stays done, and every claim this
submitter or its workers held is released."""
from __future__ import annotations

import pytest

from ssa_bench.executors import local
from ssa_bench.matrix.run import Run
from ssa_bench.store import Store


class _NeverEnding:
    pid = 4242

    def poll(self):
        return None

    def terminate(self):
        pass

    def wait(self, timeout=None):
        return -15

    def kill(self):
        pass


def _run(run_id: str) -> Run:
    return Run(id=run_id, label=run_id, group=run_id, section=None, column=None, seed=0,
               row_index=0, config={"baseline": "segformer_mini", "dataset": "demo_shapes",
                                    "train": {"device": "cpu"}},
               spec_name="t.yaml", paper_baseline="segformer_mini", paper_dataset="demo_shapes")


def test_interrupt_resets_only_runs_this_submitter_queued(tmp_path, monkeypatch):
    store = Store(tmp_path)
    runs = [_run("started"), _run("finished_elsewhere"), _run("still_queued")]
    held_while_running = {}

    def spawn(run, store, threads, owner, worker_command):
        store.set_state(run.id, "running", executor="local", pid=_NeverEnding.pid)
        held_while_running[run.id] = store.claim_holder(run.id)
        return local._Active(run, _NeverEnding(), 0.0, str(tmp_path / f"{run.id}.log"))

    def sleep(_seconds):
        # meanwhile a second submitter finished one of the runs this one had queued
        store.write_record("finished_elsewhere", {"metrics": {"mIoU": 1.0}})
        store.set_state("finished_elsewhere", "done")
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "_spawn", spawn)
    monkeypatch.setattr(local.time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        local.run_local(runs, store, max_parallel=1)
    assert store.read_state("started")["state"] == "failed"
    assert "interrupted" in store.read_state("started")["reason"]
    assert store.read_state("finished_elsewhere")["state"] == "done"
    assert store.read_state("still_queued")["state"] == "pending"
    assert held_while_running["started"] is not None and held_while_running["started"].kind == "local"
    assert all(store.claim_holder(run.id) is None for run in runs)
