"""``run --dry-run --executor slurm``: the sbatch script of each array and a table of its runs,
printed to stdout; nothing is submitted or written."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from ssa_bench.executors.cluster_profiles import ClusterProfile
from ssa_bench.executors.slurm.arrays import ArrayPlan


def array_table(group: ArrayPlan, profile: ClusterProfile) -> Table:
    """One array's runs by array index, with the resources they share in the title."""
    res = group.resources
    title = (f"{len(group.runs)} run{'s' if len(group.runs) != 1 else ''}, {res.nodes} node(s) x {res.params['ntasks_per_node']} task(s), "
             + (f"{res.gpus} GPU(s) per run" if res.gpus else "CPU only")
             + f", launcher {'slurm (distributed)' if res.world_size > 1 else 'none'}"
             + f", at most {min(len(group.runs), group.params['array_parallelism'])} at once")
    table = Table(title=title, title_justify="left")
    for column in ("array index", "run", "baseline", "dataset", "row", "batch total / per GPU", "iterations"):
        table.add_column(column)
    for index, run in enumerate(group.runs):
        config = run.config
        train = config.get("train", {})
        total = train.get("batch_size", res.world_size)
        table.add_row(str(index), run.id, str(config.get("baseline", "")), str(config.get("dataset", "")),
                      _row_name(run), f"{total} / {total // res.world_size}", str(train.get("max_iters", "")))
    return table


def _row_name(run) -> str:
    """'Table 3 / SegFormer-B0 / SSA (Ours)': where the run comes from in the spec."""
    return " / ".join(str(part) for part in (run.section, run.label, run.column) if part) or str(run.label)


def print_dry_run(groups: list[ArrayPlan], profile: ClusterProfile, worker) -> None:
    # The dry run's output is the command's result: stdout, unwrapped, so scripts can be piped.
    # A pipe gets whole lines: the table is for reading, the script for copying.
    out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    worker_name = worker if isinstance(worker, str) else f"{worker.__module__}:{worker.__qualname__}"
    out.print(f"# cluster profile '{profile.name}' ({profile.path}): {profile.description}",
              markup=False, highlight=False)
    for number, group in enumerate(groups, 1):
        kind = "job array" if len(group.runs) > 1 else "job (a single run: no array)"
        out.rule(f"{kind} {number} of {len(groups)}: the sbatch script submitit would write")
        out.print(group.sbatch_script(), markup=False, highlight=False)
        out.print(array_table(group, profile))
        out.print(f"each srun task runs {worker_name}({group.folder.parent.parent}, <run id of its array "
                  f"index>)", markup=False, highlight=False)
    out.print(f"dry run: nothing submitted ({sum(len(g.runs) for g in groups)} runs in "
              f"{len(groups)} array(s))")
