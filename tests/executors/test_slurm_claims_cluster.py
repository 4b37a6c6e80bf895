"""One run, one writer, on the real local cluster (slurm/up.sh), with the cheap stepping worker:
two submitters at once, a node crash with requeue, --rerun-failed during a pending requeue, and
the start-of-job accounting lag (issue 13)."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from slurm_helpers import fake_run, make_store, stepping_worker
from test_slurm_cluster import POLL, _quiet, job_training, release, squeue_state, state_of, until

from ssa_bench.executors.slurm import SlurmExecutor, refresh_states
from ssa_bench.executors.base import select_runs

pytestmark = pytest.mark.slurm
SLURM_DIR = Path(os.environ.get("SSA_SLURM_DIR", "/tmp/ssa-bench-slurm"))


def _submit(runs, store, *, wait=True, attach=None):
    return SlurmExecutor(store, cluster="local-test", max_parallel=2, worker=stepping_worker, poll_slurm_s=POLL,
                         console=_quiet()).submit(runs, attach, wait=wait)


def _submitter_process(barrier, root, run_ids, steps, codes):
    # A forked child: its own pid, so its own claims, like a second `ssa-bench run`.
    store = make_store(root)
    runs = [fake_run(run_id, steps=steps, step_s=0.2) for run_id in run_ids]
    barrier.wait()
    codes[os.getpid()] = _submit(runs, store)


def _arrays_submitted(root) -> set[str]:
    return {path.name.split("_")[0] for path in Path(root, "slurm").glob("*/*_submission.sh")}


def _starts(store, run_id) -> list[str]:
    path = Path(store.run_dir(run_id), "work_dir", "starts.txt")
    return path.read_text().split() if path.exists() else []


def test_two_submitters_started_together_send_one_array_and_train_each_run_once(slurm_env, results_root):
    context = multiprocessing.get_context("fork")
    barrier, codes = context.Barrier(2), context.Manager().dict()
    run_ids = ["twin1", "twin2", "twin3"]
    children = [context.Process(target=_submitter_process, args=(barrier, str(results_root), run_ids, 3, codes))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=240)
        assert child.exitcode == 0, "a submitter crashed or hung"
    assert sorted(codes.values()) == [0, 0]                   # both followed the runs to the end
    store = make_store(results_root)
    assert len(_arrays_submitted(results_root)) == 1          # one array, not two
    for run_id in run_ids:
        assert _starts(store, run_id) == ["0"], run_id        # trained once, from scratch
        assert store.record(run_id)["slurm"]["job_id"] == state_of(store, fake_run(run_id))["job_id"]
        assert store.claim_holder(run_id) is None             # released when done


def _job_processes(job_id: str) -> list[int]:
    """Pids of the job's slurmstepd processes and everything under them (found by id, in /proc)."""
    raw = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%A"], capture_output=True, text=True).stdout.strip()
    parents: dict[int, int] = {}
    roots = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int(Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(entry)] = ppid
        if cmdline.startswith(f"slurmstepd: [{raw}."):
            roots.append(int(entry))
    tree = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def _crash_node(job_id: str) -> None:
    """The node dies under the job: its processes and slurmd vanish at once, then it reboots
    (slurmd -b reports the reboot, so slurmctld records NODE_FAIL and requeues the job)."""
    pids = _job_processes(job_id)
    assert pids, f"no processes of job {job_id} found"
    slurmd = int((SLURM_DIR / "slurmd.pid").read_text())
    for pid in pids + [slurmd]:
        os.kill(pid, signal.SIGSTOP)          # frozen first: none of them may report the end
    for pid in [slurmd] + pids:
        os.kill(pid, signal.SIGKILL)
    until(lambda: not Path(f"/proc/{slurmd}").exists(), timeout=20, what="slurmd gone")
    subprocess.run(["slurmd", "-b"], check=True)


def _running_for_s(job_id: str) -> int:
    """Seconds the controller has had ``job_id`` running (squeue's [D-][H:]M:S elapsed time)."""
    raw = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%M"], capture_output=True, text=True).stdout.strip()
    days, _, clock = raw.rpartition("-")
    seconds = 0
    for part in clock.split(":") if clock else []:
        seconds = seconds * 60 + int(part)
    return seconds + 86400 * int(days or 0)


def _accounting_rows(job_id: str) -> list[str]:
    out = subprocess.run(["sacct", "-X", "-D", "-n", "-P", "-j", job_id.split("_")[0], "-o", "JobID,State"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.startswith(job_id + "|")]


def _follow_in_background(root, run_ids, steps):
    context = multiprocessing.get_context("fork")
    codes = context.Manager().dict()

    def follow():
        store = make_store(root)
        codes["code"] = _submit([fake_run(run_id, steps=steps, step_s=0.5) for run_id in run_ids], store)

    process = context.Process(target=follow)
    process.start()
    return process, codes


def test_node_crash_ends_with_the_run_done_by_its_requeued_job(slurm_env, results_root):
    store = make_store(results_root)
    run = fake_run("crash", steps=70, step_s=0.5)
    follower, codes = _follow_in_background(str(results_root), [run.id], 70)
    job_id = job_training(store, run, 3)
    # slurmctld requeues a batch job lost in a node reboot only when the job started more than
    # MessageTimeout + 5 s before the boot and was last seen more than BatchStartTimeout +
    # MessageTimeout s ago (10 s each here): a job lost in its first seconds is ended, not
    # requeued, and one that started right before the reboot is left RUNNING.
    until(lambda: _running_for_s(job_id) >= 30, timeout=60, what="the job 30 s into its run")
    _crash_node(job_id)
    until(lambda: any("NODE_FAIL" in row for row in _accounting_rows(job_id)), what="NODE_FAIL in accounting")
    refresh_states(store, [run])                               # what `ssa-bench status` shows now
    waiting = state_of(store, run)
    assert waiting["state"] == "queued" and "NODE_FAIL" in waiting["reason"], waiting
    assert follower.is_alive(), "the submitter stopped following the requeued run"
    release(job_id, pending_seen=True)
    follower.join(timeout=180)
    assert codes.get("code") == 0
    record = store.record(run.id)
    assert record["slurm"]["job_id"] == job_id and record["train"]["attempt"] == 2
    assert [a["outcome"] for a in record["slurm"]["attempts"]] == ["node_fail", "done"]
    assert record["train"]["wall_time_s"] > record["train"]["wall_time_s_last_attempt"]
    assert _arrays_submitted(results_root) == {job_id.split("_")[0]}    # no second job
    assert len(_starts(store, run.id)) == 1                            # one finished training


def test_rerun_failed_while_a_requeue_is_pending_submits_nothing(slurm_env, results_root):
    store = make_store(results_root)
    run = fake_run("pendingrequeue", steps=12, step_s=0.5)
    _submit([run], store, wait=False)
    job_id = job_training(store, run, 2)
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    until(lambda: any("REQUEUED" in row for row in _accounting_rows(job_id)), what="the requeue")
    # Accounting says REQUEUED before the controller is done with the old attempt (COMPLETING,
    # which counts as running); the case is the job waiting in the queue again.
    until(lambda: squeue_state(job_id) == "PENDING", what="the requeued job pending")
    # What the submitter wrote as it gave up on the run; SLURM holds it for ~2 min (BeginTime).
    store.set_state(run.id, "failed", reason="SLURM job ended REQUEUED", traceback=None)
    to_run, skipped = select_runs([run], store, rerun_failed=True)
    # The pending requeue still holds the run's claim: selection follows it instead of rerunning.
    assert to_run == [] and skipped == [run]
    assert _submit(to_run, store, wait=False, attach=skipped) == 0
    assert _arrays_submitted(results_root) == {job_id.split("_")[0]}    # nothing new was sent
    state = state_of(store, run)
    assert state["job_id"] == job_id and state["state"] == "queued" and state["requeued"] >= 1
    holder = store.claim_holder(run.id)
    assert holder.kind == "slurm" and holder.job_id == job_id
    release(job_id, pending_seen=True)
    # The worker writes 'done' first; the job then adds its attempts to the record
    # (attempt_history.finish): a poll in between saw 'done' and a record without "slurm".
    def record_names_its_job():
        record = store.record(run.id)
        return isinstance(record, dict) and record.get("slurm")

    until(record_names_its_job, timeout=120, what="the run done, its record naming its job")
    assert state_of(store, run)["state"] == "done" and store.record(run.id)["slurm"]["job_id"] == job_id


def test_accounting_lag_at_job_start_leaves_requeued_zero(slurm_env, results_root):
    store = make_store(results_root)
    run = fake_run("startlag", steps=6, step_s=0.3)
    _submit([run], store, wait=False)
    seen = []
    deadline = time.time() + 120
    while time.time() < deadline:
        refresh_states(store, [run])       # polled as hard as `status` in a loop during the start
        state = state_of(store, run)
        seen.append((state.get("state"), state.get("requeued")))
        if state.get("state") == "done":
            break
        time.sleep(0.1)
    assert seen[-1][0] == "done"
    assert "running" in {s for s, _ in seen}
    assert not any(requeued for _, requeued in seen), seen
    assert store.record(run.id)["train"]["attempt"] == 1


def _submitter_killed_inside_sbatch(root, run_id, shim_dir):
    # A forked child, like an `ssa-bench run` in a terminal: its sbatch is the shim, which
    # submits for real and then hangs before submitit learns the job id.
    os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ['PATH']}"
    _submit([fake_run(run_id, steps=4, step_s=0.2)], make_store(root))


def test_a_submitter_killed_inside_sbatch_leaves_an_orphan_that_the_next_run_submits_again(
        slurm_env, results_root, tmp_path):
    import io

    from rich.console import Console

    shim_dir, mark = tmp_path / "shim", tmp_path / "sbatch-answered"
    shim_dir.mkdir()
    real_sbatch = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    (shim_dir / "sbatch").write_text(f'#!/bin/bash\nout=$("{real_sbatch}" "$@") || exit $?\n'
                                     f'echo "$$ $out" > "{mark}"\nexec sleep 600\n')       # hangs as its own pid
    (shim_dir / "sbatch").chmod(0o755)
    run = fake_run("orphan", steps=4, step_s=0.2)
    context = multiprocessing.get_context("fork")
    submitter = context.Process(target=_submitter_killed_inside_sbatch,
                                args=(str(results_root), run.id, str(shim_dir)))
    submitter.start()
    until(lambda: mark.exists() and len(mark.read_text().split()) >= 2, what="sbatch to accept the job")
    shim_pid, orphan_job = mark.read_text().split()[0], mark.read_text().split()[-1]
    os.kill(submitter.pid, signal.SIGKILL)
    os.kill(int(shim_pid), signal.SIGKILL)
    submitter.join(timeout=10)
    store = make_store(results_root)
    left = state_of(store, run)
    assert left["state"] == "queued" and not left.get("job_id")     # nobody learnt the job id
    # The orphan job cannot load its task (submitit renames the pickle only after sbatch answers)
    # and ends at once; SLURM is done with it before the next `run`.
    until(lambda: squeue_state(orphan_job) == "", what="the orphan job to end")
    folder = Path(results_root, "slurm")
    for stray in [*folder.glob("*.pkl"), *folder.glob(".submission_file_*.sh")]:
        os.utime(stray, (time.time() - 3600, time.time() - 3600))  # the next `run` comes later
    said = io.StringIO()
    to_run, attach = select_runs([run], store)
    assert to_run == [] and attach == [run]                        # queued on disk: followed
    assert SlurmExecutor(store, cluster="local-test", max_parallel=2, worker=stepping_worker, poll_slurm_s=POLL,
                         console=Console(file=said, width=300)).submit(to_run, attach) == 0
    printed = said.getvalue()
    assert "1 run(s) left by a submitter killed inside sbatch (orphan submission) are submitted again" in printed
    assert "removed" in printed and "temporary file(s) of killed submissions" in printed
    record = store.record(run.id)
    assert record["slurm"]["job_id"] != orphan_job and _starts(store, run.id) == ["0"]
    assert not list(folder.glob("*.pkl")) or all(p.name.endswith(("_submitted.pkl", "_result.pkl"))
                                                  for p in folder.rglob("*.pkl"))
