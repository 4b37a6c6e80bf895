"""The SLURM backend behind the executor interface: a thin adapter over ``slurm.run_slurm``,
which submits claimed runs as job arrays and follows them (docs/slurm.md)."""
from __future__ import annotations

from ssa_bench.executors.base import Executor, Outcome


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, store, *, cluster: str | None = None, **options):
        super().__init__(store, **options)
        from ssa_bench.executors.cluster_profiles import load_profile

        load_profile(cluster)          # a bad cluster profile is refused before anything is printed
        self.cluster = cluster

    def describe(self, runs: list) -> None:
        from ssa_bench.executors.slurm import run_slurm

        run_slurm(runs, self.store, cluster=self.cluster, max_parallel=self.max_parallel, dry_run=True,
                  console=self.console)

    def execute(self, runs: list, attach: list) -> Outcome:
        from ssa_bench.executors.slurm import run_slurm

        code = run_slurm(runs, self.store, cluster=self.cluster, max_parallel=self.max_parallel,
                         dry_run=False, console=self.console, attach=attach)
        failed = [run.id for run in runs + attach
                  if (self.store.read_state(run.id) or {}).get("state") == "failed"]
        return Outcome(code, failed=failed)
