"""Who may train a run on SLURM: the claim's hand-over from the submitter to the job.

The store's claim (``Store.claim``; docs/slurm.md) says which one process owns a run. On SLURM
the owner changes hands once:

1. the submitter claims each run before ``sbatch`` (a second submitter of the same run is refused
   and follows the first one's job instead of submitting its own);
2. after ``sbatch`` it transfers the claim to the job (``<array id>_<index>``); a requeued job
   keeps its id, so it keeps the claim across attempts;
3. the job checks at start that the claim names it. If the submitter still holds it (the job
   started before the hand-over), it waits for it; if the submitter died inside ``sbatch`` (an
   orphan submission nobody recorded) it takes the run over unless someone else already has; if
   another live job or process holds it, it exits without touching the run.

A claim held by a SLURM job is stale once SLURM is done with the job (``job_alive``, registered
with the store as the liveness test of 'slurm' claims).
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from ssa_bench import store as store_module
from ssa_bench.executors.slurm.accounting import job_alive

# How long a started job waits for its submitter to hand the claim over: sbatch of a large
# array, then one rename per run on a slow shared file system.
HANDOVER_WAIT_S = float(os.environ.get("SSA_BENCH_CLAIM_HANDOVER_S", "300"))


def register_liveness() -> None:
    """Let the store tell a live SLURM job's claim from a stale one."""
    store_module.register_liveness("slurm", job_alive)


def submitter_owner():
    return store_module.Owner.this_process("submitter")


def job_owner(job_id: str):
    return store_module.Owner.this_process("slurm", job_id=str(job_id))


def describe(owner) -> str:
    """'job 12_3', 'submitter pid 812 on login1', ... for messages."""
    if owner is None:
        return "nobody"
    if owner.kind == "slurm":
        return f"SLURM job {owner.job_id}"
    return f"{owner.kind} pid {owner.pid} on {owner.host}"


def process_alive(owner) -> bool | None:
    """Is a process-held claim's owner alive? None when it runs on another host (we cannot tell)."""
    if owner.host != socket.gethostname():
        return None
    try:
        os.kill(int(owner.pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:                  # the check itself failed: we cannot tell (as for another host)
        return None
    return True


@dataclass
class Verdict:
    """What a starting job may do with its run."""
    train: bool
    message: str
    orphan: bool = False    # the submitter died inside sbatch and this job took the run over


def verdict_for_job(store, run_id: str, job_id: str, *, may_claim: bool,
                    wait_s: float = HANDOVER_WAIT_S, poll_s: float = 1.0) -> Verdict:
    """Decide whether job ``job_id`` trains ``run_id``; ``may_claim``: rank 0 (the others follow it)."""
    deadline = time.time() + wait_s
    while True:
        holder = store.claim_holder(run_id)
        if holder is not None and holder.kind == "slurm" and str(holder.job_id) == str(job_id):
            return Verdict(True, f"the run's claim names this job ({job_id})")
        alive = None
        if holder is not None and holder.kind == "submitter":
            alive = process_alive(holder)
        waiting_for_handover = holder is not None and holder.kind == "submitter" and alive is not False
        if holder is None or (holder.kind == "submitter" and alive is False):
            if not may_claim:
                waiting_for_handover = True      # rank 0 decides; wait for its claim
            elif store.claim(run_id, job_owner(job_id)):
                if holder is None:
                    return Verdict(True, f"the run was not claimed; job {job_id} claimed it")
                return Verdict(True, f"orphan submission: {describe(holder)} died before handing the "
                                     f"run to its job; job {job_id} took it over", orphan=True)
            else:
                holder = store.claim_holder(run_id)
                return Verdict(False, f"the run is claimed by {describe(holder)}; job {job_id} does not "
                                      f"touch it")
        if not waiting_for_handover:
            return Verdict(False, f"the run is claimed by {describe(holder)}, not by job {job_id}; "
                                  f"this job exits without touching it")
        if time.time() >= deadline:
            return Verdict(False, f"the run is still claimed by {describe(holder)} after {wait_s:.0f} s; "
                                  f"job {job_id} exits without touching it")
        time.sleep(poll_s)


def release_for_job(store, run_id: str, job_id: str) -> None:
    """Give the run up, if job ``job_id`` still holds it (as the holder wrote itself, whatever
    attempt of the job took it)."""
    holder = store.claim_holder(run_id)
    if holder is not None and holder.kind == "slurm" and str(holder.job_id) == str(job_id):
        store.release_claim(run_id, holder)
