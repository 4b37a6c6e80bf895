"""How the current process was launched: alone, or as one rank of a multi-GPU SLURM job.

A SLURM job with N GPUs runs N copies of the worker (``srun`` tasks, one per GPU); the sbatch
script exports ``SSA_BENCH_LAUNCHER=slurm`` for them, and mmengine's 'slurm' launcher turns
SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS into rank, device and world size. The train stage asks
this module which launcher to give the Runner and how many images each rank loads, so that the
total batch stays what the matrix says; only rank 0 writes stage files, records and states.

Pure standard library: the submitting side and the worker both import it.
"""
from __future__ import annotations

import os

from ssa_bench.errors import UserError

LAUNCHER_ENV = "SSA_BENCH_LAUNCHER"


def launcher() -> str:
    """'slurm' inside a multi-task SLURM job, else 'none' (mmengine's names)."""
    value = os.environ.get(LAUNCHER_ENV, "none")
    return value if value in ("slurm", "pytorch") else "none"


def world_size() -> int:
    if launcher() == "slurm":
        return int(os.environ.get("SLURM_NTASKS", "1"))
    if launcher() == "pytorch":
        return int(os.environ.get("WORLD_SIZE", "1"))
    return 1


def rank() -> int:
    if launcher() == "slurm":
        return int(os.environ.get("SLURM_PROCID", "0"))
    if launcher() == "pytorch":
        return int(os.environ.get("RANK", "0"))
    return 0


def is_main_process() -> bool:
    return rank() == 0


def per_device_batch(total_batch: int, world: int | None = None) -> int:
    """Images per rank so that ``world`` ranks together see ``total_batch`` per iteration."""
    world = world or world_size()
    if total_batch < world or total_batch % world:
        raise UserError(f"total batch {total_batch} does not split evenly over {world} GPUs",
                        key="train.batch_size",
                        fix=f"use a multiple of {world} (e.g. {max(world, total_batch - total_batch % world)}), "
                            f"or ask for a GPU count that divides {total_batch} with slurm: {{gpus: N}}")
    return total_batch // world
