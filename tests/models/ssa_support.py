"""Builders shared by the SSA integration tests (real mmseg models, tiny synthetic batches).

Imported by the model tests as tests.models.ssa_support (the repository root is on pytest's path).
"""
from __future__ import annotations

import warnings

import torch

from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmengine.config import ConfigDict  # noqa: E402
from mmengine.model import revert_sync_batchnorm  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import ssa_bench.models.backbones  # noqa: E402,F401  (the ported heads)
import ssa_bench.models.ssa  # noqa: E402,F401  (registers SSAHead)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402
from ssa_bench.configs.classifier_wiring import apply_classifier, apply_ssa  # noqa: E402

register_all_modules(init_default_scope=True)
IGNORE = 255


def model_cfg(baseline: str = "segformer_mini", num_classes: int = 4, ssa: dict | None = None,
              classifier: dict | None = None):
    """The baseline's model config, with SSA (``ssa`` settings) or another classifier
    (a ``classifier: {type: ...}`` block) in its last decode head."""
    cfg = baseline_recipe(baseline, num_classes).model
    if ssa is not None:
        apply_ssa(cfg, {"enabled": True, **ssa})
    if classifier is not None:
        apply_classifier(cfg, classifier)
    return cfg


def build(baseline: str = "segformer_mini", num_classes: int = 4, ssa: dict | None = None,
          seed: int = 0, classifier: dict | None = None):
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS.build(ConfigDict(model_cfg(baseline, num_classes, ssa, classifier)))
    return revert_sync_batchnorm(model)


def last_head(model):
    """The decode head a classifier wraps (the last stage of a cascade such as OCRNet)."""
    heads = model.decode_head
    return heads[-1] if isinstance(heads, torch.nn.ModuleList) else heads


def samples(labels: torch.Tensor) -> list:
    """SegDataSamples for a (B, H, W) label batch."""
    out = []
    for label in labels:
        size = tuple(label.shape)
        sample = SegDataSample(gt_sem_seg=PixelData(data=label.unsqueeze(0).long()))
        sample.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
        out.append(sample)
    return out


def shapes_batch(batch: int = 2, size: int = 64, num_classes: int = 4, seed: int = 0):
    """Images with one axis-aligned rectangle of a class-coloured fill on a class-0 background,
    so that the classes are learnable from colour and shape."""
    generator = torch.Generator().manual_seed(seed)
    palette = torch.tensor([[-1.0, -1.0, -1.0], [1.5, -0.5, -0.5], [-0.5, 1.5, -0.5],
                            [-0.5, -0.5, 1.5], [1.5, 1.5, -0.5], [-0.5, 1.5, 1.5]])
    if num_classes > len(palette):
        raise ValueError(f"at most {len(palette)} classes")
    images = torch.empty(batch, 3, size, size)
    labels = torch.zeros(batch, size, size, dtype=torch.long)
    for b in range(batch):
        cls = int(torch.randint(1, num_classes, (1,), generator=generator))
        top, left = (int(v) for v in torch.randint(0, size // 2, (2,), generator=generator))
        h, w = (int(v) for v in torch.randint(size // 4, size // 2, (2,), generator=generator))
        labels[b, top:top + h, left:left + w] = cls
        images[b] = palette[labels[b]].permute(2, 0, 1)
    images += 0.3 * torch.randn(images.shape, generator=generator)
    return images, labels


def total_loss(losses: dict) -> torch.Tensor:
    return sum(value for key, value in losses.items() if "loss" in key)
