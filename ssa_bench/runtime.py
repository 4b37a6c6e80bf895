"""How the current process was launched: alone, or as one rank of a multi-GPU SLURM job.

A SLURM job with N GPUs runs N copies of the worker (``srun`` tasks, one per GPU); the sbatch
script exports ``SSA_BENCH_LAUNCHER=slurm`` for them, and mmengine's 'slurm' launcher turns
SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS into rank, device and world size. The train stage asks
this module which launcher to give the Runner and how many images each rank loads, so that the
total batch stays what the matrix says; only rank 0 writes stage files, records and states.

Pure standard library and a leaf of the import graph: the submitting side (the SLURM executor
checks the batch split before it queues anything), the config composer and the worker all read
it, so it lives below all three rather than inside ``executors/``.
"""
from __future__ import annotations

import os

from ssa_bench.errors import UserError

LAUNCHER_ENV = "SSA_BENCH_LAUNCHER"


def launcher() -> str:
    """'slurm' inside a multi-task SLURM job, else 'none' (mmengine's names)."""
    value = os.environ.get(LAUNCHER_ENV, "none")
    return value if value in ("slurm", "pytorch") else "none"


def _launcher_int(slurm_variable: str, torch_variable: str, default: int) -> int:
    """An integer the launcher sets in the environment: SLURM's or torchrun's name for it."""
    variable = {"slurm": slurm_variable, "pytorch": torch_variable}.get(launcher())
    return int(os.environ.get(variable, default)) if variable else default


def world_size() -> int:
    return _launcher_int("SLURM_NTASKS", "WORLD_SIZE", 1)


def rank() -> int:
    return _launcher_int("SLURM_PROCID", "RANK", 0)


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
