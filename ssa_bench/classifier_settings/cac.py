"""Settings of CAC, the Context-aware Classifier (Tian et al., AAAI 2023), as its authors run it.
No torch.

Sources are ``file:line`` in github.com/tianzhuotao/CAC at commit
9d4a17dc5bbc8765340df2fcf30c5dc0e9e66218, all under mmseg/models/decode_heads/: FH =
fcn_head_cac.py (also the arithmetic of uper_head_cac.py), OH = ocr_head_cac.py.

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

    # Cosine logits times 15, for the contextual (FH:124) and the GT-informed classifier (FH:154).
    logit_scale: float = 15.0
    # Added to the L2 norms before dividing in the contextual classifier's cosine (FH:110-111);
    # OH:176-177 (the OCRNet head) divides by the bare norm, i.e. 0.0.
    norm_eps: float = 1e-12
    # Distillation target = smoothness * softmax(GT-informed logits / T) + (1 - smoothness) *
    # one-hot (FH:208 smoothness=0.5, FH:217-218), optionally label-smoothed by label_eps
    # (FH:208 eps=0, FH:219-220); T also scales the entropy weights (FH:224-225), T=1 (FH:217).
    smoothness: float = 0.5
    label_eps: float = 0.0
    teacher_temperature: float = 1.0
    # Loss weights: FH:199 adds pre_self_loss + pre_loss + kl_loss to the main CE, each x1.
    w_coarse: float = 1.0   # CE of the coarse mask, upsampled align_corners=True (FH:189-190)
    w_gt: float = 1.0       # CE of the GT-informed logits, same upsampling (FH:191-192)
    w_kl: float = 1.0       # the entropy-weighted distillation at feature resolution (FH:186)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"logit_scale": ">0", "norm_eps": ">=0", "smoothness": (0.0, 1.0),
           "label_eps": (0.0, 1.0), "teacher_temperature": ">0", "w_coarse": ">=0",
           "w_gt": ">=0", "w_kl": ">=0"}


def resolve(block: dict[str, Any] | None) -> CACSettings:
    return resolve_fields(CACSettings, block, ranges=_RANGES)
