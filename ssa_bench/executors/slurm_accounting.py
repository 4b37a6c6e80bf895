"""What SLURM says about our jobs (sacct, else squeue), and what that means for each run's state.

The run's own state.json is the primary record: the job writes running/done/failed itself. SLURM
is asked only about runs whose state.json says the job is still queued or running, to catch what a
job cannot report: it was cancelled, killed (time limit, out of memory, node failure), or requeued
(``scontrol requeue``, preemption) and is waiting to start again. That makes ``ssa-bench status``
and a second ``ssa-bench run`` correct after the submitting process is gone.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass

WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED",
           "CONFIGURING", "RESIZING"}
ACTIVE = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
SUCCEEDED = {"COMPLETED"}
# Clock difference between this host and slurmctld that a job's submit time may show.
STALE_SLACK_S = 120
# Everything else that ends a job (FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED,
# BOOT_FAIL, DEADLINE, ...) ends it badly.


@dataclass(frozen=True)
class JobInfo:
    job_id: str        # "123" or "123_4" (array task)
    state: str         # SLURM's state word, e.g. "CANCELLED" (sacct's "CANCELLED by 0" trimmed)
    reason: str = ""   # why it is pending, or sacct's exit code for an ended job
    submitted: float | None = None   # sacct's Submit as epoch seconds (None from squeue)

    @property
    def live(self) -> bool:
        return self.state in WAITING or self.state in ACTIVE


_RANGE = re.compile(r"^(?P<main>\d+)_\[(?P<ranges>[\d,\-]+)(%\d+)?\]$")


def parse_table(text: str) -> dict[str, JobInfo]:
    """Parse ``sacct --parsable2`` or ``squeue -o %i|%T|%r`` output with a JobID|State|Reason header.

    A pending array shows as one ``123_[2-5%2]`` line; tasks that started have their own lines,
    which win over the range line whatever the order (submitit's own parser lets the range
    overwrite them). Job steps (``123_4.batch``) are skipped.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    names = [name.strip() for name in lines[0].split("|")]
    explicit: dict[str, JobInfo] = {}
    ranged: dict[str, JobInfo] = {}
    for line in lines[1:]:
        row = dict(zip(names, (cell.strip() for cell in line.split("|"))))
        job_id = row.get("JobID") or row.get("JOBID") or ""
        state = (row.get("State") or row.get("STATE") or "UNKNOWN").split()[0].rstrip("+")
        reason = row.get("Reason") or row.get("REASON") or ""
        if "ExitCode" in row and state not in WAITING and state not in ACTIVE:
            reason = f"exit code {row['ExitCode']}"
        if not job_id or "." in job_id:
            continue
        submitted = _epoch(row.get("Submit"))
        match = _RANGE.match(job_id)
        if match:
            for part in match.group("ranges").split(","):
                low, _, high = part.partition("-")
                for index in range(int(low), int(high or low) + 1):
                    task = f"{match.group('main')}_{index}"
                    ranged[task] = JobInfo(task, state, reason, submitted)
        else:
            explicit[job_id] = JobInfo(job_id, state, reason, submitted)
    return {**ranged, **explicit}


def _epoch(text: str | None) -> float | None:
    # sacct prints the cluster's local time without a zone; this host is assumed to share it.
    try:
        return time.mktime(time.strptime(text or "", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def job_info(state: dict, infos: dict[str, JobInfo]) -> JobInfo | None:
    """SLURM's record of the run's job, unless it belongs to an older job with the same id (ids
    start again at 1 when a cluster's state is wiped, while accounting keeps the old rows)."""
    info = infos.get(str(state.get("job_id")))
    submitted = state.get("submitted_at")
    if info and info.submitted and submitted and info.submitted < float(submitted) - STALE_SLACK_S:
        return None
    return info


def query(job_ids: list[str]) -> dict[str, JobInfo] | None:
    """The SLURM state of each job id; None when neither sacct nor squeue answers."""
    mains = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not mains:
        return {}
    if shutil.which("sacct"):
        command = ["sacct", "-X", "--parsable2", "-o", "JobID,State,ExitCode,Reason,Submit"]
        for main in mains:
            command += ["-j", main]
        answer = _run(command)
        if answer is not None:
            return parse_table(answer)
    if shutil.which("squeue"):
        # Without accounting: squeue forgets a job MinJobAge seconds after it ends.
        answer = _run(["squeue", "-h", "-r", "-j", ",".join(mains), "-o", "%i|%T|%r"])
        if answer is not None:
            return parse_table("JOBID|STATE|REASON\n" + answer)
    return None


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def reconcile(state: dict, info: JobInfo | None) -> dict | None:
    """The state.json update SLURM's view calls for (keyword arguments of set_state), or None.

    ``state`` is the run's state.json; ``info`` what SLURM says about its job_id (None: unknown,
    e.g. accounting has not caught up with a submission a moment ago -- leave it alone).
    """
    current = state.get("state")
    if current == "done" or info is None:
        return None
    keep = {k: state.get(k) for k in ("executor", "job_id", "attempt", "host", "log")}
    attempt = state.get("attempt") or 0
    if info.state in WAITING:
        if current in ("running", "failed") and attempt >= 1:
            # It had started, and SLURM put it back in the queue: scontrol requeue, preemption,
            # or a node failure with requeue. The next start resumes from the last checkpoint.
            return {**keep, "state": "queued", "requeued": attempt, "traceback": None,
                    "reason": f"requeued by SLURM after attempt {attempt}; waiting to restart "
                              f"({info.reason or info.state})"}
        reason = f"waiting in the SLURM queue ({info.reason or info.state})"
        if current == "queued" and state.get("reason") != reason and not state.get("requeued"):
            return {**keep, "state": "queued", "reason": reason}
        return None
    if info.state in ACTIVE:
        if current == "queued":
            return {**keep, "state": "running", "reason": None}
        return None
    if current == "failed":
        return None
    log = state.get("log")
    where = f"; see {log}" if log else ""
    if info.state in SUCCEEDED:
        reason = f"SLURM job {info.job_id} ended without writing the run's result{where}"
    else:
        reason = f"SLURM job {info.job_id} ended {info.state}" + (f" ({info.reason})" if info.reason else "") + where
    return {**keep, "state": "failed", "reason": reason, "traceback": log}


def refresh_states(store, runs) -> None:
    """Bring every SLURM run's state.json up to date with SLURM (for ``ssa-bench status``)."""
    tracked = {}
    for run in runs:
        state = store.read_state(run.id) or {}
        if state.get("executor") == "slurm" and state.get("job_id") and state.get("state") != "done":
            tracked[run.id] = state
    if not tracked:
        return
    infos = query([state["job_id"] for state in tracked.values()])
    if infos is None:
        return
    for run_id, state in tracked.items():
        # Re-read: the job may have written its own state while we were asking SLURM.
        fresh = store.read_state(run_id) or state
        if fresh.get("job_id") != state.get("job_id"):
            continue
        update = reconcile(fresh, job_info(fresh, infos))
        if update:
            new_state = update.pop("state")
            store.set_state(run_id, new_state, **update)
