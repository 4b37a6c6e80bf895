"""A torn checkpoint under requeue on the local cluster (issue 24): a real mmseg training is
requeued, its newest checkpoint is torn while the job waits (what a kill mid-write or a storage fault
leaves), and the next attempt resumes from the previous checkpoint instead of failing every attempt."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_a_requeued_job_skips_a_torn_checkpoint_and_resumes_from_the_previous_one(slurm_env, tmp_path, demo_data):
    from test_slurm_cluster import POLL, _quiet, release, scontrol, slurm_state, start_real_training, until

    from ssa_bench.executors.slurm.accounting import refresh_states
    from ssa_bench.executors.slurm.polling import wait_for

    run, store, job_id, trained_past = start_real_training(
        tmp_path / "results", demo_data, "train.max_iters=200", "train.val_interval=200",
        "train.checkpoint_interval=30")

    def requeued():
        refresh_states(store, [run])
        return ((store.read_state(run.id) or {}).get("requeued") == 1
                and slurm_state(job_id) in ("PENDING", "REQUEUED"))

    until(lambda: trained_past(70), timeout=240, what="70 iterations")     # iter_30 and iter_60 saved
    scontrol("requeue", job_id)
    until(requeued, what="requeue after attempt 1")
    work_dir = Path(store.run_dir(run.id), "work_dir")
    saved = sorted(int(p.stem.split("_")[1]) for p in work_dir.glob("iter_*.pth"))
    assert len(saved) >= 2, saved
    newest, previous = saved[-1], saved[-2]
    torn = work_dir / f"iter_{newest}.pth"
    os.truncate(torn, torn.stat().st_size // 3)
    release(job_id)
    assert wait_for([run], store, _quiet(), poll_slurm_s=POLL) == 0
    record = store.record(run.id)
    assert record["train"]["attempt"] == 2 and record["train"]["iters"] == 200
    assert record["train"]["resumed_from_iter"] == previous
    assert [item["name"] for item in record["train"]["skipped_checkpoints"]] == [torn.name]
    assert (work_dir / "damaged" / torn.name).exists()
    log = Path(store.read_state(run.id)["log"]).read_text()
    assert torn.name in log and f"resuming from iter_{previous}.pth" in log
