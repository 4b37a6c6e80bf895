"""Pixels as rows and back: the prototype classifiers (ProtoSeg, DNC, GMMSeg) score each pixel of a
(B, C, h, w) feature map as one row of a (B*h*w, C) matrix, in (b, y, x) order."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_rows(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B*h*w, C)."""
    return feature_map.permute(0, 2, 3, 1).reshape(-1, feature_map.shape[1])


def to_map(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B*h*w, C) rows of the pixels of ``like`` (B, *, h, w) -> (B, C, h, w)."""
    b, _, h, w = like.shape
    return rows.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def unit_rows(rows: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    """``norm`` over each row's channels (the authors' feat_norm LayerNorm), then unit length."""
    return F.normalize(norm(rows), p=2, dim=-1)


def class_logits(features: torch.Tensor, pixels: torch.Tensor, class_scores: torch.Tensor,
                 record: dict | None, **kept) -> torch.Tensor:
    """(B, K, h, w) logits from the (B*h*w, K) ``class_scores`` of the pixel rows of ``features``.
    With a ``record`` (training, the dump stage), keeps what the losses read -- the features, the
    unit pixel rows, the logits, ``kept`` -- and the pixels as a (B, D, h, w) map for the t-SNE
    figure."""
    logits = to_map(class_scores, features)
    if record is not None:
        record.update(features=features, pixels=pixels, logits=logits,
                      embeddings=to_map(pixels, features), **kept)
    return logits
