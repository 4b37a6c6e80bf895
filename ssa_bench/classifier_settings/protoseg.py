"""Settings of ProtoSeg (Zhou et al., CVPR 2022, "Rethinking Semantic Segmentation: A Prototype
View") as its authors run it (github.com/tfzhou/ProtoSeg @ 1c4a778; HR = lib/models/nets/hrnet.py
HRNet_W48_Proto, SK = lib/models/modules/sinkhorn.py, LP = lib/loss/loss_proto.py, CF =
configs/cityscapes/H_48_D_4_proto.json). No torch.

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

    num_prototypes: int = 10          # CF protoseg.num_prototype (HR:64 prototypes K x M x D)
    momentum: float = 0.999           # CF protoseg.gamma (HR:115 momentum_update)
    w_ppc: float = 0.01               # CF protoseg.loss_ppc_weight (LP:87)
    w_ppd: float = 0.001              # CF protoseg.loss_ppd_weight (LP:87)
    update_prototypes: bool = True    # CF protoseg.update_prototype (HR:113)
    sinkhorn_iterations: int = 3      # SK:5 distributed_sinkhorn default
    sinkhorn_epsilon: float = 0.05    # SK:5
    gumbel_tau: float = 0.5           # SK:26 F.gumbel_softmax(L, tau=0.5, hard=True)
    prototype_init_std: float = 0.02  # HR:82 trunc_normal_(prototypes, std=0.02)
    # The projection head's output is L2-normalised with F.normalize(dim=-1) on a (B, D, h, w)
    # map (lib/models/modules/contrast.py ProjectionHead/l2_normalize), i.e. along the image
    # width, not the channels; "channels" is what the paper describes. The LayerNorm and the
    # second normalisation that follow work per pixel either way.
    projection_norm: Literal["width", "channels"] = "width"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"num_prototypes": ">0", "momentum": (0.0, 1.0), "w_ppc": ">=0", "w_ppd": ">=0",
           "sinkhorn_iterations": ">0", "sinkhorn_epsilon": ">0", "gumbel_tau": ">0",
           "prototype_init_std": ">0"}


def resolve(block: dict[str, Any] | None) -> ProtoSegSettings:
    return resolve_fields(ProtoSegSettings, block, ranges=_RANGES)
