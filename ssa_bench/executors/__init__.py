"""Executors: where runs execute. ``get_executor(name, store, **options)`` picks one by name.

Backends are imported on demand: the SLURM one pulls in submitit, which `status` and the local
executor do not need.
"""
from __future__ import annotations

import importlib

BACKENDS = {
    "local": "ssa_bench.executors.local:LocalExecutor",
    "slurm": "ssa_bench.executors.slurm_executor:SlurmExecutor",
}


def get_executor(name: str, store, **options):
    """An Executor (ssa_bench.executors.base) for ``name``; options go to its constructor
    (``max_parallel``, ``console``; SLURM: ``cluster``)."""
    from ssa_bench.errors import UserError

    if name not in BACKENDS:
        raise UserError(f"unknown executor {name!r}", key="--executor", fix=f"use one of: {', '.join(BACKENDS)}")
    module, attribute = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)(store, **options)
