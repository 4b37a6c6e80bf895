"""Building blocks of ViT-Adapter (Chen et al., "Vision Transformer Adapter for Dense
Predictions", ICLR 2023), written from the paper's description (Sec. 3.2, Fig. 4):

* ``SpatialPriorModule``: a ResNet-like conv stem giving 1/4, 1/8, 1/16 and 1/32 features,
  projected to the ViT width by 1x1 convs; the last three, flattened, are the spatial tokens.
* ``MSDeformAttention``: multi-scale deformable attention (Deformable DETR) -- each query
  samples ``points`` locations per head and level around its reference point, at offsets and
  with weights predicted from the query by linear layers. The sampling is mmcv's pure-PyTorch
  ``multi_scale_deformable_attn_pytorch`` (``F.grid_sample``), so no compiled op is needed.
* ``Injector``: ViT tokens (queries) attend to the spatial tokens (keys/values, 3 levels); the
  result enters the ViT scaled by a learnable vector initialised at 0, so a pretrained ViT starts
  unchanged.
* ``Extractor``: spatial tokens (queries) attend to the ViT tokens (1 level), then a conv-FFN
  (linear, 3x3 depth-wise conv per level, GELU, linear).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from torch import nn

Shapes = list[tuple[int, int]]


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True)]


class SpatialPriorModule(nn.Module):
    def __init__(self, inplanes: int, dim: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(3, inplanes, 2), *_conv_bn_relu(inplanes, inplanes),
                                  *_conv_bn_relu(inplanes, inplanes), nn.MaxPool2d(3, 2, 1))
        self.down8 = nn.Sequential(*_conv_bn_relu(inplanes, 2 * inplanes, 2))
        self.down16 = nn.Sequential(*_conv_bn_relu(2 * inplanes, 4 * inplanes, 2))
        self.down32 = nn.Sequential(*_conv_bn_relu(4 * inplanes, 4 * inplanes, 2))
        self.proj = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in
                                  (inplanes, 2 * inplanes, 4 * inplanes, 4 * inplanes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Shapes]:
        """-> (1/4 map (B, D, H/4, W/4), spatial tokens (B, N8+N16+N32, D), their grid shapes)."""
        c4 = self.stem(x)
        c8 = self.down8(c4)
        c16 = self.down16(c8)
        c32 = self.down32(c16)
        maps = [proj(c) for proj, c in zip(self.proj, (c4, c8, c16, c32))]
        shapes = [tuple(m.shape[-2:]) for m in maps[1:]]
        tokens = torch.cat([m.flatten(2).transpose(1, 2) for m in maps[1:]], dim=1)
        return maps[0], tokens, shapes


def reference_points(shapes: Shapes, device: torch.device) -> torch.Tensor:
    """Normalised (x, y) centres of every cell of each grid, concatenated: (1, sum(h*w), 1, 2)."""
    points = []
    for h, w in shapes:
        ys, xs = torch.meshgrid(torch.linspace(0.5, h - 0.5, h, device=device) / h,
                                torch.linspace(0.5, w - 0.5, w, device=device) / w, indexing="ij")
        points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1))
    return torch.cat(points, dim=0)[None, :, None]


class MSDeformAttention(nn.Module):
    def __init__(self, dim: int, levels: int, heads: int, points: int, value_ratio: float) -> None:
        super().__init__()
        self.heads, self.levels, self.points = heads, levels, points
        self.value_dim = int(dim * value_ratio)
        self.value_proj = nn.Linear(dim, self.value_dim)
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.output_proj = nn.Linear(self.value_dim, dim)
        self._init_offsets()

    def _init_offsets(self) -> None:
        # Deformable DETR's initialisation: head h starts by looking in direction 2*pi*h/heads,
        # point p at distance p + 1, so the heads cover a neighbourhood before any training.
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2.0 * torch.pi / self.heads)
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


class Injector(nn.Module):
    def __init__(self, dim: int, heads: int, points: int, value_ratio: float) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feat_norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MSDeformAttention(dim, 3, heads, points, value_ratio)
        self.gamma = nn.Parameter(torch.zeros(dim))

    def forward(self, vit: torch.Tensor, refs: torch.Tensor, spatial: torch.Tensor,
                shapes: Shapes) -> torch.Tensor:
        out = self.attn(self.query_norm(vit), refs, self.feat_norm(spatial), shapes)
        return vit + self.gamma * out


class ConvFFN(nn.Module):
    """Linear -> 3x3 depth-wise conv on each level's grid -> GELU -> linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        x = self.fc1(x)
        b, _, c = x.shape
        parts = x.split([h * w for h, w in shapes], dim=1)
        x = torch.cat([self.dwconv(p.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
                       for p, (h, w) in zip(parts, shapes)], dim=1)
        return self.fc2(self.act(x))


class Extractor(nn.Module):
    def __init__(self, dim: int, heads: int, points: int, value_ratio: float, ffn_ratio: float,
                 drop_path: float) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feat_norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MSDeformAttention(dim, 1, heads, points, value_ratio)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = ConvFFN(dim, int(dim * ffn_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, spatial: torch.Tensor, refs: torch.Tensor, vit: torch.Tensor,
                vit_shape: tuple[int, int], spatial_shapes: Shapes) -> torch.Tensor:
        spatial = spatial + self.attn(self.query_norm(spatial), refs, self.feat_norm(vit),
                                      [vit_shape])
        return spatial + self.drop_path(self.ffn(self.ffn_norm(spatial), spatial_shapes))


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
