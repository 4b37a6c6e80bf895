"""Pixel classifiers beside SSA (Table 2), each a :class:`PixelClassifier` in mmseg's MODELS.

Importing this package registers ``ClassifierHead`` and every implementation, so a config can
use them through ``custom_imports=dict(imports=['ssa_bench.models.classifiers'])``.
"""
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.models.classifiers.base import LossContext, PixelClassifier  # noqa: E402
from ssa_bench.models.classifiers.head import IMPLEMENTATIONS, ClassifierHead, implements  # noqa: E402

# One import per implementation module (its @implements decorator registers it).
from ssa_bench.models.classifiers import cac, gmmseg, protoseg  # noqa: E402,F401
from ssa_bench.models.classifiers import dnc  # noqa: E402,F401

CLASSIFIERS_IMPORT = "ssa_bench.models.classifiers"

__all__ = ["CLASSIFIERS_IMPORT", "IMPLEMENTATIONS", "ClassifierHead", "LossContext",
           "PixelClassifier", "implements"]
