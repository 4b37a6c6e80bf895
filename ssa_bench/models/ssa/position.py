"""Position encodings PE(S_f) for the spatial branch (Table 7 of the paper).

Each module maps pixel features (B, D, H, W) to position features of shape (B or 1, D, H, W):

* ``cpvt``: conditional encoding (Chu et al., CPVT): a depth-wise 3x3 convolution of the features,
  so the code depends on the neighbourhood -- the paper's choice.
* ``sinusoidal``: fixed 2-D sine/cosine code of the pixel coordinates (half the channels for y,
  half for x), coordinates normalised to (0, 2*pi] so any feature size gets the same range.
* ``learnable``: an absolute code learnt on a fixed grid, resized bilinearly to the feature size
  (a fixed grid, because training crops and whole test images differ in size).

The residual form of the released code (S_f + PE(S_f)) is applied by the classifier.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEARNABLE_GRID = 32


class ConditionalPE(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dwconv(features)


class SinusoidalPE(nn.Module):
    def __init__(self, channels: int, temperature: float = 10000.0) -> None:
        super().__init__()
        self.channels = channels
        self.temperature = temperature

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        _, _, height, width = features.shape
        return sinusoidal_code(self.channels, height, width, self.temperature,
                               features.device, features.dtype)


def sinusoidal_code(channels: int, height: int, width: int, temperature: float,
                    device, dtype) -> torch.Tensor:
    """(1, channels, height, width): [sin/cos of y at each frequency, sin/cos of x ...]."""
    per_axis = math.ceil(channels / 2)
    n_freq = math.ceil(per_axis / 2)
    freqs = temperature ** (-torch.arange(n_freq, device=device, dtype=torch.float32) / n_freq)

    def axis_code(length: int) -> torch.Tensor:
        coords = (torch.arange(length, device=device, dtype=torch.float32) + 1) / length
        angles = coords[:, None] * (2 * math.pi) * freqs[None, :]          # (L, n_freq)
        return torch.cat([angles.sin(), angles.cos()], dim=1)[:, :per_axis]  # (L, per_axis)

    y = axis_code(height).t()[:, :, None].expand(-1, height, width)
    x = axis_code(width).t()[:, None, :].expand(-1, height, width)
    code = torch.cat([y, x], dim=0)[:channels]
    return code.unsqueeze(0).to(dtype)


class LearnablePE(nn.Module):
    def __init__(self, channels: int, grid: int = LEARNABLE_GRID) -> None:
        super().__init__()
        self.code = nn.Parameter(torch.zeros(1, channels, grid, grid))
        nn.init.trunc_normal_(self.code, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = features.shape[-2:]
        if tuple(size) == tuple(self.code.shape[-2:]):
            return self.code
        return F.interpolate(self.code, size=size, mode="bilinear", align_corners=False)


def build_position_encoding(kind: str, channels: int) -> nn.Module:
    if kind == "cpvt":
        return ConditionalPE(channels)
    if kind == "sinusoidal":
        return SinusoidalPE(channels)
    if kind == "learnable":
        return LearnablePE(channels)
    raise ValueError(f"unknown position encoding {kind!r} (cpvt, sinusoidal, learnable)")
