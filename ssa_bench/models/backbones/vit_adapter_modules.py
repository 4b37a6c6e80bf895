"""Building blocks of ViT-Adapter (Chen et al., "Vision Transformer Adapter for Dense
Predictions", ICLR 2023), written to follow the authors' release (czczup/ViT-Adapter,
``segmentation/mmseg_custom/models/backbones/adapter_modules.py``): same sub-module and parameter
names, shapes, initialisation and arithmetic, so that their checkpoints' names apply here.

* ``SpatialPriorModule`` (``spm``): a ResNet-like conv stem (``stem``: three 3x3 conv-norm-ReLU,
  max-pool; ``conv2``/``conv3``/``conv4``: one strided 3x3 conv-norm-ReLU each) giving 1/4, 1/8,
  1/16 and 1/32 features, projected to the ViT width by the 1x1 convs ``fc1`` ... ``fc4``; the
  last three, flattened, are the spatial tokens. Norms are ``norm_cfg`` (the authors hard-code
  ``nn.SyncBatchNorm``; mmengine turns SyncBN into BN outside a process group).
* ``MSDeformAttention`` (the authors' ``MSDeformAttn``): multi-scale deformable attention
  (Deformable DETR) with a value width of ``value_ratio`` times the model width. The sampling is
  mmcv's pure-PyTorch ``multi_scale_deformable_attn_pytorch`` (``F.grid_sample``), the same
  arithmetic as the authors' PyTorch reference of their CUDA kernel.
* ``Injector``: ViT tokens (queries) attend to the spatial tokens (3 levels); the result enters
  the ViT scaled by ``gamma`` (initialised at ``init_values`` = 0).
* ``Extractor``: spatial tokens (queries) attend to the ViT tokens (1 level), then a conv-FFN
  (``fc1``, 3x3 depth-wise ``dwconv.dwconv`` on each level's grid, GELU, ``fc2``) with drop path.
* ``InteractionBlock``: injector -> a group of ViT blocks -> extractor (-> two extra extractors
  on the last block).

Grids: the authors derive every level's grid from the image size (h//8, h//16, h//32), which is
only consistent for inputs that are multiples of 32 (what their pipelines feed). Here each grid is
the actual feature map's, which gives the same numbers at multiples of 32 and still runs on other
sizes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from torch import nn

Shapes = list[tuple[int, int]]


def _layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


def _checkpointed(fn, *args):
    """``fn(*args)`` through activation checkpointing when gradients flow (the authors' ``with_cp``:
    memory only, same numbers)."""
    if torch.is_grad_enabled() and any(a.requires_grad for a in args
                                       if isinstance(a, torch.Tensor)):
        return cp.checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def _conv_norm_relu(in_ch: int, out_ch: int, stride: int, norm_cfg: dict) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
            build_norm_layer(norm_cfg, out_ch)[1], nn.ReLU(inplace=True)]


class SpatialPriorModule(nn.Module):
    def __init__(self, inplanes: int = 64, dim: int = 1024,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type="SyncBN", requires_grad=True)
        self.stem = nn.Sequential(*_conv_norm_relu(3, inplanes, 2, norm_cfg),
                                  *_conv_norm_relu(inplanes, inplanes, 1, norm_cfg),
                                  *_conv_norm_relu(inplanes, inplanes, 1, norm_cfg),
                                  nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.conv2 = nn.Sequential(*_conv_norm_relu(inplanes, 2 * inplanes, 2, norm_cfg))
        self.conv3 = nn.Sequential(*_conv_norm_relu(2 * inplanes, 4 * inplanes, 2, norm_cfg))
        self.conv4 = nn.Sequential(*_conv_norm_relu(4 * inplanes, 4 * inplanes, 2, norm_cfg))
        self.fc1 = nn.Conv2d(inplanes, dim, 1)
        self.fc2 = nn.Conv2d(2 * inplanes, dim, 1)
        self.fc3 = nn.Conv2d(4 * inplanes, dim, 1)
        self.fc4 = nn.Conv2d(4 * inplanes, dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], Shapes]:
        """-> (1/4 map (B, D, H/4, W/4), [1/8, 1/16, 1/32 tokens (B, h*w, D)], their grids)."""
        c1 = self.stem(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        maps = [self.fc2(c2), self.fc3(c3), self.fc4(c4)]
        shapes = [(int(m.shape[-2]), int(m.shape[-1])) for m in maps]
        return self.fc1(c1), [m.flatten(2).transpose(1, 2) for m in maps], shapes


def reference_points(shapes: Shapes, device: torch.device) -> torch.Tensor:
    """Normalised (x, y) centres of every cell of each grid, concatenated: (1, sum(h*w), 1, 2)."""
    points = []
    for h, w in shapes:
        ys, xs = torch.meshgrid(
            torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device),
            torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device), indexing="ij")
        points.append(torch.stack([xs.reshape(-1) / w, ys.reshape(-1) / h], dim=-1))
    return torch.cat(points, dim=0)[None, :, None]


class MSDeformAttention(nn.Module):
    def __init__(self, dim: int, levels: int, heads: int, points: int, value_ratio: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"deformable attention width {dim} is not divisible by {heads} heads")
        self.heads, self.levels, self.points = heads, levels, points
        self.value_dim = int(dim * value_ratio)
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, self.value_dim)
        self.output_proj = nn.Linear(self.value_dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Deformable DETR's initialisation: head h starts by looking in direction 2*pi*h/heads,
        # point p at distance p + 1, so the heads cover a neighbourhood before any training.
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2.0 * math.pi / self.heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.heads, 1, 1, 2).repeat(1, self.levels, self.points, 1)
        grid = grid * torch.arange(1, self.points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: torch.Tensor, refs: torch.Tensor, value: torch.Tensor,
                shapes: Shapes) -> torch.Tensor:
        """query (B, Nq, D), refs (1|B, Nq, 1, 2) in [0, 1], value (B, Nv, D) on grids ``shapes``."""
        b, nq, _ = query.shape
        value = self.value_proj(value).view(b, value.shape[1], self.heads, -1)
        offsets = self.sampling_offsets(query).view(b, nq, self.heads, self.levels, self.points, 2)
        weights = self.attention_weights(query).view(b, nq, self.heads, self.levels * self.points)
        weights = weights.softmax(-1).view(b, nq, self.heads, self.levels, self.points)
        # offsets are in cells of each level's grid; locations in normalised (x, y)
        normaliser = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype,
                                  device=query.device)
        locations = refs[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        out = multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)
        return self.output_proj(out)


class DWConv(nn.Module):
    """3x3 depth-wise conv applied to each level's grid of a token sequence."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        b, _, c = x.shape
        parts = x.split([h * w for h, w in shapes], dim=1)
        return torch.cat([self.dwconv(p.transpose(1, 2).reshape(b, c, h, w)).flatten(2)
                          .transpose(1, 2) for p, (h, w) in zip(parts, shapes)], dim=1)


class ConvFFN(nn.Module):
    """fc1 -> depth-wise 3x3 conv per level -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), shapes)))


class Injector(nn.Module):
    def __init__(self, dim: int, heads: int, points: int, value_ratio: float,
                 levels: int = 3, init_values: float = 0.0, with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.query_norm = _layer_norm(dim)
        self.feat_norm = _layer_norm(dim)
        self.attn = MSDeformAttention(dim, levels, heads, points, value_ratio)
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, vit: torch.Tensor, refs: torch.Tensor, spatial: torch.Tensor,
                shapes: Shapes) -> torch.Tensor:
        def inner(vit: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
            out = self.attn(self.query_norm(vit), refs, self.feat_norm(spatial), shapes)
            return vit + self.gamma * out

        if self.with_cp and self.training:
            return _checkpointed(inner, vit, spatial)
        return inner(vit, spatial)


class Extractor(nn.Module):
    def __init__(self, dim: int, heads: int, points: int, value_ratio: float, ffn_ratio: float,
                 drop_path: float, with_cffn: bool = True, with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.query_norm = _layer_norm(dim)
        self.feat_norm = _layer_norm(dim)
        self.attn = MSDeformAttention(dim, 1, heads, points, value_ratio)
        self.with_cffn = with_cffn
        if with_cffn:
            self.ffn = ConvFFN(dim, int(dim * ffn_ratio))
            self.ffn_norm = _layer_norm(dim)
            self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, spatial: torch.Tensor, refs: torch.Tensor, vit: torch.Tensor,
                vit_shape: tuple[int, int], spatial_shapes: Shapes) -> torch.Tensor:
        def inner(spatial: torch.Tensor, vit: torch.Tensor) -> torch.Tensor:
            spatial = spatial + self.attn(self.query_norm(spatial), refs, self.feat_norm(vit),
                                          [vit_shape])
            if self.with_cffn:
                spatial = spatial + self.drop_path(self.ffn(self.ffn_norm(spatial),
                                                            spatial_shapes))
            return spatial

        if self.with_cp and self.training:
            return _checkpointed(inner, spatial, vit)
        return inner(spatial, vit)


class InteractionBlock(nn.Module):
    """Injector, then the group's ViT blocks (passed in), then the extractor(s)."""

    def __init__(self, dim: int, heads: int, points: int, value_ratio: float, ffn_ratio: float,
                 drop_path: float, init_values: float = 0.0, with_cffn: bool = True,
                 extra_extractor: bool = False, with_cp: bool = False) -> None:
        super().__init__()
        self.injector = Injector(dim, heads, points, value_ratio, levels=3,
                                 init_values=init_values, with_cp=with_cp)
        self.extractor = Extractor(dim, heads, points, value_ratio, ffn_ratio, drop_path,
                                   with_cffn=with_cffn, with_cp=with_cp)
        self.extra_extractors = nn.ModuleList(
            Extractor(dim, heads, points, value_ratio, ffn_ratio, drop_path,
                      with_cffn=with_cffn, with_cp=with_cp)
            for _ in range(2)) if extra_extractor else None

    def forward(self, x: torch.Tensor, c: torch.Tensor, blocks, vit_refs: torch.Tensor,
                spatial_refs: torch.Tensor, vit_shape: tuple[int, int],
                spatial_shapes: Shapes) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.injector(x, vit_refs, c, spatial_shapes)
        for block in blocks:
            x = block(x)
        c = self.extractor(c, spatial_refs, x, vit_shape, spatial_shapes)
        if self.extra_extractors is not None:
            for extractor in self.extra_extractors:
                c = extractor(c, spatial_refs, x, vit_shape, spatial_shapes)
        return x, c


def init_adapter_weights(module: nn.Module) -> None:
    """The authors' ``_init_weights`` for the adapter parts (``spm``, ``interactions``, ``up``):
    Linear ~ trunc-normal(0.02), bias 0; LayerNorm/BatchNorm2d weight 1, bias 0; (transposed)
    convs ~ N(0, sqrt(2 / fan_out)), bias 0. Deformable attention is reset afterwards."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        fan_out //= module.groups
        module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            module.bias.data.zero_()


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False); at the integer ratios of multiples-of-32 inputs this
    equals the authors' ``scale_factor`` calls (4, 2, 0.5)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
