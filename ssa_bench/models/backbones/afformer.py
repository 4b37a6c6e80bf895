"""AFFormer backbone (Bo et al., "Head-Free Lightweight Semantic Segmentation with Linear
Transformer", AAAI 2023), written from the paper's description.

What the paper describes, and how it is built here:

* **Parallel, heterogeneous stages.** After a convolutional stem (1/4), each stage embeds its
  input with a depth-wise-separable strided conv, then runs two paths side by side and merges
  them with a 1x1 conv: a CNN *pixel descriptor* path (an inverted-residual block at the stage's
  full resolution) and a Transformer *prototype learning* path.
* **Prototypes.** The prototype path clusters the pixel features into a coarser grid of
  prototypes (a strided depth-wise conv + BN, reduction ``r`` per stage), learns on them with
  AFF blocks, and restores them to pixel resolution (bilinear) for the merge. The restored
  prototypes are the "learnable local descriptions" that let AFFormer drop the decoder.
* **Adaptive frequency filter (AFF)**, the O(n) replacement of self-attention, is the sum of three
  filters on the value map, each steered by the queries or the input:
  - frequency similarity kernel (FSK): a linear-complexity attention -- keys softmax-normalised
    over tokens, ``K^T V`` (d x d per head) first, then queries times that;
  - dynamic high-pass filter (DHF): depth-wise convs with small kernels (3/5/7 over head groups)
    on V, modulated element-wise by Q;
  - dynamic low-pass filter (DLF): V average-pooled to a few coarse grids (1, 2, 3, 6 over
    channel groups) and upsampled back, gated element-wise by sigmoid(Q).
* **Head-free.** The last stage keeps 1/16 resolution (stride 1) and the "head" is a single
  squeeze conv and the classifier (``AFFormerHead``).

AFFormer-B: widths (32, 96, 176, 216), depths (1, 2, 6, 2), 8 heads, MLP ratio 2 -- about 3 M
parameters, as in the paper. The paper does not give the clustering ratio per stage; here the
1/4 stage clusters 2x2 pixels into a prototype (1/8 grid) and the coarser stages (1/8, 1/16)
learn on one prototype per pixel, which gives the 4.3 GFLOPs (MMCV 1.x count) of the SSA paper's
Table 1 and 4.5 with matmuls counted (the AFFormer paper reports 4.6).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


def conv_bn_act(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch)]
    if act:
        layers.append(nn.Hardswish())
    return nn.Sequential(*layers)


class AdaptiveFrequencyFilter(nn.Module):
    """FSK + DHF + DLF on tokens ``x`` (B, N, C) laid out on an (h, w) grid."""

    HIGH_PASS_KERNELS = {3: 2, 5: 3, 7: 3}     # kernel -> number of heads (of 8) it filters
    LOW_PASS_GRIDS = (1, 2, 3, 6)               # pooled grid sizes, one per channel group

    def __init__(self, dim: int, num_heads: int = 8) -> None:
        super().__init__()
        if num_heads != sum(self.HIGH_PASS_KERNELS.values()):
            raise ValueError(f"AFF expects {sum(self.HIGH_PASS_KERNELS.values())} heads")
        if dim % num_heads or dim % len(self.LOW_PASS_GRIDS):
            raise ValueError(f"AFF dim {dim} must divide by {num_heads} heads and "
                             f"{len(self.LOW_PASS_GRIDS)} low-pass groups")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.high_pass = nn.ModuleList(
            nn.Conv2d(heads * self.head_dim, heads * self.head_dim, kernel, 1, kernel // 2,
                      groups=heads * self.head_dim)
            for kernel, heads in self.HIGH_PASS_KERNELS.items())
        self.high_pass_split = [heads * self.head_dim for heads in self.HIGH_PASS_KERNELS.values()]
        self.low_pass = nn.ModuleList(nn.AdaptiveAvgPool2d(g) for g in self.LOW_PASS_GRIDS)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        h, w = size
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # FSK: (softmax_N K)^T V is d x d per head, so the cost is linear in the token count.
        context = k.softmax(dim=2).transpose(-1, -2) @ v
        similarity = (q * self.scale) @ context                           # (B, heads, N, d)

        v_map = v.transpose(-1, -2).reshape(b, c, h, w)
        high = torch.cat([conv(part) for conv, part in
                          zip(self.high_pass, v_map.split(self.high_pass_split, dim=1))], dim=1)
        high = q * high.reshape(b, self.num_heads, self.head_dim, n).transpose(-1, -2)

        groups = v_map.chunk(len(self.low_pass), dim=1)
        low = torch.cat([F.interpolate(pool(part), size=(h, w), mode="bilinear",
                                       align_corners=False)
                         for pool, part in zip(self.low_pass, groups)], dim=1)
        low = torch.sigmoid(q) * low.reshape(b, self.num_heads, self.head_dim, n).transpose(-1, -2)

        out = (similarity + high + low).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class PrototypeBlock(nn.Module):
    """Conditional position encoding (3x3 depth-wise), then pre-norm AFF and MLP, residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.position = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.filter = AdaptiveFrequencyFilter(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:     # x: (B, C, h, w)
        b, c, h, w = x.shape
        x = x + self.position(x)
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.drop_path(self.filter(self.norm1(tokens), (h, w)))
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class PixelDescriptor(nn.Module):
    """Inverted residual at full stage resolution: 1x1 expand, 3x3 depth-wise, 1x1 project."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(conv_bn_act(dim, hidden), conv_bn_act(hidden, hidden, 3, groups=hidden),
                                 conv_bn_act(hidden, dim, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class AFFStage(nn.Module):
    def __init__(self, in_ch: int, dim: int, stride: int, depth: int, reduction: int,
                 num_heads: int, mlp_ratio: float, pixel_ratio: float,
                 drop_paths: list[float]) -> None:
        super().__init__()
        # Depth-wise-separable patch embedding (carries the stage's stride).
        self.embed = nn.Sequential(conv_bn_act(in_ch, in_ch, 3, stride, groups=in_ch, act=False),
                                   conv_bn_act(in_ch, dim))
        self.pixel = PixelDescriptor(dim, pixel_ratio)
        self.cluster = (conv_bn_act(dim, dim, reduction, reduction, groups=dim, act=False)
                        if reduction > 1 else nn.Identity())
        self.prototypes = nn.Sequential(*[PrototypeBlock(dim, num_heads, mlp_ratio, rate)
                                          for rate in drop_paths])
        self.merge = conv_bn_act(2 * dim, dim)
        self.reduction = reduction
        assert len(drop_paths) == depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        prototypes = self.prototypes(self.cluster(x))
        if self.reduction > 1:
            prototypes = F.interpolate(prototypes, size=x.shape[-2:], mode="bilinear",
                                       align_corners=False)
        return self.merge(torch.cat([self.pixel(x), prototypes], dim=1))


ARCH_SETTINGS = {
    "B": dict(stem=16, widths=(32, 96, 176, 216), depths=(1, 2, 6, 2), strides=(1, 2, 2, 1),
              reductions=(2, 1, 1, 1), num_heads=8, mlp_ratio=2.0, pixel_ratio=2.0),
}


@MODELS.register_module()
class AFFormer(BaseModule):
    """AFFormer backbone; returns the outputs of the stages in ``out_indices`` (the last stage,
    1/16 resolution, by default). Stage strides are relative to the 1/4 stem."""

    def __init__(self, arch: str = "B", out_indices: tuple[int, ...] = (3,),
                 drop_path_rate: float = 0.1, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f"AFFormer arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}")
        s = ARCH_SETTINGS[arch]
        self.out_indices = tuple(out_indices)
        rates = [float(r) for r in torch.linspace(0, drop_path_rate, sum(s["depths"]))]
        stem = s["stem"]
        # Two stride-2 3x3 convs: the image at 1/4, as the stem of a lightweight CNN.
        self.stem = nn.Sequential(conv_bn_act(3, stem, 3, 2), conv_bn_act(stem, s["widths"][0], 3, 2))
        self.stages = nn.ModuleList()
        in_ch, start = s["widths"][0], 0
        for dim, depth, stride, reduction in zip(s["widths"], s["depths"], s["strides"],
                                                 s["reductions"]):
            self.stages.append(AFFStage(in_ch, dim, stride, depth, reduction, s["num_heads"],
                                        s["mlp_ratio"], s["pixel_ratio"],
                                        rates[start:start + depth]))
            in_ch, start = dim, start + depth
        self.out_channels = list(s["widths"])

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
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
