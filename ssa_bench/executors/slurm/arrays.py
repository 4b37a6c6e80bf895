"""Which runs go into which job array, and the sbatch script submitit writes for each.

Each run's resources come from the cluster profile plus its row's ``slurm:`` overrides; runs with
equal requests share one array (SLURM arrays are homogeneous; usually there is one group).
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ssa_bench.errors import UserError
from ssa_bench.executors.cluster_profiles import ClusterProfile, JobResources, job_resources
from ssa_bench.runtime import per_device_batch


@dataclass
class ArrayPlan:
    """One job array: runs with the same resource request."""
    resources: JobResources
    runs: list
    params: dict          # submitit SlurmExecutor parameters, setup lines included
    folder: Path          # submitit's folder pattern; %j becomes <array id>_<task index>
    python: str

    @property
    def submitit_command(self) -> str:
        # The command submitit puts in the script (SlurmExecutor._submitit_command_str).
        return " ".join([self.python, "-u -m submitit.core._submit", shlex.quote(str(self.folder))])

    def sbatch_script(self) -> str:
        """The sbatch file submitit writes for this array, from submitit's own generator."""
        from submitit.slurm.slurm import _make_sbatch_string

        map_count = len(self.runs) if len(self.runs) > 1 else None   # submitit submits 1 as a plain job
        return _make_sbatch_string(command=self.submitit_command, folder=self.folder,
                                   map_count=map_count, **self.params)


def _checkout_root() -> str | None:
    """The source checkout ssa_bench is imported from, when it is not an installed package."""
    import ssa_bench

    package = Path(ssa_bench.__file__).resolve().parent
    if "site-packages" in package.parts or "dist-packages" in package.parts:
        return None
    return str(package.parent)


def job_setup(profile: ClusterProfile, resources: JobResources) -> list[str]:
    """Shell lines at the top of the job: the profile's, then the run environment ssa-bench needs."""
    lines = list(profile.setup)
    root = _checkout_root()
    if root:
        lines.append(f"export PYTHONPATH={shlex.quote(root)}${{PYTHONPATH:+:$PYTHONPATH}}")
    lines.append("export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} SSA_BENCH_THREADS=${SLURM_CPUS_PER_TASK:-1}")
    if resources.world_size > 1:
        # One srun task per GPU; mmengine's 'slurm' launcher reads SLURM_PROCID/LOCALID/NTASKS and
        # takes the first node as master. Array tasks sharing a node need distinct ports.
        lines.append("export SSA_BENCH_LAUNCHER=slurm")
        lines.append("export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))")
    return lines


def plan_arrays(runs: list, profile: ClusterProfile, results_root: str,
                max_parallel: int | None) -> list[ArrayPlan]:
    groups: dict[str, ArrayPlan] = {}
    for run in runs:
        where = f"{run.label or run.id}: slurm"
        resources = job_resources(profile, run.slurm, row_where=where, row_file=run.spec_name)
        total = int(run.config.get("train", {}).get("batch_size", resources.world_size))
        try:
            per_device_batch(total, resources.world_size)
        except UserError as error:
            raise UserError(f"run {run.id} ({run.label}): {error.message}",
                            file=run.spec_name, key="train.batch_size", fix=error.fix) from None
        key = resources.key()
        if key not in groups:
            params = dict(resources.params)
            params["setup"] = job_setup(profile, resources)
            groups[key] = ArrayPlan(resources, [], params,
                                    Path(results_root).absolute() / "slurm" / "%j",
                                    profile.python or shlex.quote(sys.executable))
        groups[key].runs.append(run)
    for group in groups.values():
        parallel = max_parallel or profile.max_parallel or len(group.runs)
        group.params["array_parallelism"] = max(1, parallel)
    return list(groups.values())
