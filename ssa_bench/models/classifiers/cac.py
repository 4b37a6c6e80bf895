"""CAC, the Context-aware Classifier (Tian et al., AAAI 2023), in the classifier slot.

Notation: features X (B, C, h, w) before the head's dropout, the head's 1x1 classifier W (K, C)
with bias b. Settings and sources: ssa_bench/classifier_settings/cac.py, docs/classifiers.md.

* Inference: coarse mask M = conv_seg(dropout(X)); per-image class centres
  c_k = sum_p softmax_K(M)_kp X_p / sum_p softmax_K(M)_kp; contextual weights
  W~ = proj([c, W]) (MLP 2C -> C/2 -> C); logits = s * cos(X_p, W~_k).
* Training only: the GT-informed weights W^ = apd_proj([W_gt, W]) where W_gt is W (detached) with
  the rows of the classes present in the batch replaced by their labelled class means (pooled over
  the batch, at feature resolution), logits^ = s * cos(X, W^); losses CE(M), CE(logits^) (both
  upsampled with align_corners=True, averaged over labelled pixels) and the distillation of
  logits^ into the contextual logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssa_bench.models.classifiers.base import LossContext, PixelClassifier
from ssa_bench.models.classifiers.head import implements
from ssa_bench.models.classifiers.wrapper import resize_label
from ssa_bench.models.ssa.losses import mean_non_ignored_ce


def fusion_mlp(channels: int) -> nn.Sequential:
    """[centre, weight] (2C) -> C: Linear(2C, C/2, no bias) -> ReLU -> Linear(C/2, C)."""
    return nn.Sequential(nn.Linear(2 * channels, channels // 2, bias=False), nn.ReLU(inplace=True),
                         nn.Linear(channels // 2, channels))


@implements("cac")
class CACClassifier(PixelClassifier):
    def __init__(self, in_channels: int, num_classes: int, settings) -> None:
        super().__init__(in_channels, num_classes, settings)
        self.proj = fusion_mlp(in_channels)          # the contextual classifier (inference)
        self.apd_proj = fusion_mlp(in_channels)      # the GT-informed one (training only)

    def forward(self, features, conv_seg, dropout, record):
        coarse = conv_seg(features if dropout is None else dropout(features))
        weights = conv_seg.weight.flatten(1)                                   # (K, C)
        b, c, h, w = features.shape
        flat = features.reshape(b, c, h * w)
        soft = coarse.reshape(b, -1, h * w).softmax(dim=1)                     # (B, K, N)
        centres = (soft @ flat.transpose(1, 2)) / (soft.sum(-1, keepdim=True) + 1e-12)
        fused = self.proj(torch.cat([centres, weights.unsqueeze(0).expand(b, -1, -1)], dim=-1))
        logits = self._cosine(flat, fused).reshape(b, -1, h, w)
        if record is not None:
            record.update(features=features, coarse=coarse, logits=logits, weights=weights)
        return logits

    def _cosine(self, flat: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """s * cos of (B, C, N) pixels with (B, K, C) class weights -> (B, K, N)."""
        eps = self.settings.norm_eps
        pixels = flat / (flat.norm(dim=1, keepdim=True) + eps)
        classes = classes / (classes.norm(dim=-1, keepdim=True) + eps)
        return self.settings.logit_scale * (classes @ pixels)

    def gt_informed_logits(self, features: torch.Tensor, weights: torch.Tensor,
                           label: torch.Tensor, ignore_index: int) -> torch.Tensor:
        """logits^ (B, K, h, w) from the labelled class means at feature resolution."""
        b, c, h, w = features.shape
        feature_label = resize_label(label, (h, w))
        target = weights.detach().clone()
        for cls in feature_label.unique().tolist():
            if cls == ignore_index or not 0 <= cls < self.num_classes:
                continue
            mask = (feature_label == cls).unsqueeze(1).to(features.dtype)      # (B, 1, h, w)
            mean = (features * mask).sum(dim=(0, 2, 3)) / (mask.sum() + 1e-12)
            target = torch.cat([target[:cls], mean.unsqueeze(0), target[cls + 1:]])
        fused = self.apd_proj(torch.cat([target, weights], dim=-1))           # (K, C)
        # Here the authors normalise with F.normalize (a floor of 1e-12, not an added eps:
        # FH:152-154), unlike the contextual classifier's cosine (norm_eps).
        fused = F.normalize(fused, dim=1)
        pixels = F.normalize(features, dim=1)
        return F.conv2d(pixels, fused[:, :, None, None]) * self.settings.logit_scale

    def losses(self, record: dict, label: torch.Tensor, context: LossContext) -> dict:
        s = self.settings
        ignore = context.ignore_index
        size = label.shape[-2:]
        gt_logits = self.gt_informed_logits(record["features"], record["weights"], label, ignore)
        losses = {}
        if s.w_coarse > 0:
            up = context.upsample(record["coarse"], size, True)
            losses["loss_cac_coarse"] = s.w_coarse * mean_non_ignored_ce(up, label, ignore)
        if s.w_gt > 0:
            up = context.upsample(gt_logits, size, True)
            losses["loss_cac_gt"] = s.w_gt * mean_non_ignored_ce(up, label, ignore)
        if s.w_kl > 0:
            losses["loss_cac_kl"] = s.w_kl * distillation(
                record["logits"], gt_logits.detach(), label, ignore, s.smoothness, s.label_eps,
                s.teacher_temperature)
        return losses


def distillation(student: torch.Tensor, teacher: torch.Tensor, label: torch.Tensor,
                 ignore_index: int, smoothness: float, label_eps: float,
                 temperature: float = 1.0) -> torch.Tensor:
    """CE of the student against smoothness * softmax(teacher / T) + (1 - smoothness) * one-hot,
    per pixel weighted by the entropy of softmax(teacher / T), averaged within each present class,
    then over the classes (FH:208-247). The label is resized (nearest) to the logits."""
    b, k, h, w = student.shape
    target = resize_label(label, (h, w))
    valid = target != ignore_index
    onehot = F.one_hot(torch.where(valid, target, torch.zeros_like(target)), k)
    onehot = onehot.permute(0, 3, 1, 2).to(student.dtype)
    soft = (teacher / temperature).softmax(dim=1)
    smoothed = smoothness * soft + (1 - smoothness) * onehot
    if label_eps > 0:
        smoothed = smoothed * (1 - label_eps) + (1 - smoothed) * label_eps / (k - 1)
    per_pixel = -(F.log_softmax(student, dim=1) * smoothed).sum(1)             # (B, h, w)
    entropy = -(soft * torch.log(soft + 1e-12)).sum(1) * valid.to(student.dtype)
    terms = []
    for cls in target[valid].unique().tolist():
        weight = entropy * (target == cls).to(student.dtype)
        terms.append((per_pixel * weight).sum() / (weight.sum() + 1e-12))
    if not terms:
        return student.sum() * 0.0
    return sum(terms) / (len(terms) + 1e-12)
