"""Settings of GMMSeg (Liang et al., NeurIPS 2022, "GMMSeg: Gaussian Mixture based Generative
Semantic Segmentation Models") as its authors run it (github.com/leonnnop/GMMSeg @ 74f882e;
GH = mmseg/models/decode_heads/gmmseg_head.py, SH = segformer_gmmseg_head.py, GU =
mmseg/utils/GMMSeg.py, BC = configs/_gmmseg/models/base_model_config.py). No torch.

A mixture of diagonal Gaussians per class on the unit sphere of a projected, normalised
embedding; a pixel's class score is its best component log-likelihood (after a LayerNorm over the
classes). In training the pixels of each class are assigned to its components by Sinkhorn-Knopp,
the correctly classified ones enter a per-component memory, and every few iterations an EM-style
momentum step moves each component's mean and scale to its memory's; a contrastive CE over all
components pulls a pixel to its assigned one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from ssa_bench.classifier_settings.fields import resolve_fields


@dataclass(frozen=True)
class GMMSegSettings:
    LABEL: ClassVar[str] = "GMMSeg"

    # Sources: file:line at leonnnop/GMMSeg @74f882e (abbreviations in the module docstring).
    embed_dim: int = 64               # BC:6; GH:29-37 (1x1 ConvModule projection to it if needed)
    num_components: int = 5           # BC:7 (the ADE20K SegFormer-B5 config sets 8)
    momentum_mean: float = 0.999      # BC:8 gamma[0]; GH:43, GH:206
    momentum_scale: float = 0.0       # BC:8 gamma[1]; GH:44, GH:215 (0: scale replaced each step)
    memory_size: int = 32000          # BC:14 mem_size; GH:47-53 (embeddings per component)
    max_sample_size: int = 20         # BC:15; GH:173-176, GU:66-68 (evenly spaced subsample)
    update_interval: int = 5          # BC:17 update_GMM_interval; GH:110
    w_contrast: float = 0.01          # BC:22 contrast_loss_weight; GH:124-125
    sinkhorn_iterations: int = 3      # GU:29
    sinkhorn_epsilon: float = 0.05    # GU:29
    scale_floor: float = 0.01         # GH:212 (scale = sqrt(variance + 1e-2))
    # GH:32-36: the projection's norm is the head's norm_cfg (SyncBN in the authors' configs;
    # on one process SyncBN computes plain BN, so "BN" is for single-GPU runs).
    projection_norm: Literal["SyncBN", "BN"] = "SyncBN"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"embed_dim": ">0", "num_components": ">0", "momentum_mean": (0.0, 1.0),
           "momentum_scale": (0.0, 1.0), "memory_size": ">0", "max_sample_size": ">0",
           "update_interval": ">0", "w_contrast": ">=0", "sinkhorn_iterations": ">0",
           "sinkhorn_epsilon": ">0", "scale_floor": ">0"}


def resolve(block: dict[str, Any] | None) -> GMMSegSettings:
    return resolve_fields(GMMSegSettings, block, ranges=_RANGES)
