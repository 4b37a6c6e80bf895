"""Backbones and heads mmseg does not ship, registered in mmseg's ``MODELS`` on import.

A config that uses them lists ``ssa_bench.models.backbones`` in ``custom_imports`` (the baseline
recipes do, via ``BaselineRecipe.imports``). Importing this package needs
``ssa_bench.compat.patch_openmmlab()`` to have run (mmseg is imported).
"""
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.models.backbones.afformer import AFFormer  # noqa: E402
from ssa_bench.models.backbones.afformer_head import AFFormerHead  # noqa: E402
from ssa_bench.models.backbones.layer_decay import ViTLayerDecayOptimizerConstructor  # noqa: E402
from ssa_bench.models.backbones.seaformer import SeaFormer  # noqa: E402
from ssa_bench.models.backbones.seaformer_head import SeaFormerHead  # noqa: E402
from ssa_bench.models.backbones.vit_adapter import ViTAdapter  # noqa: E402

__all__ = ["AFFormer", "AFFormerHead", "SeaFormer", "SeaFormerHead", "ViTAdapter",
           "ViTLayerDecayOptimizerConstructor"]
