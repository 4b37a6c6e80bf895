"""AFFormer's "head-free" classifier, as the authors' ``CLS`` decode head
(dongbo811/AFFormer, ``mmseg/models/decode_heads/aff_head.py``): the selected backbone output(s)
(``input_transform='multiple_select'``; the configs pick the last stage, ``in_index=[3]``,
216 channels at 1/8) -> one 1x1 ``squeeze`` ConvModule (norm from ``norm_cfg``: the authors'
GroupNorm(32), ReLU) -> ``cls_seg`` (dropout 0.1, 1x1 ``conv_seg``).

Left out: the authors' head also builds an ``align`` ConvModule (``aff_channels`` -> channels)
that its forward never calls (their config needs ``find_unused_parameters=True`` for it). It
changes no output and no gradient, so it is not built here (its 66k parameters are not in the
parameter count either).
"""
from __future__ import annotations

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class AFFormerHead(BaseDecodeHead):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("input_transform", "multiple_select")
        super().__init__(**kwargs)
        if isinstance(self.in_channels, (list, tuple)) and len(self.in_channels) != 1:
            raise ValueError("AFFormerHead reads one backbone output: give one in_channels and "
                             f"one in_index (the authors' [216] and [3]), got {self.in_channels}")
        in_channels = (sum(self.in_channels) if isinstance(self.in_channels, (list, tuple))
                       else self.in_channels)
        self.squeeze = ConvModule(in_channels, self.channels, 1, conv_cfg=self.conv_cfg,
                                  norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _forward_feature(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The pixel features the classifier sees (B, channels, H/8, W/8)."""
        selected = self._transform_inputs(inputs)
        if isinstance(selected, (list, tuple)):
            selected = selected[0]
        return self.squeeze(selected)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self._forward_feature(inputs))
