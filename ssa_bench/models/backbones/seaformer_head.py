"""SeaFormer's light segmentation head: the spatial branch fused with the context branch.

From the SeaFormer paper (Sec. 3.3, "Light segmentation head" and the fusion block of Fig. 2): the
1/8 feature of the shared stem is the spatial (detail) branch; each deeper context feature
(coarsest last) is turned, by a 1x1 conv+BN and a sigmoid, into a gate that is upsampled to 1/8 and
multiplies a 1x1 conv+BN embedding of the running spatial feature. After the last fusion, a
(depth-wise) 1x1 conv+BN+ReLU mixes the result and the usual ``cls_seg`` classifies it at 1/8.
The classifier input is ``channels`` = the last embedding width, which is what SSA wraps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn


class FusionBlock(nn.Module):
    """spatial (B, Cs, H, W) x sigmoid(gate from context (B, Cc, h, w)) -> (B, embed, H, W)."""

    def __init__(self, spatial_ch: int, context_ch: int, embed_ch: int, norm_cfg: dict) -> None:
        super().__init__()
        self.embed = ConvModule(spatial_ch, embed_ch, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.gate = ConvModule(context_ch, embed_ch, 1, norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        gate = F.hardsigmoid(self.gate(context))
        gate = F.interpolate(gate, size=spatial.shape[-2:], mode="bilinear", align_corners=False)
        return self.embed(spatial) * gate


@MODELS.register_module()
class SeaFormerHead(BaseDecodeHead):
    """Light head; ``in_channels`` = [spatial, context_1, ..., context_n], ``embed_dims`` one per
    context input; ``channels`` must equal ``embed_dims[-1]``."""

    def __init__(self, embed_dims: list[int], depthwise_fuse: bool = True, **kwargs) -> None:
        super().__init__(input_transform="multiple_select", **kwargs)
        if len(embed_dims) != len(self.in_channels) - 1:
            raise ValueError("SeaFormerHead needs one embed_dim per context input "
                             f"({len(self.in_channels) - 1}), got {embed_dims}")
        if embed_dims[-1] != self.channels:
            raise ValueError(f"SeaFormerHead channels ({self.channels}) must equal the last "
                             f"embed_dim ({embed_dims[-1]})")
        spatial_widths = [self.in_channels[0]] + list(embed_dims[:-1])
        self.fusions = nn.ModuleList(
            FusionBlock(spatial, context, embed, self.norm_cfg)
            for spatial, context, embed in zip(spatial_widths, self.in_channels[1:], embed_dims))
        self.mix = ConvModule(self.channels, self.channels, 1,
                              groups=self.channels if depthwise_fuse else 1,
                              norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _forward_feature(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The pixel features the classifier sees (B, channels, H/8, W/8)."""
        spatial, *contexts = self._transform_inputs(inputs)
        for fusion, context in zip(self.fusions, contexts):
            spatial = fusion(spatial, context)
        return self.mix(spatial)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self._forward_feature(inputs))
