"""The SLURM executor against the real local cluster (slurm/up.sh), with cheap workers.

Each test submits through submitit exactly as ``ssa-bench run --executor slurm`` does; the workers
(slurm_helpers.py) stand in for the training so that faults can be staged in seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_helpers import fake_run, make_store, stepping_worker, distributed_worker

from ssa_bench.executors.cluster_profiles import load_profile
from ssa_bench.executors.slurm import SlurmExecutor, refresh_states
from ssa_bench.executors.slurm.arrays import plan_arrays
from ssa_bench.executors.slurm.polling import wait_for

pytestmark = pytest.mark.slurm
POLL = 1.0


def submit(runs, store, *, wait=True, cluster="local-test", max_parallel=2, worker=stepping_worker):
    return SlurmExecutor(store, cluster=cluster, max_parallel=max_parallel, worker=worker,
                         poll_slurm_s=POLL).submit(runs, wait=wait)


def until(predicate, timeout=90, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def scontrol(*args):
    subprocess.run(["scontrol", *args], check=True, capture_output=True, text=True)


def slurm_state(job_id):
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", job_id.split("_")[0], "-o", "JobID,State"],
                         capture_output=True, text=True).stdout
    states = dict(line.split("|")[:2] for line in out.splitlines() if "|" in line)
    return states.get(job_id, "").split(" ")[0]


def squeue_state(job_id):
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
    return out.strip()


def release(job_id, timeout=60, pending_seen=False):
    """Start a requeued job now instead of after SLURM's ~2 min BeginTime delay.

    The update only sticks once the requeue is complete (the job PENDING again, not still
    COMPLETING); repeat it until the job leaves the queue. ``pending_seen``: the caller saw the
    job waiting again already (a requeue after NODE_FAIL has no delay: it may be running, or even
    done, by the first look)."""
    seen_pending, pushed = pending_seen, False
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = squeue_state(job_id)
        if state == "PENDING":
            if not pushed:
                # Not in the second the old attempt ended: slurmd compares credential times in whole
                # seconds and refuses a job started then ("Job credential revoked", the job FAILED)
                # -- what SLURM's own requeue delay avoids.
                time.sleep(2)
            seen_pending = pushed = True
            subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], capture_output=True)
        elif seen_pending and (state or pending_seen):
            return                 # (RUNNING or COMPLETING before PENDING: the requeue is not done yet)
        time.sleep(0.5)
    why = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True).stdout.strip()
    node = subprocess.run(["sinfo", "-h", "-N", "-o", "%T %E"], capture_output=True, text=True).stdout.strip()
    raise AssertionError(f"job {job_id} did not restart within {timeout}s (squeue: {why or 'gone'}; node: {node})")


def state_of(store, run):
    return store.read_state(run.id) or {}


def job_training(store, run, steps: int) -> str:
    """The job id of ``run`` once its job has trained ``steps`` steps."""
    job_id = until(lambda: state_of(store, run).get("job_id"), what="job id")
    until(lambda: (store.read_progress(run.id) or {}).get("iter", 0) >= steps, what=f"{steps} training steps")
    return job_id


def test_matrix_runs_as_one_array_with_the_dry_run_script(slurm_env, results_root):
    store = make_store(results_root)
    runs = [fake_run("m1", steps=2, step_s=0.2), fake_run("m2", steps=2), fake_run("m3", steps=1)]
    assert submit(runs, store) == 0
    job_ids = [state_of(store, r)["job_id"] for r in runs]
    array = job_ids[0].split("_")[0]
    assert job_ids == [f"{array}_{i}" for i in range(3)]           # one array, one task per run
    assert all(state_of(store, r)["state"] == "done" and store.record(r.id) for r in runs)
    # What --dry-run prints is byte for byte what submitit submitted.
    (group,) = plan_arrays(runs, load_profile("local-test"), str(results_root), 2)
    submitted = Path(results_root, "slurm", array, f"{array}_submission.sh").read_text()
    assert submitted == group.sbatch_script()
    assert "#SBATCH --array=0-2%2" in submitted
    record = store.record("m1")
    assert record["train"]["attempt"] == 1 and record["train"]["threads"] == "1"
    # Done runs are never submitted again.
    assert submit(runs[:0], store) == 0


def test_a_crashing_run_records_its_traceback_and_the_others_finish(slurm_env, results_root):
    store = make_store(results_root)
    runs = [fake_run("ok1"), fake_run("bad", **{"raise": "deliberate failure in row bad"}), fake_run("ok2")]
    assert submit(runs, store) == 1
    bad = state_of(store, runs[1])
    assert bad["state"] == "failed" and bad["job_id"].endswith("_1")
    assert "deliberate failure in row bad" in Path(store.resolve(runs[1].id, bad["traceback"])).read_text()
    assert [state_of(store, r)["state"] for r in (runs[0], runs[2])] == ["done", "done"]


def test_scontrol_requeue_resumes_from_the_last_checkpoint(slurm_env, results_root):
    store = make_store(results_root)
    run = fake_run("requeued", steps=24, step_s=0.5)
    submit([run], store, wait=False)
    job_id = job_training(store, run, 3)
    scontrol("requeue", job_id)
    until(lambda: slurm_state(job_id) == "PENDING", what="the job back in the queue")
    refresh_states(store, [run])                                   # what `ssa-bench status` does
    pending = state_of(store, run)
    assert pending["state"] == "queued" and "requeued" in pending["reason"]
    release(job_id)                                                # skip SLURM's ~2 min requeue delay
    assert wait_for([run], store, _quiet(), poll_slurm_s=POLL) == 0
    record = store.record(run.id)
    assert record["train"]["attempt"] == 2 and state_of(store, run)["attempt"] == 2
    assert record["train"]["resumed_from_iter"] >= 3
    starts = Path(store.run_dir(run.id), "work_dir", "starts.txt").read_text().split()
    assert starts == [str(record["train"]["resumed_from_iter"])]  # the first attempt never finished


def test_preemption_signal_checkpoints_requeues_and_resumes(slurm_env, results_root):
    store = make_store(results_root)
    run = fake_run("preempted", steps=16, step_s=0.5)
    submit([run], store, wait=False)
    job_id = job_training(store, run, 2)
    # What SLURM sends before a time limit or a preemption; submitit's handler calls
    # RunTask.checkpoint, requeues the job and exits.
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    until(lambda: state_of(store, run).get("requeued"), what="the task to record its requeue")
    until(lambda: slurm_state(job_id) == "PENDING", what="the job back in the queue")
    release(job_id)
    assert wait_for([run], store, _quiet(), poll_slurm_s=POLL) == 0
    record = store.record(run.id)
    assert record["train"]["attempt"] == 2 and record["train"]["resumed_from_iter"] >= 2


def test_a_run_out_of_requeues_fails_with_the_reason(slurm_env, results_root, tmp_path):
    # max_requeues: 0 and a short limit: the first USR2 counts as a timeout with none left.
    profile = tmp_path / "no-requeue.yaml"
    profile.write_text("partition: debug\ngpus_per_node: 0\ntime: 10\nmax_requeues: 0\n")
    store = make_store(results_root)
    run = fake_run("out-of-time", steps=30, step_s=0.5)
    submit([run], store, wait=False, cluster=str(profile))
    job_id = job_training(store, run, 2)
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    assert wait_for([run], store, _quiet(), poll_slurm_s=POLL) == 1
    state = state_of(store, run)
    assert state["state"] == "failed" and "timed-out too many times" in Path(store.resolve(run.id, state["traceback"])).read_text()
    assert squeue_state(job_id) not in ("PENDING", "RUNNING")     # not requeued


def test_cancelled_jobs_become_failed_with_the_reason(slurm_env, results_root):
    store = make_store(results_root)
    runs = [fake_run("long", steps=40, step_s=0.5), fake_run("waiting", steps=1)]
    submit(runs, store, wait=False, max_parallel=1)
    job_id = until(lambda: state_of(store, runs[0]).get("state") == "running"
                   and state_of(store, runs[0])["job_id"], what="the first task to start")
    subprocess.run(["scancel", job_id.split("_")[0]], check=True)
    assert wait_for(runs, store, _quiet(), poll_slurm_s=POLL) == 1
    for run in runs:
        state = state_of(store, run)
        assert state["state"] == "failed" and "CANCELLED" in state["reason"], state


SUBMITTER = """
import sys
sys.path.insert(0, {helpers!r})
from slurm_helpers import fake_run, make_store, stepping_worker
from ssa_bench.executors.slurm import SlurmExecutor
runs = [fake_run("k1", steps=10, step_s=0.5), fake_run("k2", steps=10, step_s=0.5), fake_run("k3", steps=2)]
SlurmExecutor(make_store({root!r}), cluster="local-test", max_parallel=2, worker=stepping_worker,
              poll_slurm_s=1).submit(runs)
"""


def test_killed_submitter_is_reattached_without_duplicates(slurm_env, results_root):
    from slurm_helpers import fake_run as make

    store = make_store(results_root)
    runs = [make("k1", steps=10, step_s=0.5), make("k2", steps=10, step_s=0.5), make("k3", steps=2)]
    script = SUBMITTER.format(helpers=str(Path(__file__).parent), root=str(results_root))
    submitter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    until(lambda: all(state_of(store, r).get("job_id") for r in runs), what="submission")
    os.killpg(submitter.pid, signal.SIGKILL)                      # the login node is gone
    submitter.wait()
    first_ids = [state_of(store, r)["job_id"] for r in runs]
    refresh_states(store, runs)                                    # `ssa-bench status`
    assert {state_of(store, r)["state"] for r in runs} <= {"queued", "running", "done"}
    # A second `ssa-bench run` with the same runs: nothing new is submitted, it follows the jobs.
    assert submit(runs, store) == 0
    assert [state_of(store, r)["job_id"] for r in runs] == first_ids
    submissions = [p.name for p in Path(results_root, "slurm").glob("*/*_submission.sh")]
    assert submissions == [f"{first_ids[0].split('_')[0]}_submission.sh"]
    assert all(state_of(store, r)["state"] == "done" for r in runs)


def _fake_gpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True).stdout
    return int(out.strip().split(":")[-1]) if out.strip().startswith("gpu") else 0


def test_two_gpu_job_runs_two_ranks_with_the_slurm_launcher(slurm_env, results_root, tmp_path):
    if _fake_gpus() < 2:
        pytest.skip("the local cluster declares no GPUs (start it with SSA_SLURM_FAKE_GPUS=2)")
    profile = tmp_path / "two-gpu.yaml"
    profile.write_text("partition: debug\ngpus_per_node: 2\ngpus: 2\ncpus_per_gpu: 1\ntime: 10\n")
    store = make_store(results_root)
    run = fake_run("ddp", batch_size=4)
    assert submit([run], store, cluster=str(profile), worker=distributed_worker) == 0
    train = store.record(run.id)["train"]
    assert train["world_size"] == 2 and train["launcher"] == "slurm"
    assert train["all_reduce"] == 3.0 and train["per_gpu_batch"] == 2
    assert train["cuda_visible_devices"] == "0,1" and int(train["master_port"]) >= 20000


def start_real_training(results: Path, demo_data: str, *overrides: str):
    """The first row of fixtures/two_rows.yaml (a real mmseg training) submitted to the local
    cluster without waiting: (run, store, job_id, trained_past), ``trained_past(n)`` true once the
    job's train stage has reached iteration n."""
    from ssa_bench.matrix import load_spec, plan
    from ssa_bench.store import Store

    os.environ["SSA_BENCH_DATA"] = demo_data                    # slurm_env's monkeypatch restores it
    spec = load_spec(str(Path(__file__).parent / "fixtures" / "two_rows.yaml"), profile="cpu-demo",
                     overrides=list(overrides))
    run = plan(spec)[0]
    store = Store(results)
    assert SlurmExecutor(store, cluster="local-test", max_parallel=1, poll_slurm_s=POLL).submit([run], wait=False) == 0
    job_id = until(lambda: (store.read_state(run.id) or {}).get("job_id"), what="job id")

    def trained_past(iteration):
        progress = store.read_progress(run.id) or {}
        return progress.get("stage") == "train" and (progress.get("iter") or 0) >= iteration

    return run, store, job_id, trained_past


def _quiet():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"))


def test_a_second_run_resubmits_only_the_run_whose_job_died(slurm_env, results_root):
    # What `ssa-bench run` does for runs its state files call in flight: follow them (attach),
    # unless SLURM says their job is gone.
    store = make_store(results_root)
    runs = [fake_run("died", steps=40, step_s=0.3), fake_run("lives", steps=8, step_s=0.3)]
    submit(runs, store, wait=False)
    first = until(lambda: all(state_of(store, r).get("state") == "running" for r in runs)
                  and [state_of(store, r)["job_id"] for r in runs], what="both tasks running")
    until(lambda: (store.read_progress("died") or {}).get("iter", 0) >= 2, what="2 steps of 'died'")
    subprocess.run(["scancel", first[0]], check=True)     # SIGTERM, then SIGKILL after KillWait (5 s)
    until(lambda: slurm_state(first[0]) == "CANCELLED", what="the cancel in accounting")
    # A job still COMPLETING counts as alive (its task may still write): the second `run` comes
    # after the controller has let go of it.
    until(lambda: squeue_state(first[0]) == "", what="the cancelled job to leave the queue")
    assert SlurmExecutor(store, cluster="local-test", max_parallel=2, worker=stepping_worker, poll_slurm_s=POLL,
                         console=_quiet()).submit([], attach=runs) == 0
    second = [state_of(store, r)["job_id"] for r in runs]
    assert second[1] == first[1] and second[0] != first[0]
    assert store.record("died")["train"]["resumed_from_iter"] >= 1     # from its checkpoint
