"""Settings of CAC, the Context-aware Classifier (Tian et al., AAAI 2023), as its authors run it
(github.com/tianzhuotao/CAC @ the commit in tests/models/fixtures/cac/README.md; FH =
mmseg/models/decode_heads/fcn_head_cac.py, OH = ocr_head_cac.py). No torch.

At inference the head's own 1x1 classifier gives a coarse mask; the soft class means of the
pixel features under its class softmax, fused with the classifier's weights by an MLP, become
per-image class weights, which classify the pixels by cosine x ``logit_scale``. Training adds the
CE of the coarse mask, the CE of a GT-informed classifier (the labelled class means in place of
the weights, through its own MLP) and the distillation of that classifier into the contextual one
(label smoothing with its softmax, weighted by its entropy, averaged per class).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ssa_bench.classifier_settings.fields import resolve_fields


@dataclass(frozen=True)
class CACSettings:
    LABEL: ClassVar[str] = "CAC"

    logit_scale: float = 15.0      # FH:107 get_pred "* 15", FH:137 apd "* 15"
    # Added to the L2 norms before dividing in the contextual classifier's cosine (FH:98-106);
    # OH and the ASPP head divide by the bare norm (0.0).
    norm_eps: float = 1e-12
    # Distillation target: smoothness * softmax(GT-informed logits) + (1 - smoothness) * one-hot
    # (FH:get_distill_loss, smoothness=0.5, eps=0).
    smoothness: float = 0.5
    label_eps: float = 0.0
    # Loss weights: FH:forward_train adds pre_self_loss + pre_loss + kl_loss to the main CE, each x1.
    w_coarse: float = 1.0          # CE of the coarse mask (upsampled, align_corners=True)
    w_gt: float = 1.0              # CE of the GT-informed classifier's logits (same upsampling)
    w_kl: float = 1.0              # the entropy-weighted distillation at feature resolution

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"logit_scale": ">0", "norm_eps": ">=0", "smoothness": (0.0, 1.0),
           "label_eps": (0.0, 1.0), "w_coarse": ">=0", "w_gt": ">=0", "w_kl": ">=0"}


def resolve(block: dict[str, Any] | None) -> CACSettings:
    return resolve_fields(CACSettings, block, ranges=_RANGES)
