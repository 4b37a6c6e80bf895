"""The arrays of a trained classifier that the prototype t-SNE figure draws
(ssa_bench/report/figures/prototype_tsne.py): the pixels in the prototypes' space (the classifier's
``embeddings`` when it projects them, else its input features), the label at that resolution, and
the classifier's prototypes."""
from __future__ import annotations

import torch

from ssa_bench.models.classifiers.head import ClassifierHead
from ssa_bench.models.classifiers.wrapper import resize_label

# How each classifier compares a pixel with a prototype (the t-SNE metric).
METRICS = {"protoseg": "cosine", "dnc": "cosine", "gmmseg": "euclidean"}


def find_classifier_head(model) -> ClassifierHead | None:
    heads = model.decode_head
    head = heads[-1] if isinstance(heads, torch.nn.ModuleList) else heads
    return head if isinstance(head, ClassifierHead) else None


@torch.no_grad()
def extract(model, inputs: torch.Tensor, data_samples, kind: str) -> dict | None:
    """None when the model's classifier has no prototypes (CAC: per-image weights only)."""
    head = find_classifier_head(model)
    if head is None or head.classifier.prototypes() is None:
        return None
    was_training = model.training
    model.eval()
    try:
        with head.recording() as record:
            model._forward(inputs, data_samples)
    finally:
        model.train(was_training)
    # The pixels where the prototypes live (ProtoSeg: after its projection and norms).
    features = record.get("embeddings", record["features"])
    label = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
    return {"features": features.cpu().numpy(),
            "label": resize_label(label, features.shape[-2:]).cpu().numpy(),
            "prototypes": head.classifier.prototypes().cpu().numpy(),
            "metric": METRICS.get(kind, "euclidean"), "classifier": kind}
