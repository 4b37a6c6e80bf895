"""Run states from SLURM's answers, with sacct/squeue output recorded on the local cluster
(slurm/up.sh, Slurm 22.05): requeues are not failures, a failure is final only when SLURM is done
with the job, and accounting's start-of-job lag never flips a started run back. No SLURM needed."""
from __future__ import annotations

import pytest
from slurm_helpers import fake_run, make_store

from ssa_bench.executors.slurm import accounting as slurm_accounting
from ssa_bench.executors.slurm import attempt_history
from ssa_bench.executors.slurm.accounting import merge, parse_table, reconcile

SACCT = "JobID|State|ExitCode|Reason|Submit|Start|End|NodeList\n"
SQUEUE = "JOBID|STATE|REASON|NODELIST\n"

# `scontrol requeue 43` while it ran, recorded 2 s later and once it ran again.
REQUEUED_WAITING = SACCT + (
    "43|REQUEUED|0:0|None|2026-11-28T05:54:23|2026-11-28T05:54:24|2026-11-28T05:54:26|vm\n"
    "43|PENDING|0:0|BeginTime|2026-11-28T05:54:26|Unknown|Unknown|None assigned\n")
REQUEUED_ONLY_ROW = SACCT + (   # the new attempt's row is not written yet
    "43|REQUEUED|0:0|None|2026-11-28T05:54:23|2026-11-28T05:54:24|2026-11-28T05:54:26|vm\n")
REQUEUED_RUNNING = SACCT + (
    "43|REQUEUED|0:0|None|2026-11-28T05:54:23|2026-11-28T05:54:24|2026-11-28T05:54:26|vm\n"
    "43|RUNNING|0:0|BeginTime|2026-11-28T05:54:26|2026-11-28T05:54:33|Unknown|vm\n")
# slurmd and the job's processes killed, slurmd restarted as after a reboot (slurmd -b).
NODE_FAIL_REQUEUED = SACCT + (
    "44|NODE_FAIL|1:0|None|2026-11-28T05:54:42|2026-11-28T05:54:42|2026-11-28T05:55:54|vm\n"
    "44|PENDING|0:0|BeginTime|2026-11-28T05:55:54|Unknown|Unknown|None assigned\n")
NODE_FAIL_ONLY = SACCT + (
    "44|NODE_FAIL|1:0|None|2026-11-28T05:54:42|2026-11-28T05:54:42|2026-11-28T05:55:54|vm\n")
PREEMPTED_REQUEUED = SACCT + (
    "45_1|PREEMPTED|0:0|None|2026-11-28T06:00:00|2026-11-28T06:00:01|2026-11-28T06:03:00|vm\n"
    "45_1|PENDING|0:0|Priority|2026-11-28T06:03:00|Unknown|Unknown|None assigned\n")
OUT_OF_REQUEUES = SACCT + (
    "46|REQUEUED|0:0|None|2026-11-28T06:00:00|2026-11-28T06:00:01|2026-11-28T06:01:00|vm\n"
    "46|REQUEUED|0:0|None|2026-11-28T06:01:00|2026-11-28T06:01:02|2026-11-28T06:02:00|vm\n"
    "46|TIMEOUT|0:0|None|2026-11-28T06:02:00|2026-11-28T06:02:02|2026-11-28T06:03:00|vm\n")
START_LAG = SACCT + "47|PENDING|0:0|None|2026-11-28T06:10:00|Unknown|Unknown|None assigned\n"


def _disk(state, job_id, **info):
    return {"state": state, "executor": "slurm", "job_id": job_id, "attempt": 1, "log": "/r/slurm/x.err", **info}


def _infos(sacct: str, squeue: str | None):
    controller = parse_table(SQUEUE + squeue, from_controller=True) if squeue is not None else {}
    return merge(parse_table(sacct), controller)


def test_accounting_history_lists_each_attempt_with_node_and_times():
    info = parse_table(REQUEUED_RUNNING)["43"]
    assert info.state == "RUNNING" and [a.state for a in info.history] == ["REQUEUED", "RUNNING"]
    assert info.history[0].node == "vm" and info.history[0].ended - info.history[0].started == 2
    assert info.history[1].ended is None


@pytest.mark.parametrize("sacct, squeue, disk, state, words", [
    # requeued while running: the controller says pending, accounting has the REQUEUED row
    (REQUEUED_WAITING, "43|PENDING|BeginTime|\n", _disk("running", "43"), "queued", ["REQUEUED on vm", "BeginTime"]),
    (REQUEUED_ONLY_ROW, "43|PENDING|BeginTime|\n", _disk("running", "43"), "queued", ["BeginTime"]),
    # a node failure with a requeue: not a failure (the submitter gave up here)
    (NODE_FAIL_REQUEUED, "44|PENDING|BeginTime|\n", _disk("running", "44"), "queued", ["NODE_FAIL on vm"]),
    (NODE_FAIL_ONLY, "44|PENDING|BeginTime|\n", _disk("running", "44"), "queued", ["BeginTime"]),
    (NODE_FAIL_REQUEUED, None, _disk("running", "44"), "queued", ["NODE_FAIL"]),      # squeue down
    # the worker wrote 'failed' as its processes died; SLURM resumes it: queued again
    (NODE_FAIL_REQUEUED, "44|PENDING|BeginTime|\n", _disk("failed", "44", traceback="/t"), "queued", ["NODE_FAIL"]),
    (PREEMPTED_REQUEUED, "45_1|PENDING|Priority|\n", _disk("running", "45_1"), "queued", ["PREEMPTED", "Priority"]),
    # SLURM is done with the job: failed, with how and where
    (NODE_FAIL_ONLY, "", _disk("running", "44"), "failed", ["NODE_FAIL on vm", "exit code 1:0"]),
    (NODE_FAIL_ONLY, "44|NODE_FAIL|None|vm\n", _disk("running", "44"), "failed", ["NODE_FAIL"]),
    (OUT_OF_REQUEUES, "", _disk("running", "46"), "failed", ["TIMEOUT", "after 3 attempts"]),
    # running again after the requeue
    (REQUEUED_RUNNING, "43|RUNNING|None|vm\n", _disk("queued", "43", requeued=1), "running", []),
])
def test_state_follows_slurm(sacct, squeue, disk, state, words):
    infos = _infos(sacct, squeue)
    update = reconcile(disk, slurm_accounting.job_info(disk, infos))
    assert update is not None and update["state"] == state, update
    text = update.get("reason") or ""
    for word in words:
        assert word in text, (word, text)
    if state == "queued":
        assert update["requeued"] >= 1 and update["traceback"] is None
    if state == "failed":
        assert update["traceback"] == "/r/slurm/x.err"


@pytest.mark.parametrize("disk", [_disk("running", "47"), _disk("failed", "47", traceback="/t")])
def test_accounting_lag_at_job_start_does_not_flip_a_started_run(disk):
    """sacct still says PENDING a moment after the job started and wrote 'running'."""
    infos = _infos(START_LAG, None)                                        # squeue did not answer
    assert reconcile(disk, slurm_accounting.job_info(disk, infos)) is None
    infos = _infos(START_LAG, "47|RUNNING|None|vm\n")                      # squeue did
    assert reconcile(disk, slurm_accounting.job_info(disk, infos)) is None


def test_pending_reason_reaches_a_queued_run():
    disk = _disk("queued", "48", attempt=0)
    infos = _infos(SACCT + "48|PENDING|0:0|JobHeldAdmin|2026-11-28T06:10:00|Unknown|Unknown|None assigned\n",
                   "48|PENDING|JobHeldAdmin|\n")
    update = reconcile(disk, slurm_accounting.job_info(disk, infos))
    assert update["state"] == "queued" and update["slurm_reason"] == "JobHeldAdmin"
    assert not update.get("requeued")


def test_refresh_keeps_requeued_zero_through_the_start_lag(tmp_path, monkeypatch):
    """Polls during a job's start: queued -> (sacct lag: PENDING) -> RUNNING; never 'requeued'."""
    store = make_store(tmp_path)
    run = fake_run("lagrun")
    store.write_run(run)
    store.set_state(run.id, "queued", executor="slurm", job_id="47", attempt=0)
    answers = iter([_infos(START_LAG, "47|RUNNING|None|vm\n"),       # controller: started
                    _infos(START_LAG, None),                          # squeue timed out; sacct lags
                    _infos(START_LAG, None)])
    monkeypatch.setattr(slurm_accounting, "query", lambda ids: next(answers))
    slurm_accounting.refresh_states(store, [run])
    assert store.read_state(run.id)["state"] == "running"
    store.set_state(run.id, "running", attempt=1)                     # the job's own write
    slurm_accounting.refresh_states(store, [run])
    slurm_accounting.refresh_states(store, [run])
    state = store.read_state(run.id)
    assert state["state"] == "running" and not state.get("requeued")


def test_live_jobs_counts_a_failed_run_whose_job_is_requeued(tmp_path, monkeypatch):
    """`run --rerun-failed` asks SLURM first: a failed run with a pending requeue is not resubmitted."""
    from ssa_bench.executors.slurm.polling import live_jobs

    store = make_store(tmp_path)
    waiting, gone = fake_run("waiting"), fake_run("gone")
    for run, job in ((waiting, "44"), (gone, "46")):
        store.write_run(run)
        store.set_state(run.id, "failed", executor="slurm", job_id=job, attempt=1, traceback="/t")
    infos = {**_infos(NODE_FAIL_REQUEUED, "44|PENDING|BeginTime|\n"), **_infos(OUT_OF_REQUEUES, "")}
    monkeypatch.setattr(slurm_accounting, "query", lambda ids: infos)
    assert live_jobs(store, [waiting, gone]) == {"waiting"}
    assert store.read_state("waiting")["state"] == "queued"        # and the disk says so now
    assert store.read_state("gone")["state"] == "failed"


def test_array_ranges_and_task_lines_from_squeue():
    infos = parse_table(SQUEUE + "50_[2-3%1]|PENDING|JobArrayTaskLimit|\n50_0|RUNNING|None|vm\n", from_controller=True)
    assert infos["50_2"].reason == "JobArrayTaskLimit" and infos["50_3"].state == "PENDING"
    assert infos["50_0"].node == "vm" and infos["50_0"].from_controller


def test_training_time_sums_every_attempt_that_trained():
    attempts = [
        {"job_id": "43", "attempt": 1, "started": "2026-11-28T06:00:00+0000", "ended": "2026-11-28T06:10:00+0000",
         "train_done_at_start": False},       # interrupted while training: 600 s
        {"job_id": "43", "attempt": 2, "started": "2026-11-28T06:12:00+0000", "ended": "2026-11-28T06:20:00+0000",
         "train_done_at_start": False},       # finished training: the stage's own 420 s
        {"job_id": "43", "attempt": 3, "started": "2026-11-28T06:22:00+0000", "ended": "2026-11-28T06:23:00+0000",
         "train_done_at_start": True},        # only evaluated
    ]
    assert attempt_history.training_seconds(attempts, 420.0) == 1020.0
    assert attempt_history.training_seconds(attempts[:1], 300.0) == 300.0
    assert attempt_history.training_seconds(attempts, None) is None


def test_a_node_failure_is_not_called_final_in_the_moment_before_slurm_requeues_the_job():
    # slurmctld writes NODE_FAIL, then queues the job again a few milliseconds later; a poll that
    # lands in between must not end the run (the submitter would stop following it).
    infos = _infos(NODE_FAIL_ONLY, "")
    info = slurm_accounting.job_info(_disk("running", "44"), infos)
    ended = info.history[-1].ended
    grace = slurm_accounting.REQUEUE_GRACE_S
    assert reconcile(_disk("running", "44"), info, now=ended + 1) is None
    assert reconcile(_disk("running", "44"), info, now=ended + grace - 1) is None
    assert reconcile(_disk("running", "44"), info, now=ended + grace + 1)["state"] == "failed"
    # Other ends are final at once.
    cancelled = _infos(NODE_FAIL_ONLY.replace("NODE_FAIL", "CANCELLED"), "")
    info = slurm_accounting.job_info(_disk("running", "44"), cancelled)
    assert reconcile(_disk("running", "44"), info, now=ended + 1)["state"] == "failed"
