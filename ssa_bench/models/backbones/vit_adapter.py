"""ViT-Adapter backbone (Chen et al., ICLR 2023), written from the paper's description.

A plain ViT (patch 16, global attention) is split into ``N`` groups of blocks; before each group
an *injector* puts spatial priors from a conv stem into the ViT tokens, after it an *extractor*
pulls multi-scale features back out (``vit_adapter_modules``). The outputs are four maps at 1/4,
1/8, 1/16 and 1/32 (the spatial features, plus the ViT tokens resized to each scale), which an
UperNet head consumes as it would a hierarchical backbone's.

ViT-Adapter-L: ViT-L/16 (1024 wide, 24 blocks, 16 heads, MLP 4), interaction groups of 6 blocks,
16 deformable heads with 4 points, value width ratio 0.5, conv-FFN ratio 0.25, two extra
extractors after the last group, drop path 0.4.

The ViT blocks are named ``blocks.<i>`` and the embeddings ``patch_embed``/``pos_embed`` so that
the layer-wise learning-rate decay (``ViTLayerDecayOptimizerConstructor``) can find their depth.
Attention is written as explicit matrix products (not ``scaled_dot_product_attention``) so that
the traced FLOPs count sees them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ssa_bench.models.backbones.vit_adapter_modules import (Extractor, Injector,
                                                            SpatialPriorModule,
                                                            reference_points, resize)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


ARCH_SETTINGS = {
    "L": dict(dim=1024, depth=24, heads=16, mlp_ratio=4.0, groups=4, deform_heads=16,
              points=4, value_ratio=0.5, ffn_ratio=0.25, extra_extractors=2, inplanes=64),
}


@MODELS.register_module()
class ViTAdapter(BaseModule):
    """Returns (1/4, 1/8, 1/16, 1/32) maps, all ``dim`` channels."""

    def __init__(self, arch: str = "L", patch_size: int = 16, pretrain_size: int = 224,
                 drop_path_rate: float = 0.4, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f"ViTAdapter arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}")
        s = ARCH_SETTINGS[arch]
        dim, depth = s["dim"], s["depth"]
        if patch_size != 16:
            raise ValueError("ViTAdapter expects patch_size 16 (the ViT tokens are the 1/16 level)")
        self.patch_embed = nn.Conv2d(3, dim, patch_size, patch_size)
        # Learned for the pre-training grid; resized (bicubic) to the input's grid.
        grid = pretrain_size // patch_size
        self.pretrain_grid = (grid, grid)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        rates = [float(r) for r in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.ModuleList(Block(dim, s["heads"], s["mlp_ratio"], r) for r in rates)
        per_group = depth // s["groups"]
        self.groups = [(g * per_group, (g + 1) * per_group) for g in range(s["groups"])]

        self.spatial_prior = SpatialPriorModule(s["inplanes"], dim)
        self.level_embed = nn.Parameter(torch.zeros(3, dim))
        nn.init.normal_(self.level_embed)
        self.injectors = nn.ModuleList(
            Injector(dim, s["deform_heads"], s["points"], s["value_ratio"])
            for _ in range(s["groups"]))
        self.extractors = nn.ModuleList(
            Extractor(dim, s["deform_heads"], s["points"], s["value_ratio"], s["ffn_ratio"],
                      drop_path_rate)
            for _ in range(s["groups"] + s["extra_extractors"]))
        self.up = nn.ConvTranspose2d(dim, dim, 2, 2)
        self.norms = nn.ModuleList(nn.BatchNorm2d(dim) for _ in range(4))
        self.out_channels = [dim] * 4

    def _position(self, h: int, w: int) -> torch.Tensor:
        gh, gw = self.pretrain_grid
        pos = self.pos_embed.reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(h, w), mode="bicubic", align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c4, spatial, shapes = self.spatial_prior(image)
        sizes = [h * w for h, w in shapes]
        spatial = torch.cat([part + self.level_embed[i] for i, part in
                             enumerate(spatial.split(sizes, dim=1))], dim=1)

        x = self.patch_embed(image)
        b, d, h, w = x.shape
        x = x.flatten(2).transpose(1, 2) + self._position(h, w)
        vit_refs = reference_points([(h, w)], image.device)        # ViT queries, 3 levels
        spatial_refs = reference_points(shapes, image.device)      # spatial queries, 1 level

        extra = len(self.extractors) - len(self.injectors)
        for index, (start, end) in enumerate(self.groups):
            x = self.injectors[index](x, vit_refs, spatial, shapes)
            for block in self.blocks[start:end]:
                x = block(x)
            spatial = self.extractors[index](spatial, spatial_refs, x, (h, w), shapes)
        for extractor in self.extractors[len(self.extractors) - extra:]:
            spatial = extractor(spatial, spatial_refs, x, (h, w), shapes)

        c8, c16, c32 = [part.transpose(1, 2).reshape(b, d, hh, ww) for part, (hh, ww)
                        in zip(spatial.split(sizes, dim=1), shapes)]
        c4 = c4 + self.up(c8)
        vit = x.transpose(1, 2).reshape(b, d, h, w)
        outs = [c4 + resize(vit, 4.0), c8 + resize(vit, 2.0), c16 + vit, c32 + resize(vit, 0.5)]
        return tuple(norm(out) for norm, out in zip(self.norms, outs))
