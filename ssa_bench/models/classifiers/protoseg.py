"""ProtoSeg (Zhou et al., CVPR 2022) in the classifier slot; settings and sources in
ssa_bench/classifier_settings/protoseg.py, docs/classifiers.md.

The head's 1x1 classifier is replaced by non-learnable prototypes P (K, M, D) on the unit sphere:
x = l2(LayerNorm(l2(proj(dropout(X))))) per pixel, score_k = LayerNorm_K(max_m <x, P_km>). In
training, per class k: the pixels labelled k are assigned to P_k's M prototypes by Sinkhorn-Knopp
(on their cosines), each prototype moves by momentum towards the normalised sum of its assigned
pixels that are also predicted k, and the losses PPC (CE over all K*M cosines, target = the
assigned prototype) and PPD ((1 - cosine to it)^2) are added to the head's CE (by default on the
logits upsampled with align_corners=True, as the authors' loss does).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssa_bench.models.classifiers.base import LossContext, PixelClassifier
from ssa_bench.models.classifiers.head import implements
from ssa_bench.models.classifiers.online_clustering import (momentum_step, sinkhorn_plan,
                                                          unit_mean_across_ranks)
from ssa_bench.models.classifiers.pixel_rows import class_logits, to_rows, unit_rows
from ssa_bench.models.classifiers.wrapper import resize_label


class ProjectionHead(nn.Module):
    """1x1 conv -> ReLU -> 1x1 conv, then L2-normalised along ``norm`` ("width": the last
    axis, as the authors' code does; "channels")."""

    def __init__(self, channels: int, norm: str = "width") -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 1))
        self.dim = -1 if norm == "width" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(x), p=2, dim=self.dim)


@implements("protoseg")
class ProtoSegClassifier(PixelClassifier):
    uses_conv_seg = False

    def __init__(self, in_channels: int, num_classes: int, settings) -> None:
        super().__init__(in_channels, num_classes, settings)
        # The head's CE is then computed here, on logits upsampled the authors' way.
        self.replaces_head_loss = settings.upsample_align_corners == "true"
        self.proj_head = ProjectionHead(in_channels, settings.projection_norm)
        self.feat_norm = nn.LayerNorm(in_channels)
        self.mask_norm = nn.LayerNorm(num_classes)
        prototypes = torch.zeros(num_classes, settings.num_prototypes, in_channels)
        nn.init.trunc_normal_(prototypes, std=settings.prototype_init_std)
        # A buffer: the prototypes are never learnt by gradient, only moved by momentum.
        self.register_buffer("prototypes_", F.normalize(prototypes, p=2, dim=-1))

    def embed(self, features: torch.Tensor, dropout: nn.Module | None) -> torch.Tensor:
        """(B, D, h, w) head features -> (B*h*w, D) unit pixel embeddings."""
        x = self.proj_head(features if dropout is None else dropout(features))
        return unit_rows(to_rows(x), self.feat_norm)

    def forward(self, features, conv_seg, dropout, record):
        pixels = self.embed(features, dropout)
        masks = torch.einsum("nd,kmd->nmk", pixels, self.prototypes_)          # (N, M, K)
        seg = self.mask_norm(masks.amax(dim=1))                                # (N, K)
        return class_logits(features, pixels, seg, record, masks=masks)

    def prototypes(self) -> torch.Tensor:
        return self.prototypes_

    def losses(self, record: dict, label: torch.Tensor, context: LossContext) -> dict:
        s = self.settings
        logits = record["logits"]
        target = resize_label(label, logits.shape[-2:]).reshape(-1)
        contrast_logits, contrast_target = self.learn_prototypes(
            record["pixels"], logits, record["masks"], target)
        valid = contrast_target != context.ignore_index
        losses = {}
        if self.replaces_head_loss:
            losses.update(context.decode_losses(_upsample_aligned(logits, label.shape[-2:]), label))
        if s.w_ppc > 0:
            losses["loss_ppc"] = s.w_ppc * _ce_or_zero(contrast_logits, contrast_target, valid)
        if s.w_ppd > 0:
            picked = contrast_logits[valid].gather(1, contrast_target[valid, None])
            losses["loss_ppd"] = s.w_ppd * ((1 - picked).pow(2).mean() if valid.any()
                                            else contrast_logits.sum() * 0.0)
        return losses

    def learn_prototypes(self, pixels: torch.Tensor, logits: torch.Tensor, masks: torch.Tensor,
                         target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cosines to all K*M prototypes (N, K*M), each pixel's assigned prototype index
        (N,; the label's ignore value where ignored), and the momentum update of the prototypes
        (lib/models/nets/hrnet.py:86-138 of the authors' code)."""
        s = self.settings
        m = s.num_prototypes
        predicted = logits.argmax(dim=1).reshape(-1)
        correct = target == predicted
        contrast_logits = pixels @ self.prototypes_.reshape(-1, self.prototypes_.shape[-1]).t()
        contrast_target = target.clone()
        with torch.no_grad():
            prototypes = self.prototypes_.clone()
            for k in range(self.num_classes):
                of_k = target == k
                if not of_k.any():
                    continue
                assignment, index = sinkhorn_assign(masks[of_k, :, k], s.sinkhorn_iterations,
                                                    s.sinkhorn_epsilon, s.gumbel_tau)
                if s.update_prototypes:
                    momentum_step(prototypes[k], assignment, pixels[of_k], correct[of_k],
                                  s.momentum)
                contrast_target[of_k] = index + m * k
            self.prototypes_ = unit_mean_across_ranks(prototypes)
        return contrast_logits, contrast_target


def sinkhorn_assign(similarity: torch.Tensor, iterations: int, epsilon: float,
                    tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, M) cosines of n pixels to M prototypes -> (a hard one-hot Gumbel sample (n, M) of the
    Sinkhorn-Knopp equipartition plan, the plan's argmax (n,)). The sample (drawn from torch's
    global generator, as the authors' is) decides which prototype a pixel moves; the argmax is
    its PPC/PPD target."""
    plan = sinkhorn_plan(similarity, iterations, epsilon)
    return F.gumbel_softmax(plan, tau=tau, hard=True), plan.argmax(dim=1)


def _upsample_aligned(logits: torch.Tensor, size) -> torch.Tensor:
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)


def _ce_or_zero(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """CE over the non-ignored rows; 0 (not 0/0) when none is."""
    if not valid.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[valid], target[valid])
