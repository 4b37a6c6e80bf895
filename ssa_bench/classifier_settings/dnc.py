"""Settings of DNC (Wang et al., ICLR 2023, "Visual Recognition with Deep Nearest Centroids") as
its authors run it. No torch.

The authors' repository (github.com/ChengHan111/DNC @ 5969d4e) releases only the classification
code; its sub-centroid head is FH = DNC_classification/mmcls/models/heads/
SubCentroids_head_Formal.py. The segmentation variant (paper Sec. 4.2) is that head applied per
pixel on the ProtoSeg code base; the keys below are FH's, and the few that segmentation needs
differently are documented as deliberate differences.

Non-learnable sub-centroids (M per class) on the unit sphere; a pixel's class score is
LayerNorm_K(max_m cos(LayerNorm_D(x), c_km)). In training the pixels of each class are assigned
to its sub-centroids by FH's optimal-transport routine (AGD_torch_no_grad_gpu) and a hard
Gumbel sample, and each sub-centroid moves by momentum towards the normalised sum of its assigned
pixels that are also predicted correctly. The loss is the head's CE; the centroid contrast CE is
off in the authors' default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from ssa_bench.classifier_settings.fields import resolve_fields


@dataclass(frozen=True)
class DNCSettings:
    LABEL: ClassVar[str] = "DNC"

    # FH:367 sets 4 for classification; segmentation uses 10 per class (the ProtoSeg code base it
    # is built on: tfzhou/ProtoSeg configs/cityscapes/H_48_D_4_proto.json protoseg.num_prototype;
    # Table 2's GFLOP deltas match 10, docs/classifiers.md).
    num_subcentroids: int = 10
    temperature: float = 0.1                # FH:329 (divides the centroid contrast logits)
    momentum: float = 0.999                 # FH:331 gamma (FH:494 momentum_update)
    update_subcentroids: bool = True        # FH:330
    centroid_contrast_loss: bool = False    # FH:334
    centroid_contrast_weight: float = 0.005  # FH:335
    # FH:461 uses AGD_torch_no_grad_gpu; FH:460 (commented out) the Sinkhorn of FH:26.
    assignment: Literal["agd", "sinkhorn"] = "agd"
    agd_iterations: int = 20                # FH:233 maxIter
    agd_epsilon: float = 0.05               # FH:233 eps
    sinkhorn_iterations: int = 3            # FH:26
    sinkhorn_epsilon: float = 0.05          # FH:26
    gumbel_tau: float = 0.5                 # FH:298 F.gumbel_softmax(X, tau=0.5, hard=True)
    subcentroid_init_std: float = 0.02      # FH:383 trunc_normal_(prototypes, std=0.02)
    # Deliberate difference: FH:346 banks 1000 batches of (gathered) image features before one
    # sub-centroid update (classification has one feature per image); a segmentation batch has
    # thousands of pixels per class, so the default updates every batch.
    memory_bank_batches: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANGES = {"num_subcentroids": ">0", "temperature": ">0", "momentum": (0.0, 1.0),
           "centroid_contrast_weight": ">=0", "agd_iterations": ">0", "agd_epsilon": ">0",
           "sinkhorn_iterations": ">0", "sinkhorn_epsilon": ">0", "gumbel_tau": ">0",
           "subcentroid_init_std": ">0", "memory_bank_batches": ">0"}


def resolve(block: dict[str, Any] | None) -> DNCSettings:
    return resolve_fields(DNCSettings, block, ranges=_RANGES)
