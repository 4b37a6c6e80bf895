"""``SSAHead``: any mmseg decode head with its classifier and loss taken over by SSA.

A :class:`~ssa_bench.models.classifiers.wrapper.DecodeHeadWrapper`: the head is built unchanged
and its ``cls_seg`` runs :class:`SSAClassifier`, with the head's ``conv_seg`` as the fixed
prototypes and the head's dropout on the coarse mask's input only.

Training (``loss``): the head's forward records the classifier's tensors; then

    L = CE(O) + Dice(O) + w_coarse CE(M_c) + w_g [CE(O-hat) + Dice(O-hat)]
        + w_rd L_rd + w_sd L_sd + w_pd L_pd

with CE(O) = the head's own ``loss_decode`` (and sampler), at label resolution as mmseg does;
CE(M_c) and CE(O-hat) the same, or averaged over labelled pixels (``aux_ce``).
The keys of the main terms are the head's (``loss_ce``, ``acc_seg``); the SSA terms are
``loss_ssa_dice``, ``<name>_coarse``, ``<name>_teacher`` (``loss_ce_coarse`` and
``loss_ce_teacher`` with ``aux_ce='mean_non_ignored'``), ``loss_ssa_teacher_dice``,
``loss_ssa_rd``, ``loss_ssa_sd``, ``loss_ssa_pd``.
"""
from __future__ import annotations

import torch
from mmseg.registry import MODELS

from ssa_bench.classifier_settings.ssa import resolve_settings
from ssa_bench.models.classifiers.wrapper import DecodeHeadWrapper, accuracy, resize_label
from ssa_bench.models.ssa.boundary import boundary_mask
from ssa_bench.models.ssa.classifier import SSAClassifier
from ssa_bench.models.ssa.losses import (dice_loss, mean_non_ignored_ce, relation_distillation,
                                         response_distillation, spatial_distillation)


@MODELS.register_module()
class SSAHead(DecodeHeadWrapper):
    """``SSAHead(head=<decode head config>, ssa=<settings dict>)``; ``ssa['enabled']`` is
    implied (the wrapper's presence switches SSA on)."""

    def __init__(self, head: dict, ssa: dict | None = None, init_cfg=None) -> None:
        super().__init__(head, init_cfg=init_cfg)
        self.settings = resolve_settings({**(ssa or {}), "enabled": True})
        conv_seg = self.head.conv_seg
        self.classifier = SSAClassifier(conv_seg.in_channels, conv_seg.out_channels,
                                        self.settings)

    def _classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features, self.head.conv_seg, self._record,
                               dropout=getattr(self.head, "dropout", None))

    # ---- losses ------------------------------------------------------------------------------
    def loss_by_record(self, output: torch.Tensor, record: dict, label: torch.Tensor) -> dict:
        """All loss terms from the head's ``output``, the classifier ``record`` and the
        (B, H, W) label at input resolution."""
        s = self.settings
        ignore = self.head.ignore_index
        label_size = label.shape[-2:]
        up = self._upsample(output, label_size)
        losses = self.decode_losses(up, label, suffix="", weight=1.0)
        losses["acc_seg"] = accuracy(up, label, ignore)
        feature_label = resize_label(label, record["features"].shape[-2:])

        def extra_view(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # The logits and label the added CE/Dice terms compare (extra_loss_resolution).
            if s.extra_loss_resolution == "label":
                return self._upsample(logits, label_size), label
            return logits, feature_label

        if s.dice != "none":
            losses["loss_ssa_dice"] = dice_loss(*extra_view(record["logits"]), ignore, s.dice,
                                                s.dice_ignored)
        if not self.classifier.adapts:
            return losses
        if s.w_coarse > 0:
            losses.update(self._aux_ce(*extra_view(record["coarse"]), "_coarse", s.w_coarse))
        if not self.classifier.has_teacher:
            return losses
        teacher_label = torch.where(feature_label == ignore,
                                    torch.full_like(feature_label, -1), feature_label)
        teacher = self.classifier.teacher(record, teacher_label)
        if s.w_g > 0:
            teacher_logits, teacher_target = extra_view(teacher["logits"])
            losses.update(self._aux_ce(teacher_logits, teacher_target, "_teacher", s.w_g))
            if s.dice != "none":
                losses["loss_ssa_teacher_dice"] = s.w_g * dice_loss(
                    teacher_logits, teacher_target, ignore, s.dice, s.dice_ignored)
        if s.w_rd > 0:
            if s.rd_resolution == "label":
                student, target = up, self._upsample(teacher["logits"], label_size)
                rd_label = label
            else:
                student, target, rd_label = record["logits"], teacher["logits"], feature_label
            boundary = (boundary_mask(rd_label, s.edge_size, s.edge_border, s.boundary_operator)
                        if s.rd_boundary else None)
            losses["loss_ssa_rd"] = s.w_rd * response_distillation(
                student, target, rd_label, ignore, onehot_mix=s.rd_onehot_mix,
                entropy=s.rd_entropy, boundary=boundary, category=s.rd_category,
                normalise=s.rd_normalise)
        if s.w_sd > 0 and s.sepa:
            losses["loss_ssa_sd"] = s.w_sd * relation_distillation(
                record["semantic"], teacher["semantic_batch"], relation=s.sd_relation,
                scale=s.sd_scale, detach_key=s.sd_detach_key)
        if s.w_pd > 0 and s.sppa:
            losses["loss_ssa_pd"] = s.w_pd * spatial_distillation(
                record["spatial"], teacher["spatial"], s.pd_form)
        return losses

    def _upsample(self, logits: torch.Tensor, size) -> torch.Tensor:
        align = None if self.settings.upsample_align_corners == "head" else True
        return self.upsample(logits, size, align)

    def _aux_ce(self, logits: torch.Tensor, label: torch.Tensor, suffix: str,
                weight: float) -> dict:
        """CE of the coarse mask or the teacher's logits (``aux_ce``), named + ``suffix``."""
        if self.settings.aux_ce == "head_loss":
            return self.decode_losses(logits, label, suffix, weight)
        return {"loss_ce" + suffix: weight * mean_non_ignored_ce(logits, label,
                                                                 self.head.ignore_index)}

