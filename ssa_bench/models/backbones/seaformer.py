"""SeaFormer backbone (Wan et al., "SeaFormer: Squeeze-enhanced Axial Transformer for Mobile
Semantic Segmentation", ICLR 2023), written from the paper's description.

Shape of the network (paper, Sec. 3 and Fig. 2):

* a shared STEM of MobileNetV2 inverted-residual blocks takes the image to 1/8 resolution;
* a *context branch* continues with inverted-residual downsampling to 1/16, 1/32 and 1/64 and,
  at the deepest stages, stacks of SeaFormer layers (squeeze-enhanced axial attention + a
  conv-FFN): SeaFormer-B has them at 1/32 and 1/64, SeaFormer-L at 1/16, 1/32 and 1/64;
* a *spatial branch* keeps the 1/8 feature; the light head (``SeaFormerHead``) fuses the context
  features into it.

Squeeze-enhanced axial attention: queries, keys and values come from 1x1 conv+BN; they are
*squeezed* by averaging over one axis (rows, then columns), given a learned axial positional
embedding, and attended along the other axis in O((H+W)) instead of O(HW) tokens; the two axial
results are broadcast back, added to V and projected. A *detail enhancement* path (3x3 depth-wise
conv + 1x1 conv on concatenated Q, K, V) produces a map that the attention output gates (sigmoid).

The widths, depths and expansion ratios of each variant are in ``ARCH_SETTINGS``; they were chosen
to give the paper's model sizes (SeaFormer-B about 8.6 M params / 1.8 GFLOPs, SeaFormer-L about
14 M / 6.5 GFLOPs at 512x512 with the light head and 150 classes).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


class ConvBN(nn.Sequential):
    """Bias-free convolution followed by BatchNorm (the BN absorbs the bias)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, bn_weight: float = 1.0) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        nn.init.constant_(self[1].weight, bn_weight)
        nn.init.zeros_(self[1].bias)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, k x k depth-wise (carries the stride), 1x1 projection."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, expand: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [ConvBN(in_ch, hidden), nn.ReLU6()]
        layers += [ConvBN(hidden, hidden, kernel, stride, groups=hidden), nn.ReLU6(),
                   ConvBN(hidden, out_ch)]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class AxialPositionEmbedding(nn.Module):
    """Learned 1-D positional embedding, stored at a fixed length and resized to the axis length."""

    def __init__(self, channels: int, length: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(1, channels, length) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, L)
        return x + F.interpolate(self.embedding, size=x.shape[-1], mode="linear",
                                 align_corners=False)


class SqueezeAxialAttention(nn.Module):
    """Squeeze-enhanced axial attention with the detail-enhancement gate (see module docstring)."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: int = 2) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = attn_ratio * key_dim
        self.scale = key_dim ** -0.5
        qk_ch, v_ch = key_dim * num_heads, self.value_dim * num_heads
        self.to_q = ConvBN(dim, qk_ch)
        self.to_k = ConvBN(dim, qk_ch)
        self.to_v = ConvBN(dim, v_ch)
        self.row_q, self.row_k = AxialPositionEmbedding(qk_ch), AxialPositionEmbedding(qk_ch)
        self.col_q, self.col_k = AxialPositionEmbedding(qk_ch), AxialPositionEmbedding(qk_ch)
        self.row_proj = nn.Sequential(nn.ReLU(), ConvBN(v_ch, v_ch, bn_weight=0.0))
        self.col_proj = nn.Sequential(nn.ReLU(), ConvBN(v_ch, v_ch, bn_weight=0.0))
        self.out_proj = nn.Sequential(nn.ReLU(), ConvBN(v_ch, dim, bn_weight=0.0))
        qkv_ch = 2 * qk_ch + v_ch
        self.detail = nn.Sequential(ConvBN(qkv_ch, qkv_ch, 3, groups=qkv_ch), nn.ReLU(),
                                    ConvBN(qkv_ch, dim))

    def _axial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention along one squeezed axis: q, k (B, heads*key_dim, L), v (B, heads*vd, L)."""
        b, _, length = q.shape
        q = q.view(b, self.num_heads, self.key_dim, length).transpose(-1, -2)
        k = k.view(b, self.num_heads, self.key_dim, length)
        v = v.view(b, self.num_heads, self.value_dim, length).transpose(-1, -2)
        attn = (q @ k * self.scale).softmax(dim=-1)
        return (attn @ v).transpose(-1, -2).reshape(b, -1, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        detail = self.detail(torch.cat([q, k, v], dim=1))
        # Squeeze over width -> one token per row; over height -> one token per column.
        rows = self._axial(self.row_q(q.mean(-1)), self.row_k(k.mean(-1)), v.mean(-1))
        cols = self._axial(self.col_q(q.mean(-2)), self.col_k(k.mean(-2)), v.mean(-2))
        rows = self.row_proj(rows.unsqueeze(-1))              # (B, C, H, 1)
        cols = self.col_proj(cols.unsqueeze(-2))              # (B, C, 1, W)
        out = self.out_proj(v + rows + cols)                  # broadcast back to (B, C, H, W)
        return torch.sigmoid(out) * detail


class ConvFFN(nn.Module):
    """1x1 expansion, 3x3 depth-wise conv (local mixing in place of positional encoding), 1x1."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(ConvBN(dim, hidden),
                                 nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
                                 nn.ReLU(), ConvBN(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SeaFormerLayer(nn.Module):
    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float,
                 drop_path: float) -> None:
        super().__init__()
        self.attn = SqueezeAxialAttention(dim, key_dim, num_heads)
        self.ffn = ConvFFN(dim, mlp_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.ffn(x))


# Each stage: inverted-residual blocks (kernel, expansion, out channels, stride); the first stage
# starts with a 3x3 stride-2 conv to ``stem``. ``attention`` gives, for the last len(...) stages,
# (depth, key_dim, mlp_ratio) of the SeaFormer layers stacked after their blocks.
ARCH_SETTINGS = {
    "B": dict(
        stem=16,
        stages=[
            [(3, 1, 16, 1), (3, 4, 32, 2), (3, 3, 32, 1)],      # 1/4
            [(5, 3, 64, 2), (5, 3, 64, 1)],                      # 1/8  (spatial branch)
            [(3, 3, 128, 2), (3, 3, 128, 1)],                    # 1/16
            [(5, 4, 192, 2)],                                    # 1/32 + attention
            [(3, 6, 256, 2)],                                    # 1/64 + attention
        ],
        attention=[(4, 16, 2.0), (4, 24, 4.0)],
        num_heads=8,
    ),
    "L": dict(
        stem=32,
        stages=[
            [(3, 3, 32, 1), (3, 4, 64, 2), (3, 4, 64, 1)],      # 1/4
            [(5, 4, 128, 2), (5, 4, 128, 1)],                    # 1/8  (spatial branch)
            [(3, 4, 192, 2), (3, 4, 192, 1)],                    # 1/16 + attention
            [(5, 4, 256, 2)],                                    # 1/32 + attention
            [(3, 6, 320, 2)],                                    # 1/64 + attention
        ],
        attention=[(3, 16, 2.0), (3, 20, 4.0), (3, 24, 6.0)],
        num_heads=8,
    ),
}


@MODELS.register_module()
class SeaFormer(BaseModule):
    """SeaFormer backbone; returns the stage outputs listed in ``out_indices`` (0 = 1/4 ... 4 = 1/64).

    Args:
        arch: ``"B"`` or ``"L"`` (see ``ARCH_SETTINGS``).
        out_indices: which stage outputs to return; the light head wants (1, 3, 4) for B
            (1/8, 1/32, 1/64) and (1, 2, 3, 4) for L.
        drop_path_rate: stochastic depth, linearly increasing over the SeaFormer layers.
    """

    def __init__(self, arch: str = "B", out_indices: tuple[int, ...] = (1, 3, 4),
                 drop_path_rate: float = 0.1, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f"SeaFormer arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}")
        setting = ARCH_SETTINGS[arch]
        self.out_indices = tuple(out_indices)
        stages = setting["stages"]
        attention = setting["attention"]
        first_attention_stage = len(stages) - len(attention)
        total_layers = sum(depth for depth, _, _ in attention)
        drop_rates = [float(r) for r in torch.linspace(0, drop_path_rate, total_layers)]

        self.stem = nn.Sequential(ConvBN(3, setting["stem"], 3, 2), nn.ReLU6())
        self.stages = nn.ModuleList()
        self.out_channels: list[int] = []
        in_ch, layer_index = setting["stem"], 0
        for index, blocks in enumerate(stages):
            modules: list[nn.Module] = []
            for kernel, expand, out_ch, stride in blocks:
                modules.append(InvertedResidual(in_ch, out_ch, kernel, expand, stride))
                in_ch = out_ch
            if index >= first_attention_stage:
                depth, key_dim, mlp_ratio = attention[index - first_attention_stage]
                for _ in range(depth):
                    modules.append(SeaFormerLayer(in_ch, key_dim, setting["num_heads"], mlp_ratio,
                                                  drop_rates[layer_index]))
                    layer_index += 1
            self.stages.append(nn.Sequential(*modules))
            self.out_channels.append(in_ch)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                fan_out //= module.groups
                nn.init.normal_(module.weight, 0, math.sqrt(2.0 / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outputs = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.out_indices:
                outputs.append(x)
        return tuple(outputs)
