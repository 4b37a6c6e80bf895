"""Register the SSA modules in mmseg's ``MODELS`` without making ``import ...ssa.settings`` heavy.

Importing a submodule runs its package's ``__init__`` first, and the spec loader imports
``ssa_bench.models.ssa.settings`` in processes that must not load torch. So the package
registers its modules at once only when mmseg's registry is already loaded; otherwise it waits
for it: a one-shot finder on ``sys.meta_path`` runs the registration right after
``mmseg.registry`` has been executed, whoever imports it and whenever. Either way,
``custom_imports=dict(imports=['ssa_bench.models.ssa'])`` leaves ``SSAHead`` buildable.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

MMSEG_REGISTRY = "mmseg.registry"
# Importing these registers their classes (their decorators run on import).
REGISTERING_MODULES = ("ssa_bench.models.ssa.head",)


def register() -> None:
    """Import the registering modules now (loads torch and mmseg's registry); idempotent."""
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    for name in REGISTERING_MODULES:
        # import_module, not "from . import", so that a re-entrant call during the head's own
        # import (it imports mmseg.registry, which fires the finder) gets the partial module.
        importlib.import_module(name)


class _RunAfterLoad(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        register()

    def __getattr__(self, name: str):
        # get_source, get_filename, ... for tracebacks and inspect
        return getattr(self._inner, name)


class _RegisterAfterMmsegRegistry(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != MMSEG_REGISTRY:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)   # one shot
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RunAfterLoad(spec.loader)
        return spec


def register_now_or_when_mmseg_loads() -> None:
    if MMSEG_REGISTRY in sys.modules:
        register()
        return
    if not any(isinstance(finder, _RegisterAfterMmsegRegistry) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterMmsegRegistry())
