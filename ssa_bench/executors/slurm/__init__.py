"""The SLURM backend, one module per job (docs/slurm.md), laid out like submitit's backends.

Submitting side (the ``ssa-bench run`` process):

- ``executor.py``: :class:`SlurmExecutor`, the backend behind the executor interface; it owns the
  flow: follow what SLURM still holds, claim, group into arrays, sbatch, follow to the end.
- ``arrays.py``: runs -> job arrays of equal resource requests, and each array's sbatch script.
- ``submission.py``: claim the runs and sbatch one array through submitit.
- ``polling.py``: which runs' jobs SLURM still holds, and following runs until they end.
- ``orphans.py``: runs a killed submitter left queued without a job id, and its stray files.
- ``lock.py``: one submitter at a time per results folder (flock).
- ``dry_run.py``: ``run --dry-run``: each array's sbatch script and its runs.

Both sides:

- ``accounting.py``: what SLURM (squeue, sacct) says about a job, and the state update it calls for.
- ``status.py``: the SLURM columns of ``ssa-bench status`` and pending reasons in words.
- ``claims.py``: the run's claim handed from the submitter to its job.

Job side (inside the array task; imports submitit):

- ``task.py``: ``RunTask``, what each array task runs; ``preempt.py``: a checkpoint at SLURM's
  warning signal before a requeue; ``attempt_history.py``: every start of a run on SLURM.

This module imports no submitit: `status` of SLURM runs does not need it.
"""
from __future__ import annotations

from ssa_bench.executors.slurm.accounting import refresh_states
from ssa_bench.executors.slurm.executor import SlurmExecutor
from ssa_bench.executors.slurm.status import job_columns, pending_text

__all__ = ["SlurmExecutor", "job_columns", "pending_text", "refresh_states"]
