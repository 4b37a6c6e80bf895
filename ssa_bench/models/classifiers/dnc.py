"""DNC (Wang et al., ICLR 2023) in the classifier slot; settings and sources in
ssa_bench/classifier_settings/dnc.py, docs/classifiers.md (## DNC).

The head's 1x1 classifier is replaced by non-learnable sub-centroids C (K, M, D) on the unit
sphere: x = l2(LayerNorm_D(dropout(X))) per pixel, score_k = LayerNorm_K(max_m <x, C_km>). In
training, per class k: the pixels labelled k are assigned to C_k's M sub-centroids (the authors'
optimal-transport routine and a hard Gumbel sample), and each sub-centroid moves by momentum
towards the normalised sum of its assigned pixels that are also predicted k. The loss is the
head's CE on the logits, plus (off by default) a CE over all K*M centroid cosines.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssa_bench.models.classifiers.base import LossContext, PixelClassifier
from ssa_bench.models.classifiers.head import implements
from ssa_bench.models.classifiers.online_clustering import (momentum_step, sinkhorn_one_hot,
                                                          unit_mean_across_ranks)
from ssa_bench.models.classifiers.pixel_rows import class_logits, to_rows, unit_rows
from ssa_bench.models.classifiers.wrapper import resize_label


def transport_assign(similarity: torch.Tensor, iterations: int, epsilon: float,
                     tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, M) pixel-to-sub-centroid cosines -> (hard one-hot Gumbel sample (n, M), argmax (n,)).

    The authors' accelerated primal-dual loop never advances its dual iterates (they stay 0), so
    every pass sets the plan to exp(-S / gamma) / sum, gamma = eps / (3 log n): a softmax over
    all n*M entries of the *negative* cosines. It is computed here as that softmax, which equals
    theirs wherever their exp does not overflow (it does beyond ~1.3e5 pixels of one class). With
    fewer than two passes their plan stays 0. Their log(1) = 0 divides by zero for a class with
    one pixel; the limit (a uniform plan) is used instead. Like theirs, the plan is float64, so the
    Gumbel noise is drawn in float64 from torch's global generator.
    """
    n, m = similarity.shape
    cost = similarity.detach().double()
    if iterations < 2:
        plan = torch.zeros_like(cost)
    elif n == 1:
        plan = torch.full_like(cost, 1.0 / m)
    else:
        gamma = epsilon / (3 * math.log(n))
        plan = torch.softmax((-cost / gamma).reshape(-1), dim=0).reshape(n, m)
    index = plan.argmax(dim=1)
    return F.gumbel_softmax(plan, tau=tau, hard=True).detach(), index


@implements("dnc")
class DNCClassifier(PixelClassifier):
    uses_conv_seg = False

    def __init__(self, in_channels: int, num_classes: int, settings) -> None:
        super().__init__(in_channels, num_classes, settings)
        self.feat_norm = nn.LayerNorm(in_channels)
        self.mask_norm = nn.LayerNorm(num_classes)
        centroids = torch.zeros(num_classes, settings.num_subcentroids, in_channels)
        nn.init.trunc_normal_(centroids, std=settings.subcentroid_init_std)
        # A buffer: sub-centroids are never learnt by gradient, only moved by momentum. Stored
        # normalised, so inference reads them without writing (theirs re-normalises in place).
        self.register_buffer("subcentroids", F.normalize(centroids, p=2, dim=-1))
        # Raw pixel features and labels of the batches waiting for the next update (training
        # only, never saved): the authors' memory bank.
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] = []

    def score(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, D) raw pixel features -> unit embeddings (N, D), cosines (N, M, K), scores (N, K)."""
        pixels = unit_rows(flat, self.feat_norm)
        masks = torch.einsum("nd,kmd->nmk", pixels, self.subcentroids)
        return pixels, masks, self.mask_norm(masks.amax(dim=1))

    def forward(self, features, conv_seg, dropout, record):
        flat = to_rows(features if dropout is None else dropout(features))
        pixels, masks, seg = self.score(flat)
        return class_logits(features, pixels, seg, record, flat=flat, masks=masks, scores=seg)

    def prototypes(self) -> torch.Tensor:
        return self.subcentroids

    def losses(self, record: dict, label: torch.Tensor, context: LossContext) -> dict:
        s = self.settings
        target = resize_label(label, record["logits"].shape[-2:]).reshape(-1)
        if s.memory_bank_batches == 1:
            pixels, masks, scores = record["pixels"], record["masks"], record["scores"]
        else:
            self._bank.append((record["flat"].detach(), target))
            if len(self._bank) < s.memory_bank_batches:
                return {}
            # Earlier batches enter without gradient (theirs gathers them without gradient).
            flat = torch.cat([f for f, _ in self._bank[:-1]] + [record["flat"]])
            target = torch.cat([t for _, t in self._bank])
            self._bank = []
            pixels, masks, scores = self.score(flat)
        contrast_logits, contrast_target = self.learn_subcentroids(pixels, scores, masks, target)
        if not s.centroid_contrast_loss:
            return {}
        valid = contrast_target != context.ignore_index
        loss = (F.cross_entropy(contrast_logits[valid], contrast_target[valid]) if valid.any()
                else contrast_logits.sum() * 0.0)
        return {"loss_centroid_contrast": s.centroid_contrast_weight * loss}

    def assign(self, similarity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        if s.assignment == "sinkhorn":
            return sinkhorn_one_hot(similarity, s.sinkhorn_iterations, s.sinkhorn_epsilon)
        return transport_assign(similarity, s.agd_iterations, s.agd_epsilon, s.gumbel_tau)

    def learn_subcentroids(self, pixels: torch.Tensor, scores: torch.Tensor, masks: torch.Tensor,
                           target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The centroid contrast logits (N, K*M) and targets (N,; ignore stays ignore), and the
        momentum update of the sub-centroids from the correctly classified pixels."""
        s = self.settings
        m = s.num_subcentroids
        correct = target == scores.argmax(dim=1)
        flat_centroids = self.subcentroids.reshape(-1, self.subcentroids.shape[-1])
        contrast_logits = pixels @ flat_centroids.t() / s.temperature
        contrast_target = target.clone()
        with torch.no_grad():
            centroids = self.subcentroids.clone()
            for k in range(self.num_classes):
                of_k = target == k
                if not of_k.any():
                    continue
                assignment, index = self.assign(masks[of_k, :, k])
                if s.update_subcentroids:
                    momentum_step(centroids[k], assignment, pixels[of_k], correct[of_k],
                                  s.momentum)
                contrast_target[of_k] = index + m * k
            self.subcentroids = unit_mean_across_ranks(centroids)
        return contrast_logits, contrast_target
