"""``SlurmExecutor``: run a matrix on SLURM through submitit, one job array per ``ssa-bench run``.

The flow (docs/slurm.md): ask SLURM about runs submitted before (:mod:`.polling`), so that a job
still queued, running or requeued is followed instead of submitted again; take over runs left
by a killed submitter (:mod:`.orphans`); then, one submitter at a time per results folder
(:mod:`.lock`), claim the runs, group them into arrays (:mod:`.arrays`), sbatch each array
(:mod:`.submission`) and follow every run to the end. The job side is :mod:`.task`.

Everything the jobs need is on disk (run.json, state.json), so the submitting process may die:
``ssa-bench status`` and a second ``ssa-bench run`` re-attach to the jobs instead of resubmitting.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ssa_bench.errors import UserError
from ssa_bench.executors.base import Executor, Outcome
from ssa_bench.executors.cluster_profiles import load_profile
from ssa_bench.executors.slurm import claims, polling
from ssa_bench.executors.slurm.arrays import plan_arrays
from ssa_bench.executors.slurm.dry_run import print_dry_run
from ssa_bench.executors.slurm.lock import submission_lock
from ssa_bench.executors.slurm.orphans import clean_stray_submission_files, orphan_submission
from ssa_bench.executors.slurm.submission import claim_all, submit_array

# What each array task calls with (results_root, run_id), resolved by name inside the job.
DEFAULT_WORKER = "ssa_bench.worker:execute_run"


class SlurmExecutor(Executor):
    """``cluster``: the cluster profile (``--cluster``); ``worker``: what each task calls,
    ``module:function`` or a picklable callable taking (results_root, run_id) -- tests pass cheap
    ones; ``poll_slurm_s``: seconds between questions to SLURM while following."""

    name = "slurm"

    def __init__(self, store, *, cluster: str | None = None, worker=DEFAULT_WORKER,
                 poll_slurm_s: float | None = None, **options):
        super().__init__(store, **options)
        self.profile = load_profile(cluster)   # a bad cluster profile is refused before anything is printed
        self.cluster = cluster
        self.worker = worker
        self.poll_slurm_s = poll_slurm_s

    @staticmethod
    def state_in_flight(state: dict) -> bool:
        # A job the disk calls queued or running is trusted until SLURM says otherwise, which
        # `status` and `run` ask (accounting.refresh_states) and write into the state.
        return True

    @property
    def _root(self) -> str:
        return str(Path(self.store.root).absolute())

    def describe(self, runs: list) -> None:
        groups = plan_arrays(list(runs), self.profile, self._root, self.max_parallel)
        if groups:
            print_dry_run(groups, self.profile, self.worker)
        else:
            self.console.print("dry run: nothing to submit")

    def execute(self, runs: list, attach: list) -> Outcome:
        code = self.submit(runs, attach)
        failed = [run.id for run in runs + attach
                  if (self.store.read_state(run.id) or {}).get("state") == "failed"]
        return Outcome(code, failed=failed)

    def submit(self, runs: list, attach: list | None = None, *, wait: bool = True) -> int:
        """Submit ``runs`` as job array(s) and (unless ``wait`` is False) follow them to the end.

        ``attach``: runs submitted earlier (their state.json says queued/running on SLURM) to follow
        along with the new ones. Runs in ``runs`` whose job is still alive in SLURM are attached, not
        submitted again. Returns 0 when every run is done, else 1.
        """
        if not shutil.which("sbatch"):
            raise UserError("SLURM is not available here (no sbatch on PATH)", key="--executor",
                            fix="run on the cluster's login node, use --executor local, or start the "
                                "local test cluster with slurm/up.sh")
        claims.register_liveness()
        followed, candidates = self._sort_out(list(runs), list(attach or []))
        followed += self._claim_and_send(candidates, followed)
        if not wait or not followed:
            return 0
        try:
            return polling.wait_for(followed, self.store, self.console, poll_slurm_s=self.poll_slurm_s)
        except KeyboardInterrupt:
            self.console.print("the jobs keep running on the cluster; 'ssa-bench status SPEC' shows them, "
                               "and running the same 'ssa-bench run' again re-attaches without resubmitting")
            raise

    def _sort_out(self, runs: list, attach: list) -> tuple[list, list]:
        """(to follow, to submit). What SLURM says first: jobs may have ended while nobody watched
        (cancelled, killed), or be waiting after a requeue while the disk says failed."""
        store, console = self.store, self.console
        live = polling.live_jobs(store, attach + runs)
        states = {run.id: store.read_state(run.id) or {} for run in attach}
        orphans = {run.id for run in attach if orphan_submission(store, run.id, states[run.id])}
        followed, redo = [], []
        for run in attach:
            if run.id in live or (states[run.id].get("state") in ("queued", "running") and run.id not in orphans):
                followed.append(run)
            elif states[run.id].get("state") == "failed" or run.id in orphans:
                redo.append(run)        # SLURM is done with its job and there is no result
        followed += [run for run in runs if run.id in live]
        candidates = [run for run in runs if run.id not in live] + redo
        if orphans:
            console.print(f"{len(orphans)} run(s) left by a submitter killed inside sbatch (orphan "
                          f"submission) are submitted again")
        if any(states[run.id].get("state") == "failed" for run in redo):
            console.print(f"{len(redo) - len(orphans)} run(s) whose SLURM job ended without a result are "
                          f"submitted again")
        return followed, candidates

    def _claim_and_send(self, candidates: list, followed: list) -> list:
        """Claim and sbatch ``candidates``; returns the runs to follow from here: those another
        holder claimed (announced after the re-attached ones in ``followed``), then those sent."""
        store, console, profile = self.store, self.console, self.profile
        owner = claims.submitter_owner()
        folder = Path(self._root) / "slurm"
        submitted, refused = [], []
        with submission_lock(folder):
            removed = clean_stray_submission_files(folder)
            if removed:
                console.print(f"removed {len(removed)} temporary file(s) of killed submissions from {folder}")
            claimed, refused = claim_all(candidates, store, owner)
            if refused:
                holders = {claims.describe(store.claim_holder(run.id)) for run in refused}
                console.print(f"{len(refused)} run(s) are claimed by {', '.join(sorted(holders))}: "
                              f"followed, not submitted again")
            try:
                for group in plan_arrays(claimed, profile, self._root, self.max_parallel):
                    array_id = submit_array(group, profile, store, self.worker, owner)
                    submitted.append(group)
                    many = len(group.runs) > 1
                    console.print(f"submitted {'job array' if many else 'job'} {array_id}: {len(group.runs)} "
                                  f"run(s)" + (f", at most {min(len(group.runs), group.params['array_parallelism'])} "
                                               f"at once" if many else "")
                                  + f" (cluster '{profile.name}'); logs under {group.folder.parent}; "
                                  f"watch with: squeue -j {array_id}")
            except BaseException:
                # Runs this submitter claimed but did not send go back to whoever comes next.
                sent = {run.id for group in submitted for run in group.runs}
                for run in claimed:
                    if run.id not in sent and store.claim_holder(run.id) == owner:
                        store.release_claim(run.id, owner)
                        if (store.read_state(run.id) or {}).get("state") == "queued":
                            store.set_state(run.id, "pending", job_id=None, reason=None)
                raise
        reattached = len(followed) + len(refused)
        if reattached:
            console.print(f"re-attached to {reattached} run(s) already queued or running in SLURM")
        return refused + [run for group in submitted for run in group.runs]
