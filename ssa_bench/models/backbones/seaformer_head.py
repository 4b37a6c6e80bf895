"""SeaFormer's light segmentation head, a port of the authors' ``LightHead``
(fudan-zvg/SeaFormer, ``seaformer-seg/mmseg/models/decode_heads/light_head.py``) with their
module names, so their ADE20K checkpoints' ``decode_head.*`` keys load unchanged.

Inputs (``in_channels``): [spatial 1/8 feature, context_1, ..., context_n] (coarsest last).
Fusion ``fuse{i}``: ``local_embedding`` (1x1 conv+BN of the running spatial feature to
``embed_dims[i-1]``) times ``h_sigmoid(global_act(context_i))`` (1x1 conv+BN of the context,
``h_sigmoid(x) = ReLU6(x + 3) / 6``) bilinearly upsampled to 1/8. Then ``linear_fuse``: a 1x1
conv+BN+ReLU (depth-wise when ``is_dw``, as every SeaFormer config sets it) and the usual
``cls_seg`` (dropout + 1x1 ``conv_seg``) at 1/8 -- the classifier SSA wraps. ``channels`` must
equal ``embed_dims[-1]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from ssa_bench.models.backbones.seaformer import HSigmoid


class FusionBlock(nn.Module):
    """local (B, C_l, H, W) x h_sigmoid(global (B, C_g, h, w)) -> (B, embed, H, W)."""

    def __init__(self, local_ch: int, global_ch: int, embed_ch: int, norm_cfg: dict) -> None:
        super().__init__()
        self.local_embedding = ConvModule(local_ch, embed_ch, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.global_act = ConvModule(global_ch, embed_ch, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.act = HSigmoid()

    def forward(self, local: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        gate = F.interpolate(self.act(self.global_act(context)), size=local.shape[-2:],
                             mode="bilinear", align_corners=False)
        return self.local_embedding(local) * gate


@MODELS.register_module()
class SeaFormerHead(BaseDecodeHead):
    """The authors' ``LightHead``; ``embed_dims`` one per context input."""

    def __init__(self, embed_dims: list[int], is_dw: bool = False, **kwargs) -> None:
        super().__init__(input_transform="multiple_select", **kwargs)
        if len(embed_dims) != len(self.in_channels) - 1:
            raise ValueError("SeaFormerHead needs one embed_dim per context input "
                             f"({len(self.in_channels) - 1}), got {embed_dims}")
        if embed_dims[-1] != self.channels:
            raise ValueError(f"SeaFormerHead channels ({self.channels}) must equal the last "
                             f"embed_dim ({embed_dims[-1]})")
        self.embed_dims = list(embed_dims)
        self.linear_fuse = ConvModule(self.channels, self.channels, 1,
                                      groups=self.channels if is_dw else 1,
                                      norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        local_widths = [self.in_channels[0]] + self.embed_dims[:-1]
        for index, (local, context, embed) in enumerate(
                zip(local_widths, self.in_channels[1:], self.embed_dims)):
            setattr(self, f"fuse{index + 1}", FusionBlock(local, context, embed, self.norm_cfg))

    def _forward_feature(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The pixel features the classifier sees (B, channels, H/8, W/8)."""
        spatial, *contexts = self._transform_inputs(inputs)
        for index, context in enumerate(contexts):
            spatial = getattr(self, f"fuse{index + 1}")(spatial, context)
        return self.linear_fuse(spatial)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self._forward_feature(inputs))
