"""What `ssa-bench status` shows of a run's SLURM job: its state, node and pending reason in words.

The rows are built by the status command; this module gives their SLURM columns from the run's
state.json and what SLURM said (``accounting.refresh_states``), and turns SLURM's pending reason
codes into what to do about them.
"""
from __future__ import annotations

from ssa_bench.executors.slurm.orphans import orphan_submission

# SLURM's pending reasons a user meets most, in words that say what to do (squeue(1) lists all).
# 'J' stands for the job id.
PENDING_REASONS = {
    "BeginTime": "start time not reached (a requeued job waits about 2 min; `scontrol update jobid=J StartTime=now`)",
    "Priority": "other jobs have priority",
    "Resources": "waiting for free nodes/GPUs",
    "JobHeldAdmin": "held by an administrator (ask them to `scontrol release J`)",
    "JobHeldUser": "held (`scontrol release J`)",
    "Dependency": "waiting for a dependency",
    "DependencyNeverSatisfied": "its dependency can never be met: cancel and resubmit",
    "JobArrayTaskLimit": "the array's --max-parallel limit",
    "QOSMaxJobsPerUserLimit": "your QOS allows no more running jobs",
    "AssocGrpGRES": "your account's GPU limit is reached",
    "ReqNodeNotAvail": "a requested node is unavailable (down or reserved)",
    "PartitionDown": "the partition is down",
    "launch failed requeued held": "the job failed to launch and is held (`scontrol release J`)",
}


def job_columns(store, run_id: str, state: dict, infos: dict) -> dict:
    """The SLURM part of a run's status row: ``slurm_state`` and ``slurm_reason`` (None when SLURM
    has not said), ``node`` (SLURM's, else the newest attempt's; None for a run that never ran on
    SLURM) and ``orphan`` (why a queued run without a job id is an orphan submission, or None)."""
    attempts = state.get("attempts") or []
    job_id = state.get("job_id")
    info = infos.get(str(job_id)) if job_id else None
    node = (info.node if info and info.node else None) or (attempts[-1].get("node") if attempts else None)
    slurm_reason = state.get("slurm_reason") or (info.reason if info and info.state == "PENDING" else None)
    orphan = None
    if state.get("executor") == "slurm" and state.get("state") == "queued" and not job_id:
        orphan = orphan_submission(store, run_id, state)
    return {"slurm_state": info.state if info else None, "slurm_reason": slurm_reason, "node": node,
            "orphan": orphan}


def pending_text(reason: str, job_id, requeued: int = 0) -> str:
    """'requeued 1x; pending: JobHeldUser -- held (`scontrol release 12`)' for a queued run's details."""
    words = PENDING_REASONS.get(reason, "")
    waiting = f"pending: {reason}" + (f" -- {words.replace('J', str(job_id).split('_')[0])}" if words else "")
    prefix = f"requeued {requeued}x; " if requeued else ""
    return f"{prefix}{waiting}"
