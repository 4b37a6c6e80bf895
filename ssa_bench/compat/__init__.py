"""Every workaround ssa-bench needs for the OpenMMLab stack on a recent torch, in one place.

Call :func:`patch_openmmlab` before importing ``mmseg``. Each patch checks whether it is needed and
steps aside when the real thing is installed (a GPU cluster with a compiled mmcv), so calling it is
always safe and idempotent.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types

_PATCHED = False


def _compiled_mmcv_ops_available() -> bool:
    try:
        importlib.import_module("mmcv._ext")
    except ImportError:
        return False
    return True


class _MissingCompiledOps(types.ModuleType):
    """Stand-in for ``mmcv._ext`` when only mmcv-lite is installed.

    ``mmcv.ops`` imports ``mmcv._ext`` at module level for every op, even those written in plain
    PyTorch (``point_sample``, ``CrissCrossAttention``, the Python fallback of ``FocalLoss``) that
    ``mmseg`` imports unconditionally. Serving a module whose attributes fail only *when called*
    lets those pure-PyTorch ops work while a truly compiled op (e.g. PSANet's ``psamask``) still
    fails loudly, naming the fix.
    """

    def __getattr__(self, name: str):
        if name.startswith("__"):
            # Python's import machinery and pickle probe dunder names; they must look absent.
            raise AttributeError(name)

        def _unavailable(*args, **kwargs):
            raise NotImplementedError(
                f"mmcv compiled op '{name}' is not available: mmcv-lite is installed. "
                "Install a full mmcv build (pip install mmcv==2.1.0 built with ops) to use it."
            )

        _unavailable.__name__ = name
        return _unavailable


def _install_mmcv_ext_stand_in() -> None:
    module = _MissingCompiledOps("mmcv._ext")
    # mmengine's ``mmcv_full_available()`` calls ``importlib.util.find_spec('mmcv._ext')``, which
    # raises on a module in sys.modules whose __spec__ is None (crashes Runner.wrap_model).
    module.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
    module.__file__ = "<ssa_bench.compat stand-in for mmcv._ext>"
    sys.modules["mmcv._ext"] = module


def _route_checkpoint_loading() -> None:
    # mmengine's local-file loader calls torch.load without weights_only. Every local checkpoint
    # mmengine reads -- Runner.resume and load_from, init_cfg Pretrained, load_checkpoint,
    # _load_checkpoint, CheckpointLoader (mmseg's Swin/ViT/BEiT init) -- goes through the loader
    # registered for the empty prefix, so replacing that one loader makes them all use ssa-bench's
    # safe loader (torch's restricted unpickler + an explicit allowlist; a file outside it is
    # refused in one line). The remote schemes (http, open-mmlab://...) are left alone: nothing is
    # downloaded at run time, and they fall under torch's own default, weights_only=True.
    from mmengine.runner.checkpoint import CheckpointLoader

    from ssa_bench.compat.safe_load import load_checkpoint_file

    def load_from_local(filename, map_location):
        return load_checkpoint_file(os.path.expanduser(filename), map_location=map_location)

    CheckpointLoader.register_scheme(prefixes="", loader=load_from_local, force=True)


def patch_openmmlab() -> None:
    """Make mmengine/mmcv/mmseg importable and usable on this torch; safe to call repeatedly."""
    global _PATCHED
    if _PATCHED:
        return
    if not _compiled_mmcv_ops_available():
        _install_mmcv_ext_stand_in()
    _route_checkpoint_loading()
    _PATCHED = True


def compiled_ops_available() -> bool:
    """True when a real compiled ``mmcv._ext`` is installed (not our stand-in)."""
    module = sys.modules.get("mmcv._ext")
    if module is not None:
        return not isinstance(module, _MissingCompiledOps)
    return _compiled_mmcv_ops_available()
