"""sbatch one job array of claimed runs through submitit, and hand each run's claim to its task.

Every run is claimed before it is submitted (:func:`claim_all`), recorded as queued, then sent;
after sbatch answers, its job id is written and the claim passes from the submitter to the array
task (:mod:`ssa_bench.executors.slurm.claims`). A refused sbatch puts the runs back to pending.
"""
from __future__ import annotations

import os
import time

from ssa_bench.errors import UserError
from ssa_bench.executors.cluster_profiles import ClusterProfile
from ssa_bench.executors.slurm import claims
from ssa_bench.executors.slurm.arrays import ArrayPlan


def claim_all(runs: list, store, owner) -> tuple[list, list]:
    """(claimed, held elsewhere): a run is claimed before it is submitted, so that no second
    submitter, pending requeue or running job trains it at the same time."""
    claimed, refused = [], []
    for run in runs:
        store.write_run(run)
        (claimed if store.claim(run.id, owner) else refused).append(run)
    return claimed, refused


def submit_array(group: ArrayPlan, profile: ClusterProfile, store, worker, owner) -> str:
    """sbatch one array of claimed runs and hand each run's claim to its array task; the array id."""
    import submitit

    from ssa_bench.executors.slurm.task import RunTask

    executor = submitit.SlurmExecutor(folder=group.folder, max_num_timeout=profile.max_requeues,
                                      python=group.python)
    executor.update_parameters(**group.params)
    submitted_at = time.time()
    for run in group.runs:
        fresh_training = not os.listdir(store.work_dir(run.id))
        extra = {"attempts": []} if fresh_training else {}
        store.set_state(run.id, "queued", executor="slurm", job_id=None, attempt=0, traceback=None,
                        requeued=None, submitted_at=round(submitted_at, 1), reason="submitting",
                        slurm_reason=None, orphan_submission=None, **extra)
    try:
        jobs = executor.map_array(RunTask(store, worker, grace_s=group.params["signal_delay_s"]),
                                  [run.id for run in group.runs])
    except Exception as error:   # sbatch refused it: a bad partition/account/qos in the profile
        for run in group.runs:
            store.set_state(run.id, "pending", executor="slurm", job_id=None, reason=None)
            store.release_claim(run.id, owner)
        message = " ".join(str(error).split())[-400:]
        kind = "job array" if len(group.runs) > 1 else "job"
        raise UserError(f"sbatch refused the {kind}: {message}", file=profile.path,
                        fix="check partition, account, qos, constraint and sizes in the cluster profile") from None
    for run, job in zip(group.runs, jobs):
        # Job ids first: a job that starts now waits for its claim, and finds its id on disk.
        state = store.read_state(run.id) or {}
        if state.get("state") == "queued" and not state.get("job_id"):
            store.set_state(run.id, "queued", executor="slurm", job_id=job.job_id, attempt=0,
                            log=str(job.paths.stderr), traceback=None, reason="submitted")
        if not store.transfer_claim(run.id, owner, claims.job_owner(job.job_id)):
            raise RuntimeError(f"the claim of run {run.id} was taken from this submitter while it "
                               f"submitted job {job.job_id}; that job will not train it")
    return jobs[0].job_id.split("_")[0]
