"""`ssa-bench run --executor slurm` with the real worker on the real local cluster: one job array,
real mmseg trainings on the demo data, and the same table as the local executor."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SPEC = str(Path(__file__).parent / "fixtures" / "two_rows.yaml")
# The CPU demo profile on a tiny schedule: two validations and two checkpoints per run.
TINY = ["--profile", "cpu-demo", "--set", "train.max_iters=16", "--set", "train.val_interval=8",
        "--set", "train.checkpoint_interval=8"]


def cli(*args, env=None, timeout=900):
    done = subprocess.run([sys.executable, "-m", "ssa_bench.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)
    return done


def table(results: Path) -> dict:
    done = cli("status", SPEC, *TINY, "--json", "--results-dir", str(results))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    out = {}
    for row in rows:
        record = json.loads((results / "runs" / row["id"] / "record.json").read_text())
        out[row["label"]] = (row["id"], record["metrics"]["mIoU"], record["train"]["iters"])
    return out


def test_slurm_array_gives_the_same_table_as_the_local_executor(slurm_env, tmp_path, demo_data):
    env = {**os.environ, "SSA_BENCH_DATA": demo_data, "SSA_BENCH_SLURM_POLL_S": "2"}
    slurm_results, local_results = tmp_path / "slurm", tmp_path / "local"
    on_slurm = ["run", SPEC, *TINY, "--executor", "slurm", "--cluster", "local-test",
                "--results-dir", str(slurm_results), "--no-report"]
    # Submit, then lose the submitting process (Ctrl-C, a dropped login node).
    submitter = subprocess.Popen([sys.executable, "-m", "ssa_bench.cli", *on_slurm], cwd=REPO, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not all(s.get("job_id") for s in _states(slurm_results, 2)):
        time.sleep(0.3)
    os.killpg(submitter.pid, signal.SIGKILL)
    submitter.wait()
    first = _states(slurm_results, 2)
    assert all(s.get("job_id") for s in first), first
    arrays = {s["job_id"].split("_")[0] for s in first}
    assert len(arrays) == 1 and sorted(s["job_id"].split("_")[1] for s in first) == ["0", "1"]

    status = cli("status", SPEC, *TINY, "--json", "--results-dir", str(slurm_results), env=env)
    assert status.returncode == 0, status.stderr
    assert {row["state"] for row in json.loads(status.stdout)} <= {"queued", "running", "done"}

    # Running the same command again follows the jobs; nothing is submitted twice.
    done = cli(*on_slurm, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 to run" in done.stderr
    states = _states(slurm_results, 2)
    assert all(s["state"] == "done" and s["executor"] == "slurm" for s in states)
    assert [s["job_id"] for s in states] == [s["job_id"] for s in first]
    assert len(list(slurm_results.glob("slurm/*/*_submission.sh"))) == 1

    done = cli("run", SPEC, *TINY, "--results-dir", str(local_results), "--no-report", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    on_slurm_table, local_table = table(slurm_results), table(local_results)
    assert on_slurm_table.keys() == local_table.keys() == {"Baseline", "SSA (Ours)"}
    for label in on_slurm_table:
        slurm_id, slurm_miou, slurm_iters = on_slurm_table[label]
        local_id, local_miou, local_iters = local_table[label]
        assert slurm_id == local_id and slurm_iters == local_iters == 16
        # Same seed, same thread count (one CPU per task, one thread per local worker), same data:
        # the same numbers, up to float noise.
        assert slurm_miou == pytest.approx(local_miou, abs=0.01), (label, slurm_miou, local_miou)

    # A third `run` submits nothing: everything is done.
    again = cli(*on_slurm, env=env)
    assert again.returncode == 0 and "0 to run" in again.stderr
    assert len(list(slurm_results.glob("slurm/*/*_submission.sh"))) == 1


def _states(results: Path, count: int) -> list[dict]:
    states = [json.loads(p.read_text()) for p in sorted(results.glob("runs/*/state.json"))]
    return states if len(states) == count else [{}] * count


def test_real_training_survives_preemption_and_requeue(slurm_env, tmp_path, demo_data):
    """One mmseg training on SLURM: USR2 (what a time limit or a preemption sends) makes submitit
    requeue it, then an operator's `scontrol requeue`; each start resumes from the newest
    checkpoint, and the record says so."""
    from test_slurm_cluster import POLL, _quiet, release, scontrol, slurm_state, start_real_training, until

    from ssa_bench.executors.slurm.accounting import refresh_states
    from ssa_bench.executors.slurm.polling import wait_for

    run, store, job_id, trained_past = start_real_training(
        tmp_path / "results", demo_data, "train.max_iters=300", "train.val_interval=300",
        "train.checkpoint_interval=40")

    def requeued_after(attempt):
        # What a user polling `ssa-bench status` does: each look brings state.json up to date. One
        # look is not enough: accounting says REQUEUED while the controller still has the job
        # COMPLETING, which counts as running.
        refresh_states(store, [run])
        return ((store.read_state(run.id) or {}).get("requeued") == attempt
                and slurm_state(job_id) in ("PENDING", "REQUEUED"))

    def restart(after_attempt):
        until(lambda: requeued_after(after_attempt), what=f"requeue after attempt {after_attempt}")
        release(job_id)                                           # skip SLURM's ~2 min requeue delay

    until(lambda: trained_past(50), timeout=180, what="50 iterations")
    reached = (store.read_progress(run.id) or {}).get("iter") or 0
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    restart(1)
    # The state at the signal was saved at the end of the interrupted iteration, not only at the
    # last periodic checkpoint (every 40): nothing is trained twice. (When the signal lands on a
    # multiple of 40 the two are one file; the newest checkpoint still holds every iteration that
    # had been reported before the signal.)
    work_dir = Path(store.run_dir(run.id), "work_dir")
    saved = sorted(int(p.stem.split("_")[1]) for p in work_dir.glob("iter_*.pth"))
    on_signal = [n for n in saved if n % 40]
    assert len(on_signal) <= 1 and saved[-1] >= max(reached, 51), (saved, reached)
    until(lambda: (store.read_state(run.id) or {}).get("attempt") == 2 and trained_past(90), timeout=180,
          what="attempt 2 past iteration 90")
    # Kills attempt 2 without a signal the task could note -- after KillWait (5 s), in which it trains
    # on: 210 iterations left keep its training from ending before the kill.
    scontrol("requeue", job_id)
    restart(2)
    assert wait_for([run], store, _quiet(), poll_slurm_s=POLL) == 0
    record = store.record(run.id)
    assert record["train"]["attempt"] == 3 and record["train"]["iters"] == 300
    assert record["train"]["resumed_from_iter"] >= 80                # not from iteration 0
    log = Path(store.read_state(run.id)["log"]).read_text()
    assert f"saved iter_{on_signal[0]}.pth; requeueing" in log
    runner_logs = "".join(p.read_text() for p in work_dir.glob("*/*.log"))
    assert f"resumed epoch: 0, iter: {on_signal[0]}" in runner_logs    # attempt 2 resumed from it
    assert record["train"]["executor"] == "slurm" and record["curve"][-1]["iter"] == 300
    assert not os.path.exists(store.path(run.id, "traceback.txt"))
