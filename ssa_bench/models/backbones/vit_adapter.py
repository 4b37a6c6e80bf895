"""ViT-Adapter backbone (Chen et al., ICLR 2023), written to follow the authors' release
(czczup/ViT-Adapter: ``segmentation/mmseg_custom/models/backbones/vit_adapter.py``,
``base/vit.py``, ``adapter_modules.py``; config
``configs/ade20k/upernet_augreg_adapter_large_512_160k_ade20k.py``).

A plain ViT (patch 16, global attention, timm layout) is split into four groups of blocks
(``interaction_indexes``); before each group an *injector* puts spatial priors from a conv stem
into the ViT tokens, after it an *extractor* pulls them back out (``vit_adapter_modules``). The
outputs are four maps at 1/4, 1/8, 1/16 and 1/32: the spatial features plus the ViT tokens after
group 1, 2, 3 and 4 resized to each scale (x4, x2, x1, x0.5), each through its own norm
(``norm1`` ... ``norm4``, SyncBN in the authors' code).

ViT-Adapter-L: ViT-L/16 (1024 wide, 24 blocks, 16 heads, MLP 4, qkv bias, LayerNorm eps 1e-6,
layer scale ``gamma1``/``gamma2`` initialised at 1 -- ``TIMMVisionTransformer``'s default, which
the large config keeps), groups [0-5], [6-11], [12-17], [18-23], 16 deformable heads with 4
points, value width ratio 0.5, conv-FFN ratio 0.25, two extra extractors after the last group,
drop path 0.4 (linear over the blocks; constant 0.4 in the extractors), injector ``gamma`` at 0.

Parameter names are the authors' (``patch_embed.proj``, ``pos_embed``, ``blocks.<i>.{norm1,
attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, gamma1, gamma2}``, ``level_embed``, ``spm.*``,
``interactions.<g>.{injector, extractor, extra_extractors}.*``, ``up``, ``norm1``-``norm4``), so
the AugReg ViT-L/16-384 checkpoint (timm layout, 296 tensors) loads by name into the ViT part
(``ssa_bench/weights/catalog.yaml``, entry ``vit_adapter_l``, loaded by ``StrictPretrained``). As
with the authors' loader (``mmcv_custom.my_load_checkpoint``, non-strict), the checkpoint's
``cls_token``, ``norm.*`` and ``head.*`` have no place here and are dropped, and the layer-scale
vectors and the whole adapter are not in the checkpoint and keep their initialisation.

Position embeddings: ``pos_embed`` keeps the pre-training layout, (1, 1 + (384/16)^2, 1024) =
(1, 577, 1024) with the class-token slot first (unused: the adapter has no class token). At every
forward the 24x24 grid part is resized bicubically (align_corners=False) to the input's patch
grid (32x32 at 512), exactly as the authors' ``_get_pos_embed``.

Attention is written as explicit matrix products (not ``scaled_dot_product_attention``), in the
authors' order ``(q @ k^T) * scale``, so that the traced FLOPs count sees them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ssa_bench.models.backbones.vit_adapter_modules import (InteractionBlock, MSDeformAttention,
                                                            SpatialPriorModule,
                                                            init_adapter_weights,
                                                            reference_points, resize_to)

class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, h, w = x.shape
        return x.flatten(2).transpose(1, 2), h, w


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float,
                 layer_scale: bool = True, with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.layer_scale = layer_scale
        if layer_scale:
            self.gamma1 = nn.Parameter(torch.ones(dim))
            self.gamma2 = nn.Parameter(torch.ones(dim))

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer_scale:
            x = x + self.drop_path(self.gamma1 * self.attn(self.norm1(x)))
            return x + self.drop_path(self.gamma2 * self.mlp(self.norm2(x)))
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and torch.is_grad_enabled() and x.requires_grad:
            return cp.checkpoint(self._inner, x, use_reentrant=False)
        return self._inner(x)


ARCH_SETTINGS = {
    "L": dict(dim=1024, depth=24, heads=16, mlp_ratio=4.0, deform_heads=16, points=4,
              value_ratio=0.5, ffn_ratio=0.25, inplanes=64,
              interaction_indexes=[[0, 5], [6, 11], [12, 17], [18, 23]]),
}


def even_groups(depth: int, groups: int = 4) -> list[list[int]]:
    """``[[first, last], ...]`` of ``groups`` equal runs of blocks (the authors' index layout)."""
    if depth % groups:
        raise ValueError(f"ViTAdapter depth {depth} does not split into {groups} equal groups")
    per = depth // groups
    return [[g * per, (g + 1) * per - 1] for g in range(groups)]


@MODELS.register_module()
class ViTAdapter(BaseModule):
    """Returns (1/4, 1/8, 1/16, 1/32) maps, all ``dim`` channels.

    ``depth`` (default: the arch's) exists to build a shallower model for tests; the groups are
    then ``even_groups(depth)`` unless ``interaction_indexes`` is given. ``norm_cfg`` is the norm
    of the spatial prior module and of the four output norms (the authors': SyncBN).
    """

    def __init__(self, arch: str = "L", patch_size: int = 16, pretrain_size: int = 384,
                 drop_path_rate: float = 0.4, layer_scale: bool = True,
                 depth: int | None = None, interaction_indexes: list | None = None,
                 init_values: float = 0.0, with_cffn: bool = True,
                 add_vit_feature: bool = True, use_extra_extractor: bool = True,
                 norm_cfg: dict | None = None, with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f"ViTAdapter arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}")
        if patch_size != 16:
            raise ValueError("ViTAdapter expects patch_size 16 (the ViT tokens are the 1/16 level)")
        if pretrain_size % patch_size:
            raise ValueError(f"pretrain_size {pretrain_size} is not a multiple of {patch_size}")
        s = ARCH_SETTINGS[arch]
        dim = s["dim"]
        depth = s["depth"] if depth is None else int(depth)
        if interaction_indexes is None:
            interaction_indexes = (s["interaction_indexes"] if depth == s["depth"]
                                   else even_groups(depth))
        groups = [list(map(int, pair)) for pair in interaction_indexes]
        consecutive = all(a[1] + 1 == b[0] for a, b in zip(groups, groups[1:]))
        if len(groups) != 4 or groups[0][0] != 0 or groups[-1][1] != depth - 1 or not consecutive:
            raise ValueError(f"interaction_indexes {interaction_indexes} must cover blocks "
                             f"0..{depth - 1} in 4 consecutive groups")
        self.interaction_indexes = groups
        norm_cfg = norm_cfg or dict(type="SyncBN", requires_grad=True)
        self.embed_dim = dim
        self.add_vit_feature = add_vit_feature

        # --- the ViT (authors' TIMMVisionTransformer; torch default init, pos_embed zeros) ---
        self.patch_embed = PatchEmbed(patch_size, dim)
        grid = pretrain_size // patch_size
        self.pretrain_grid = (grid, grid)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        rates = [float(r) for r in torch.linspace(0, drop_path_rate, depth, device="cpu")]
        self.blocks = nn.ModuleList(
            Block(dim, s["heads"], s["mlp_ratio"], rate, layer_scale=layer_scale, with_cp=with_cp)
            for rate in rates)

        # --- the adapter ---
        self.level_embed = nn.Parameter(torch.zeros(3, dim))
        self.spm = SpatialPriorModule(s["inplanes"], dim, norm_cfg=norm_cfg)
        last = len(self.interaction_indexes) - 1
        self.interactions = nn.ModuleList(
            InteractionBlock(dim, s["deform_heads"], s["points"], s["value_ratio"],
                             s["ffn_ratio"], drop_path_rate, init_values=init_values,
                             with_cffn=with_cffn,
                             extra_extractor=(i == last and use_extra_extractor),
                             with_cp=with_cp)
            for i in range(len(self.interaction_indexes)))
        self.up = nn.ConvTranspose2d(dim, dim, 2, 2)
        for i in range(1, 5):
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, dim)[1])
        self.out_channels = [dim] * 4

        # The authors' initialisation order: adapter parts, then deformable attention, then
        # the level embedding ~ N(0, 1).
        self.up.apply(init_adapter_weights)
        self.spm.apply(init_adapter_weights)
        self.interactions.apply(init_adapter_weights)
        for module in self.modules():
            if isinstance(module, MSDeformAttention):
                module.reset_parameters()
        nn.init.normal_(self.level_embed)

    # ---------------------------------------------------------------- forward
    def _get_pos_embed(self, h: int, w: int) -> torch.Tensor:
        gh, gw = self.pretrain_grid
        pos = self.pos_embed[:, 1:].reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(h, w), mode="bicubic", align_corners=False)
        return pos.reshape(1, -1, h * w).permute(0, 2, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c1, (c2, c3, c4), shapes = self.spm(image)
        c = torch.cat([c2 + self.level_embed[0], c3 + self.level_embed[1],
                       c4 + self.level_embed[2]], dim=1)

        x, h, w = self.patch_embed(image)
        b, _, dim = x.shape
        x = x + self._get_pos_embed(h, w)
        vit_refs = reference_points([(h, w)], image.device)   # ViT queries into 3 levels
        spatial_refs = reference_points(shapes, image.device)  # spatial queries into the ViT

        outs = []
        for (first, last), layer in zip(self.interaction_indexes, self.interactions):
            x, c = layer(x, c, self.blocks[first:last + 1], vit_refs, spatial_refs, (h, w), shapes)
            outs.append(x.transpose(1, 2).reshape(b, dim, h, w))

        c2, c3, c4 = [part.transpose(1, 2).reshape(b, dim, hh, ww) for part, (hh, ww)
                      in zip(c.split([hh * ww for hh, ww in shapes], dim=1), shapes)]
        up = self.up(c2)
        c1 = up[..., :c1.shape[-2], :c1.shape[-1]] + c1
        maps = [c1, c2, c3, c4]
        if self.add_vit_feature:
            maps = [m + resize_to(o, tuple(m.shape[-2:])) for m, o in zip(maps, outs)]
        return tuple(getattr(self, f"norm{i + 1}")(m) for i, m in enumerate(maps))
