"""Settings of ProtoSeg (Zhou et al., CVPR 2022, "Rethinking Semantic Segmentation: A Prototype
View") as its authors run it: github.com/tfzhou/ProtoSeg @ 1c4a7784bbce96c06fe72d55255af15e6cf1ca96.
Sources are ``file:line`` there; ``proto.json`` is configs/cityscapes/H_48_D_4_proto.json (their
HRNet-W48 Cityscapes recipe), ``hrnet.py`` is lib/models/nets/hrnet.py (HRNet_W48_Proto). No torch.

Non-learnable class prototypes (several per class) on the unit sphere; a pixel's class score is
its best cosine with the class's prototypes (after a projection head and LayerNorms); in training
the pixels of each class are assigned to its prototypes by Sinkhorn-Knopp, the prototypes move to
the normalised mean of their correctly classified pixels by momentum, and two losses pull pixels
to their assigned prototype (PPC: CE over all prototypes; PPD: squared cosine distance).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from ssa_bench.classifier_settings.fields import resolve_fields


@dataclass(frozen=True)
class ProtoSegSettings:
    LABEL: ClassVar[str] = "ProtoSeg"

    # M prototypes per class: proto.json:140 num_prototype, used at hrnet.py:77
    num_prototypes: int = 10
    # momentum of the prototype update: proto.json:137 gamma, used at hrnet.py:124
    # (momentum_update, lib/models/modules/contrast.py:7)
    momentum: float = 0.999
    # weight of PPC: proto.json:138 loss_ppc_weight, applied at lib/loss/loss_proto.py:91
    w_ppc: float = 0.01
    # weight of PPD: proto.json:139 loss_ppd_weight, applied at lib/loss/loss_proto.py:91
    w_ppd: float = 0.001
    # proto.json:144 update_prototype, checked at hrnet.py:121
    update_prototypes: bool = True
    # lib/models/modules/sinkhorn.py:5 distributed_sinkhorn(sinkhorn_iterations=3, epsilon=0.05)
    sinkhorn_iterations: int = 3
    sinkhorn_epsilon: float = 0.05
    # lib/models/modules/sinkhorn.py:26 F.gumbel_softmax(L, tau=0.5, hard=True)
    gumbel_tau: float = 0.5
    # hrnet.py:84 trunc_normal_(self.prototypes, std=0.02), L2-normalised at hrnet.py:157
    prototype_init_std: float = 0.02
    # The projection head's output is L2-normalised with F.normalize(dim=-1) on a (B, D, h, w)
    # map (lib/models/modules/contrast.py:16 l2_normalize, called at :29), i.e. along the image
    # width, not the channels; "channels" is what the paper describes. The LayerNorm and the
    # second normalisation that follow (hrnet.py:154-155) work per pixel either way.
    projection_norm: Literal["width", "channels"] = "width"
    # The segmentation CE is the head's own loss_decode on the logits upsampled to the label:
    # "true" upsamples with align_corners=True as lib/loss/loss_proto.py:89 does; "head" with the
    # head's own align_corners (what every other classifier in the slot gets).
    upsample_align_corners: Literal["true", "head"] = "true"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"num_prototypes": ">0", "momentum": (0.0, 1.0), "w_ppc": ">=0", "w_ppd": ">=0",
           "sinkhorn_iterations": ">0", "sinkhorn_epsilon": ">0", "gumbel_tau": ">0",
           "prototype_init_std": ">0"}


def resolve(block: dict[str, Any] | None) -> ProtoSegSettings:
    return resolve_fields(ProtoSegSettings, block, ranges=_RANGES)
