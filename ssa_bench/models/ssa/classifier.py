"""The SSA classifier proper: the primary (student) classifier and the training-only teacher.

Notation of the paper (Section 3.2): pixel features S_f (B, D, H, W), fixed prototypes S (K, D)
= the weights of the head's 1x1 ``conv_seg``, coarse mask M_c = conv_seg(dropout(S_f)). The
head's dropout touches only M_c: every other use of S_f (centres, P_f, the final logits, the
teacher) takes the features before dropout, as the released heads do (their ``forward``
returns the features ahead of ``cls_seg``'s dropout, SF:98-102).

* SEPA: S_c = soft class mean of S_f under Softmax_K(M_c) (Eq. 4, "the average features of the
  pixels of each class"); S_p = phi_s([S_c, S]) (Eq. 5).
* SPPA: P_f = PE(S_f) (or S_f + PE(S_f), ``pe_residual``); P_c = Softmax_HW(M_c) x P_f (Eq. 6;
  with ``centre_softmax='k'``, the soft class mean under Softmax_K, Table 6); P_p = phi_p([P_c, P])
  with the learnt position basis P (K, D) (Eq. 7), or phi_p([P, P_c]) (``sppa_concat``).
* Output O = (S_f + P_f) x (S_p + P_p)^T (Eq. 2), or cosine x ``logit_scale``. Without SPPA
  the spatial terms drop out, without SEPA S_p is S; with neither, O = M_c exactly.

The teacher (:meth:`SSAClassifier.teacher`) is the same computation with the ground truth
M_g in place of M_c: class means of S_f and P_f over the labelled pixels, fused by its own
``teacher_phi_s`` / ``teacher_phi_p`` (and ``teacher_proto_proj``). It shares S, P and the PE
with the student. Only ``SSAHead.loss`` calls it, so the inference graph never contains it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssa_bench.models.ssa.position import build_position_encoding
from ssa_bench.classifier_settings.ssa import SSASettings

_EPS = 1e-12


def fusion(kind: str, channels: int) -> nn.Module:
    """phi: [centre, prototype] (2C) -> C, as one 1x1 conv (a Linear) or the released MLP."""
    if kind == "linear":
        return nn.Linear(2 * channels, channels)
    if kind == "mlp":
        hidden = max(channels // 2, 1)
        return nn.Sequential(nn.Linear(2 * channels, hidden, bias=False), nn.ReLU(inplace=True),
                             nn.Linear(hidden, channels))
    raise ValueError(f"unknown phi {kind!r} (linear, mlp)")


def soft_class_mean(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(B, K, N) non-negative weights, (B|1, D, N) values -> (B, K, D) weighted class means."""
    total = weights.sum(dim=-1, keepdim=True)
    return (weights @ values.transpose(1, 2)) / (total + _EPS)


def class_sums(values: torch.Tensor, label: torch.Tensor,
               num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image sums (B, K, D) of (B, D, N) ``values`` over the pixels of each class of a
    (B, N) label, and the pixel counts (B, K). Labels outside [0, K) (the ignore index) are
    left out. A scatter over the label, not a one-hot product: O(N D) instead of O(K N D)."""
    batch, channels, pixels = values.shape
    bins = num_classes + 1                     # the last bin collects the ignored pixels
    label = torch.where((label >= 0) & (label < num_classes), label,
                        torch.full_like(label, num_classes))
    rows = values.transpose(1, 2)              # (B, N, D)
    if rows.is_contiguous():
        # Channels-last features (most heads' output on the CPU): add whole rows of D per
        # pixel. Besides being several times faster than a scatter along N, its gradient
        # (a row gather) comes back channels-last, so autograd does not sum gradients of
        # mixed layouts into the features, which costs more than the sums themselves.
        flat_label = (label + torch.arange(batch, device=label.device).unsqueeze(1) * bins).flatten()
        sums = values.new_zeros(batch * bins, channels).index_add(
            0, flat_label, rows.reshape(batch * pixels, channels)).view(batch, bins, channels)
        counts = torch.bincount(flat_label, minlength=batch * bins).view(batch, bins)
        return sums[:, :num_classes], counts[:, :num_classes].to(values.dtype)
    index = label.unsqueeze(1).expand(-1, channels, -1)
    sums = values.new_zeros(batch, channels, bins).scatter_add(2, index, values)
    counts = values.new_zeros(batch, bins).scatter_add(
        1, label, torch.ones_like(label, dtype=values.dtype))
    return sums[:, :, :num_classes].transpose(1, 2), counts[:, :num_classes]


def means_or_fallback(sums: torch.Tensor, counts: torch.Tensor,
                      fallback: torch.Tensor) -> torch.Tensor:
    """sums / counts, and the (detached) row of the (K, D) ``fallback`` where a class has no
    pixel; (B, K, D) or, for batch-pooled sums, (K, D)."""
    means = sums / counts.clamp_min(1).unsqueeze(-1)
    return torch.where(counts.unsqueeze(-1) > 0, means, fallback.detach().expand_as(means))


def _channels_last(tensor: torch.Tensor) -> bool:
    return (not tensor.is_contiguous()
            and tensor.is_contiguous(memory_format=torch.channels_last))


class SSAClassifier(nn.Module):
    def __init__(self, channels: int, num_classes: int, settings: SSASettings) -> None:
        super().__init__()
        self.channels, self.num_classes, self.settings = channels, num_classes, settings
        s = settings
        self.adapts = s.sepa or s.sppa
        if s.sppa:
            self.pe = build_position_encoding(s.pe, channels)
            self.basis = nn.Embedding(num_classes, channels)   # the position basis P
            self.phi_p = fusion(s.phi, channels)
        if s.sepa:
            self.phi_s = fusion(s.phi, channels)
        if s.proto_proj and self.adapts:
            self.proto_proj = nn.Linear(channels, channels, bias=False)
        self.has_teacher = s.teacher_enabled
        if self.has_teacher:
            if s.sepa:
                self.teacher_phi_s = fusion(s.phi, channels)
            if s.sppa:
                self.teacher_phi_p = fusion(s.phi, channels)
            if s.proto_proj:
                self.teacher_proto_proj = nn.Linear(channels, channels, bias=False)

    # ---- student -------------------------------------------------------------------------
    def forward(self, features: torch.Tensor, conv_seg: nn.Conv2d,
                record: dict | None = None, dropout: nn.Module | None = None) -> torch.Tensor:
        """Logits O (B, K, H, W) of (B, D, H, W) features; ``record`` receives the tensors
        the losses and the analysis hooks need. ``dropout`` (the head's) applies to the
        coarse mask's input only."""
        coarse = conv_seg(features if dropout is None else dropout(features))
        if not self.adapts:
            if record is not None:
                record.update(features=features, coarse=coarse, logits=coarse)
            return coarse
        s = self.settings
        prototypes = conv_seg.weight.flatten(1)                     # S (K, D)
        flat_coarse = coarse.flatten(2)                             # (B, K, N)
        pixels, position = features, None
        semantic = prototypes.unsqueeze(0)
        spatial = None
        if s.sppa:
            position = self.position_features(features)
            pixels = features + position
        if s.sepa:
            semantic_centre = soft_class_mean(flat_coarse.softmax(dim=1), features.flatten(2))
            semantic = self.fuse_semantic(self.phi_s, semantic_centre, prototypes)
        if s.sppa:
            if s.centre_softmax == "hw":
                spatial_centre = flat_coarse.softmax(dim=2) @ position.flatten(2).transpose(1, 2)
            else:
                spatial_centre = soft_class_mean(flat_coarse.softmax(dim=1), position.flatten(2))
            spatial = self.fuse_spatial(self.phi_p, spatial_centre, s.sppa_concat)
        combined = semantic if spatial is None else semantic + spatial
        logits = self.classify(pixels, combined, getattr(self, "proto_proj", None))
        if record is not None:
            record.update(features=features, position=position, pixels=pixels, coarse=coarse,
                          prototypes=prototypes, logits=logits,
                          semantic=semantic if s.sepa else None,
                          spatial=spatial)
            if s.sepa:
                record["semantic_centre"] = semantic_centre
            if s.sppa:
                record["spatial_centre"] = spatial_centre
        return logits

    def position_features(self, features: torch.Tensor) -> torch.Tensor:
        """P_f: PE(S_f), or S_f + PE(S_f) with ``pe_residual``."""
        code = self.pe(features)
        return features + code if self.settings.pe_residual else code

    def fuse_semantic(self, phi: nn.Module, centre: torch.Tensor,
                      prototypes: torch.Tensor) -> torch.Tensor:
        """S_p = phi([S_c, S]) for centres (B, K, D) or (K, D)."""
        return phi(torch.cat([centre, prototypes.expand_as(centre)], dim=-1))

    def fuse_spatial(self, phi: nn.Module, centre: torch.Tensor, order: str) -> torch.Tensor:
        """P_p = phi([P_c, P]) (``centre_basis``) or phi([P, P_c]) (``basis_centre``)."""
        basis = self.basis.weight.expand_as(centre)
        pair = [centre, basis] if order == "centre_basis" else [basis, centre]
        return phi(torch.cat(pair, dim=-1))

    def classify(self, pixels: torch.Tensor, prototypes: torch.Tensor,
                 projection: nn.Module | None) -> torch.Tensor:
        """(B, D, H, W) x (B, K, D) -> (B, K, H, W): inner products, or scaled cosines."""
        if projection is not None:
            prototypes = projection(prototypes)
        batch, channels, height, width = pixels.shape
        cosine = self.settings.logits == "cosine"
        if cosine:
            prototypes = F.normalize(prototypes, dim=-1) * self.settings.logit_scale
        if _channels_last(pixels):
            # Keep the layout conv_seg would give (channels-last in, channels-last out): the
            # resize, CE and accuracy after the head run much faster or slower on one layout.
            flat = pixels.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
            if cosine:
                flat = F.normalize(flat, dim=-1)
            logits = flat @ prototypes.transpose(1, 2)
            return logits.view(batch, height, width, -1).permute(0, 3, 1, 2)
        flat = pixels.flatten(2)
        if cosine:
            flat = F.normalize(flat, dim=1)
        return (prototypes @ flat).view(batch, -1, height, width)

    # ---- teacher (training only) -------------------------------------------------------------
    def teacher(self, record: dict, label: torch.Tensor) -> dict:
        """The teacher's S_p-hat, P_p-hat and O-hat from a student ``record`` and the (B, H, W)
        label at feature resolution (ignore index: any value outside [0, K)).

        Returns ``semantic`` (B, K, D) behind O-hat (per image or batch-pooled, per
        ``teacher_semantic_pool``), ``semantic_batch`` (K, D) (for L_sd), ``spatial``
        (B, K, D) and ``logits`` (B, K, H, W); entries of switched-off branches are None.
        """
        if not self.has_teacher:
            raise RuntimeError("this SSA classifier was built without a teacher "
                               "(sepa and sppa off, or every teacher loss weight is 0)")
        s = self.settings
        label = label.flatten(1)
        prototypes = record["prototypes"]
        batch = label.shape[0]
        out = {"semantic": None, "semantic_batch": None, "spatial": None}
        semantic = prototypes.unsqueeze(0)
        if s.sepa:
            sums, counts = class_sums(record["features"].flatten(2), label, self.num_classes)
            pooled = means_or_fallback(sums.sum(0), counts.sum(0), prototypes)
            out["semantic_batch"] = self.fuse_semantic(self.teacher_phi_s, pooled, prototypes)
            if s.teacher_semantic_pool == "batch":
                semantic = out["semantic_batch"].unsqueeze(0).expand(batch, -1, -1)
            else:
                centre = means_or_fallback(sums, counts, prototypes)
                semantic = self.fuse_semantic(self.teacher_phi_s, centre, prototypes)
            out["semantic"] = semantic
        combined = semantic
        if s.sppa:
            position = record["position"].flatten(2).expand(batch, -1, -1)
            centre = means_or_fallback(*class_sums(position, label, self.num_classes),
                                       self.basis.weight)
            out["spatial"] = self.fuse_spatial(self.teacher_phi_p, centre,
                                               s.teacher_sppa_concat)
            combined = combined + out["spatial"]
        out["logits"] = self.classify(record["pixels"], combined.expand(batch, -1, -1),
                                      getattr(self, "teacher_proto_proj", None))
        return out
