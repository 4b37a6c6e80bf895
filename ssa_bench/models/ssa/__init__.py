"""The SSA classifier (Semantic and Spatial Adaptive, arXiv 2405.06525) for MMSegmentation.

Use it from a config::

    model = dict(..., decode_head=dict(type='SSAHead', head=<any mmseg decode head>,
                                       ssa=dict(enabled=True)))   # variant='released', the default
    custom_imports = dict(imports=['ssa_bench.models.ssa'], allow_failed_imports=False)

or turn a baseline into its SSA variant with :func:`ssa_bench.configs.classifier_wiring.apply_ssa`.
Importing this package registers ``SSAHead`` in mmseg's ``MODELS``, the mmseg way. Its settings,
which planning needs without torch, live in :mod:`ssa_bench.classifier_settings.ssa`. docs/ssa.md
documents the method, the presets and every switch.
"""
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.classifier_settings.ssa import SSASettings, SSASettingsError, resolve_settings  # noqa: E402
from ssa_bench.models.ssa.analysis import extract  # noqa: E402
from ssa_bench.models.ssa.classifier import SSAClassifier  # noqa: E402
from ssa_bench.models.ssa.head import SSAHead  # noqa: E402

__all__ = ["SSAClassifier", "SSAHead", "SSASettings", "SSASettingsError",
           "extract", "resolve_settings"]
