"""The one interface every pixel classifier implements (SSA's comparators of Table 2).

A :class:`PixelClassifier` replaces a decode head's 1x1 ``conv_seg``. ``ClassifierHead`` calls

* ``forward(features, conv_seg, dropout, record)`` -> (B, K, h, w) logits, at inference and in
  training. ``features`` are the head's features *before* its dropout; ``conv_seg`` is the head's
  own classifier (a classifier may use it, e.g. as coarse mask, or ignore it: then
  ``uses_conv_seg = False`` and the wrapper drops it so it costs no parameters). In training
  ``record`` is a dict in which the classifier leaves what its losses need; at inference it is
  ``None`` and nothing but the logits may be computed (training-only parts never enter FLOPs).
* ``losses(record, label, context)`` -> extra loss terms (names starting with ``loss_``), given
  the (B, H, W) label at input resolution. The head's own ``loss_decode`` on the upsampled
  logits is added by the wrapper unless ``replaces_head_loss``. Momentum and EM updates of
  non-learnt state (prototypes, mixtures) happen here, under ``torch.no_grad()``.
* ``prototypes()`` -> (K, M, D) class prototypes for the t-SNE figure, or ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass
class LossContext:
    """What a classifier's losses may use of the head it sits in."""

    ignore_index: int
    # (logits, label, suffix="", weight=1.0) -> the head's loss_decode terms, named + suffix
    decode_losses: Callable[..., dict]
    # (logits, size) -> logits resized bilinearly with the head's align_corners
    upsample: Callable[..., torch.Tensor]


class PixelClassifier(nn.Module):
    uses_conv_seg: bool = True
    replaces_head_loss: bool = False

    def __init__(self, in_channels: int, num_classes: int, settings) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.settings = in_channels, num_classes, settings

    def forward(self, features: torch.Tensor, conv_seg: nn.Conv2d | None,
                dropout: nn.Module | None, record: dict | None) -> torch.Tensor:
        raise NotImplementedError

    def losses(self, record: dict, label: torch.Tensor, context: LossContext) -> dict:
        return {}

    def prototypes(self) -> torch.Tensor | None:
        return None
