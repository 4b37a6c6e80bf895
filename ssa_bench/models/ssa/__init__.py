"""The SSA classifier (Semantic and Spatial Adaptive, arXiv 2405.06525) for MMSegmentation.

Use it from a config::

    model = dict(..., decode_head=dict(type='SSAHead', head=<any mmseg decode head>,
                                       ssa=dict(enabled=True, variant='paper')))
    custom_imports = dict(imports=['ssa_bench.models.ssa'], allow_failed_imports=False)

or turn a baseline into its SSA variant with :func:`apply_ssa`. Importing this package registers
``SSAHead`` in mmseg's ``MODELS`` (right away when mmseg is loaded, else as soon as it is; see
``_registration``), and stays free of torch until then, so ``.settings`` is cheap to import.
docs/ssa.md documents the method, the presets and every switch.
"""
from ssa_bench.models.ssa._registration import register, register_now_or_when_mmseg_loads
from ssa_bench.models.ssa.config import SSA_IMPORT, apply_ssa
from ssa_bench.models.ssa.settings import SSASettings, SSASettingsError, resolve_settings

register_now_or_when_mmseg_loads()

# The torch side, loaded on first use.
_LAZY = {"SSAHead": "ssa_bench.models.ssa.head", "SSAClassifier": "ssa_bench.models.ssa.classifier",
         "extract": "ssa_bench.models.ssa.analysis"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        register()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SSA_IMPORT", "SSAClassifier", "SSAHead", "SSASettings", "SSASettingsError",
           "apply_ssa", "extract", "register", "resolve_settings"]
