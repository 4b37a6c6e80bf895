"""The boundary mask B of L_rd (Eq. 10), as torch ops on the label's device.

The paper applies Canny to the ground-truth mask and dilates the edges to ``edge_size``. On a
piecewise-constant label map Canny has nothing to smooth, and after non-maximum suppression it
leaves a one-pixel line at each label change; that is what :func:`label_edges` marks (the pixel
whose right or lower neighbour has another label, the ignore label included). The dilation is
a max-pool with an ``edge_size`` x ``edge_size`` window (for an even size the extra pixel goes
right/down), so the band is ``edge_size`` pixels wide.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def label_edges(label: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: one-pixel label changes of a (B, H, W) integer label map."""
    edges = torch.zeros_like(label, dtype=torch.bool)
    edges[:, :, :-1] |= label[:, :, :-1] != label[:, :, 1:]
    edges[:, :-1, :] |= label[:, :-1, :] != label[:, 1:, :]
    return edges


def boundary_mask(label: torch.Tensor, edge_size: int, border: int = 0) -> torch.Tensor:
    """(B, H, W) bool band of width ``edge_size`` around the label changes.

    ``border``: edges closer than this to the image border are dropped before the dilation
    (the released code zeroes a 6-pixel frame, where crops and padding make false edges).
    """
    if edge_size < 1 or border < 0:
        raise ValueError(f"edge_size must be >= 1 and border >= 0, got {edge_size}, {border}")
    edges = label_edges(label)
    if border > 0:
        frame = torch.zeros_like(edges)
        frame[:, border:-border, border:-border] = True
        edges &= frame
    if edge_size == 1:
        return edges
    before, after = (edge_size - 1) // 2, edge_size // 2
    padded = F.pad(edges.unsqueeze(1).float(), (before, after, before, after))
    return F.max_pool2d(padded, edge_size, stride=1).squeeze(1) > 0
