"""Executors: where runs execute. ``get_executor(name, store, **options)`` picks one by name.

Backends (``base.BACKENDS``) are imported on demand: the SLURM one pulls in submitit when it
submits, which `status` and the local executor do not need.
"""
from __future__ import annotations


def get_executor(name: str, store, **options):
    """An Executor (ssa_bench.executors.base) for ``name``; options go to its constructor
    (``max_parallel``, ``console``; SLURM: ``cluster``)."""
    from ssa_bench.errors import UserError
    from ssa_bench.executors.base import BACKENDS, backend

    if name not in BACKENDS:
        raise UserError(f"unknown executor {name!r}", key="--executor", fix=f"use one of: {', '.join(BACKENDS)}")
    return backend(name)(store, **options)
