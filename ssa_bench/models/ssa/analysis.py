"""Analysis hook: the SSA tensors of a batch as numpy arrays, for t-SNE (Fig. 1) and relation
matrices (Fig. 3).

``extract(model, inputs, data_samples=None)`` runs the segmentor's head forward in eval mode
(no grad, the model's mode restored afterwards) and returns:

=========================== =====================================================
``features``                S_f, (B, D, H, W) pixel features the classifier sees
``prototypes``              S, (K, D) fixed prototypes (``conv_seg`` weights)
``semantic_prototypes``     S_p, (B, K, D) (absent when SEPA is off)
``spatial_prototypes``      P_p, (B, K, D) (absent when SPPA is off)
``position_basis``          P, (K, D) (absent when SPPA is off)
``position_features``       P_f, (B, D, H, W) the pixels' position encodings (absent when SPPA
                            is off); the classifier sees S_f + P_f
``coarse_logits``           M_c, (B, K, H, W)
``logits``                  O, (B, K, H, W) at feature resolution
``label``                   (B, H, W) ground truth at feature resolution (with GT)
``teacher_semantic_prototypes``        S_p-hat behind O-hat, (B, K, D)
``teacher_semantic_prototypes_batch``  S_p-hat from the batch-pooled centre, (K, D) (L_sd's)
``teacher_spatial_prototypes``         P_p-hat, (B, K, D)
``teacher_logits``          O-hat, (B, K, H, W)
=========================== =====================================================

The teacher entries need ground truth in ``data_samples`` and a model trained with a teacher.
``inputs`` is the preprocessed batch (what ``model.data_preprocessor(batch)`` returns).
"""
from __future__ import annotations

import numpy as np
import torch

from ssa_bench.models.classifiers.wrapper import resize_label
from ssa_bench.models.ssa.head import SSAHead


def find_ssa_head(model: torch.nn.Module) -> SSAHead:
    heads = getattr(model, "decode_head", None)
    head = heads[-1] if isinstance(heads, torch.nn.ModuleList) else heads
    if not isinstance(head, SSAHead):
        raise ValueError("the model's (last) decode head is not an SSAHead; build it with "
                         "apply_ssa / decode_head=dict(type='SSAHead', ...)")
    return head


def extract(model: torch.nn.Module, inputs: torch.Tensor, data_samples=None) -> dict:
    head = find_ssa_head(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), head.recording() as record:
            model._forward(inputs, data_samples)
            out = {"features": record["features"], "coarse_logits": record["coarse"],
                   "logits": record["logits"], "prototypes": head.head.conv_seg.weight.flatten(1)}
            if record.get("semantic") is not None:
                out["semantic_prototypes"] = record["semantic"]
            if record.get("spatial") is not None:
                out["spatial_prototypes"] = record["spatial"]
                out["position_basis"] = head.classifier.basis.weight
            if record.get("position") is not None:
                # The spatial side of Fig. 1 plots P_p against the pixels' P_f.
                out["position_features"] = record["position"]
            if data_samples and all(hasattr(s, "gt_sem_seg") for s in data_samples):
                label = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
                label = resize_label(label, record["features"].shape[-2:])
                out["label"] = label
                if head.classifier.has_teacher:
                    ignore = head.head.ignore_index
                    teacher = head.classifier.teacher(
                        record, torch.where(label == ignore, torch.full_like(label, -1), label))
                    for key, name in (("semantic", "teacher_semantic_prototypes"),
                                      ("semantic_batch", "teacher_semantic_prototypes_batch"),
                                      ("spatial", "teacher_spatial_prototypes"),
                                      ("logits", "teacher_logits")):
                        if teacher[key] is not None:
                            out[name] = teacher[key]
    finally:
        model.train(was_training)
    return {key: value.detach().cpu().numpy().astype(np.float32 if value.is_floating_point()
                                                     else np.int64)
            for key, value in out.items()}
