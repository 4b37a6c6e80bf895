"""AFFormer backbone (Dong, Wang and Wang, "Head-Free Lightweight Semantic Segmentation with
Linear Transformer", AAAI 2023), following the authors' architecture (dongbo811/AFFormer,
``tools/afformer.py``: ``AFFormer`` and ``afformer_base``; that file is both the
ImageNet model and, registered as an mmseg backbone, the segmentation backbone). Written here
from reading their code; parameter names are theirs, so their checkpoints load one for one.

Shape of the network (AFFormer-base, widths 32/96/176/216, depths 1/2/6/2, 8 heads, MLP ratio 2):

* stem: two 3x3 stride-2 conv-BN-Hardswish (3 -> 16 -> 32): 1/4;
* each stage ``i`` embeds its input with two chained depth-wise-separable 3x3 conv-BN-Hardswish
  (``patch_embed_stages[i].patch_embeds[0..1]``, strides in
  :func:`~ssa_bench.models.backbones.afformer_modules.patch_strides`), then
  ``mhca_stages[i]`` adds a CNN ``Restore`` path on the first embedding and a linear-attention
  ``MHCAEncoder`` ("adaptive frequency filter": linear attention + dynamic high/low-pass
  filters) on the second, and a 1x1 ``aggregate`` maps to the next stage's width;
* stage 0 has no attention; stage 1 attends at 1/8, stage 2 at 1/16 and stage 3 at 1/32, each
  restored to 1/8: the four outputs are at 1/4, 1/8, 1/8, 1/8 with widths
  96, 176, 216, 216 (each stage's ``aggregate`` already projects to the next width; the last keeps
  216).

The segmentation configs read only the last output (``in_index=[3]``), 216 channels at 1/8.

Checkpoints: the authors' segmentation config passes the ImageNet checkpoint as the backbone's
``pretrained``, which their backbone loads with mmcv 1.x ``load_checkpoint(strict=False)``: the
``state_dict`` entry if the file has one, a ``module.`` prefix stripped, and every key the
backbone does not have (an ImageNet classifier, ``cls_head.cls.*``, if the file holds one)
silently ignored. Every backbone name is the checkpoint's own: no renaming. Here the weights
catalog (``ssa_bench/weights/catalog.yaml``, ``afformer_b``) declares the same handling and
``StrictPretrained`` loads strictly.
"""
from __future__ import annotations

from typing import Any

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ssa_bench.models.backbones.afformer_modules import (AFFStage, ConvBN, PatchEmbedStage,
                                                         init_afformer_weights)

# The authors' ``afformer_base`` (one path per stage, 8 heads). Their ``afformer_small/tiny`` are
# not here: no baseline uses them and no manifest checks them.
ARCH_SETTINGS: dict[str, dict[str, Any]] = {
    "B": dict(num_path=[1, 1, 1, 1], num_layers=[1, 2, 6, 2], embed_dims=[32, 96, 176, 216],
              mlp_ratios=[2, 2, 2, 2], num_heads=[8, 8, 8, 8]),
}


def _drop_path_rates(rate: float, depths: list[int]) -> list[list[float]]:
    """Linear 0 -> ``rate`` over all blocks, split per stage (the authors' ``dpr_generator``)."""
    rates = [float(r) for r in torch.linspace(0, rate, sum(depths))]
    out, start = [], 0
    for depth in depths:
        out.append(rates[start:start + depth])
        start += depth
    return out


@MODELS.register_module()
class AFFormer(BaseModule):
    """AFFormer backbone; returns the outputs of the stages in ``out_indices`` (all four, as
    the authors' backbone does, by default).

    ``drop_path_rate`` is 0 in every configuration the authors released (their default; the
    segmentation configs do not set it). ``norm_cfg`` (default BN) is every BatchNorm of the
    backbone: the authors build ``nn.BatchNorm2d`` and their ``tools/train.py`` converts the whole
    model to SyncBN, so the recipe passes SyncBN (mmengine reverts it to BN in one process).
    """

    def __init__(self, arch: str = "B", out_indices: tuple[int, ...] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.0, in_chans: int = 3, norm_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f"AFFormer arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}")
        s = ARCH_SETTINGS[arch]
        dims, depths = s["embed_dims"], s["num_layers"]
        self.num_stages = len(dims)
        if any(i not in range(self.num_stages) for i in out_indices):
            raise ValueError(f"AFFormer out_indices must be in 0..{self.num_stages - 1}, "
                             f"got {out_indices}")
        self.out_indices = tuple(out_indices)
        dpr = _drop_path_rates(drop_path_rate, depths)
        self.stem = nn.Sequential(
            ConvBN(in_chans, dims[0] // 2, kernel_size=3, stride=2, pad=1, act_layer=nn.Hardswish,
                   norm_cfg=norm_cfg),
            ConvBN(dims[0] // 2, dims[0], kernel_size=3, stride=2, pad=1, act_layer=nn.Hardswish,
                   norm_cfg=norm_cfg))
        self.patch_embed_stages = nn.ModuleList(
            PatchEmbedStage(dims[i], num_path=s["num_path"][i], stage=i, norm_cfg=norm_cfg)
            for i in range(self.num_stages))
        self.mhca_stages = nn.ModuleList(
            AFFStage(dims[i], dims[i + 1] if i + 1 < self.num_stages else dims[i], depths[i],
                     s["num_heads"][i], s["mlp_ratios"][i], s["num_path"][i],
                     drop_path_list=dpr[i], id_stage=i, norm_cfg=norm_cfg)
            for i in range(self.num_stages))
        # stage i ends with aggregate -> the next stage's width (the last keeps its own)
        self.out_channels = [dims[i + 1] if i + 1 < self.num_stages else dims[i]
                             for i in range(self.num_stages)]

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        init_afformer_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outputs = []
        for index, (embed, stage) in enumerate(zip(self.patch_embed_stages, self.mhca_stages)):
            x = stage(embed(x))
            if index in self.out_indices:
                outputs.append(x)
        return tuple(outputs)
