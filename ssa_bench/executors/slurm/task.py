"""What one SLURM array task runs: the worker for one run, with states and requeue bookkeeping.

submitit pickles a :class:`RunTask` (by reference to this module, so keep it importable without
torch) and calls it with the run id in every srun task of the job. Being
:class:`submitit.helpers.Checkpointable`, it is requeued on a timeout or a preemption: the new
attempt calls the worker again, and the worker's train stage resumes from the last checkpoint in
the run's work_dir (saved at the signal by :mod:`ssa_bench.executors.slurm.preempt`). SLURM itself
counts the attempts (SLURM_RESTART_COUNT), which covers both submitit's own requeue and an
operator's ``scontrol requeue``. ``worker`` is what the executor chose
(``executor.DEFAULT_WORKER``: ``ssa_bench.worker:execute_run``).
"""
from __future__ import annotations

import importlib
import os
import socket
import sys
from typing import Any, Callable

import submitit

from ssa_bench.executors.slurm import attempt_history, claims


def resolve_worker(spec: str | Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    if callable(spec):
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _say(message: str) -> None:
    # The job's stderr is the log submitit keeps (results/slurm/<job>/...log.err).
    print(f"ssa-bench: {message}", file=sys.stderr, flush=True)


def job_attempt() -> int:
    """1 for a job's first start, 2 after one requeue, ..."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) + 1


class RunTask(submitit.helpers.Checkpointable):
    """Run ``worker(results_root, run_id)`` inside a SLURM job; rank 0 keeps the run's state."""

    def __init__(self, store: Any, worker: str | Callable[[str, str], Any], grace_s: float = 120.0):
        self.store = store
        self.worker = worker
        self.grace_s = grace_s          # the profile's signal_delay_s: USR2 comes this early
        self._requeueing = False

    def __call__(self, run_id: str) -> str:
        env = submitit.JobEnvironment()
        main = env.global_rank == 0
        attempt = job_attempt()
        os.environ["SSA_BENCH_EXECUTOR"] = "slurm"
        os.environ["SSA_BENCH_JOB_ID"] = env.job_id
        os.environ["SSA_BENCH_ATTEMPT"] = str(attempt)
        log = str(env.paths.stderr)
        claims.register_liveness()
        verdict = claims.verdict_for_job(self.store, run_id, env.job_id, may_claim=main)
        _say(verdict.message)
        if not verdict.train:
            # Another job or submitter owns the run: leave its state, work_dir and record alone.
            return run_id
        if main:
            from ssa_bench.executors.slurm import preempt

            preempt.install(self.grace_s)     # save the training state before a requeue
            attempts = attempt_history.start(self.store, run_id, env.job_id, attempt)
            self.store.set_state(run_id, "running", executor="slurm", job_id=env.job_id,
                                 attempt=attempt, host=socket.gethostname(), log=log,
                                 traceback=None, reason=None, slurm_reason=None, attempts=attempts,
                                 orphan_submission=verdict.orphan or None)
        try:
            resolve_worker(self.worker)(str(self.store.root), run_id)
        except BaseException as error:
            if main and self._requeueing and isinstance(error, SystemExit):
                # submitit requeued the job and exits through sys.exit, which the worker saw as a
                # failure on its way out; the run is waiting to resume, not failed.
                self._mark_requeued(run_id)
            elif main:
                self._record_failure(run_id, error, env.job_id, attempt, log)
            raise
        if main:
            attempt_history.finish(self.store, run_id, env.job_id, attempt)
            claims.release_for_job(self.store, run_id, env.job_id)
        return run_id

    def _mark_requeued(self, run_id: str) -> None:
        attempt = job_attempt()
        attempt_history.end(self.store, run_id, os.environ.get("SSA_BENCH_JOB_ID"), attempt, "requeued")
        self.store.set_state(run_id, "queued", executor="slurm",
                             job_id=os.environ.get("SSA_BENCH_JOB_ID"), attempt=attempt,
                             requeued=attempt, pid=None,
                             reason=f"requeued after timeout or preemption (attempt {attempt} ended); "
                                    f"resumes from its newest checkpoint")
        try:
            os.unlink(self.store.paths(run_id).traceback)
        except FileNotFoundError:
            pass

    def _record_failure(self, run_id: str, error: BaseException, job_id: str, attempt: int,
                        log: str) -> None:
        state = self.store.read_state(run_id) or {}
        attempt_history.end(self.store, run_id, job_id, attempt, "failed")
        if state.get("state") != "failed":
            # The worker never got to record it (import error, too many timeouts, ...): the
            # traceback is in the job's stderr, which submitit writes.
            self.store.set_state(run_id, "failed", executor="slurm", job_id=job_id, attempt=attempt,
                                 host=socket.gethostname(), log=log, traceback=log,
                                 reason=f"{type(error).__name__}: {error}".strip()[:500])
        # SLURM is done with this run unless it requeues the job, which keeps the claim's job id.
        claims.release_for_job(self.store, run_id, job_id)

    def checkpoint(self, run_id: str) -> submitit.helpers.DelayedSubmission:
        # Called by submitit on USR2 (time limit near, or preemption) on rank 0, just before it
        # requeues the job and leaves through sys.exit. The training state is on disk by now:
        # slurm.preempt saved it at the end of the iteration the signal interrupted (or the
        # train stage's periodic checkpoint is the newest), and the train stage resumes from it.
        self._requeueing = True
        self._mark_requeued(run_id)
        return submitit.helpers.DelayedSubmission(RunTask(self.store, self.worker, self.grace_s), run_id)
