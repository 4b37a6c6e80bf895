"""AFFormer's "head-free" classifier: one 1x1 squeeze conv (BN, ReLU) on the last backbone
stage, then ``cls_seg``. The backbone's prototype path already restores high-resolution
descriptions, so no decoder fuses multi-scale features (Bo et al., AAAI 2023, Sec. 3)."""
from __future__ import annotations

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class AFFormerHead(BaseDecodeHead):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(self.in_channels, (list, tuple)):
            raise ValueError("AFFormerHead takes one input (an int in_channels and in_index)")
        self.squeeze = ConvModule(self.in_channels, self.channels, 1, norm_cfg=self.norm_cfg,
                                  act_cfg=self.act_cfg)

    def _forward_feature(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The pixel features the classifier sees (B, channels, H/16, W/16)."""
        return self.squeeze(self._transform_inputs(inputs))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self._forward_feature(inputs))
