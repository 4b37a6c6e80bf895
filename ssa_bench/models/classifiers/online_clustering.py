"""The online clustering ProtoSeg, DNC and GMMSeg share: Sinkhorn-Knopp equipartition of a
class's pixels over its sub-prototypes (tfzhou/ProtoSeg lib/models/modules/sinkhorn.py;
leonnnop/GMMSeg mmseg/utils/GMMSeg.py) -- they differ only in how a pixel is then assigned, a hard
Gumbel sample of the plan (ProtoSeg) or its argmax (DNC's option, GMMSeg) -- and the momentum
step of unit prototypes towards their assigned, correctly classified pixels (ProtoSeg, DNC)."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def sinkhorn_plan(similarity: torch.Tensor, iterations: int, epsilon: float) -> torch.Tensor:
    """(n, M) similarities of n pixels to M prototypes -> the (n, M) transport plan whose rows sum
    to 1 and whose columns share the pixels equally."""
    plan = torch.exp(similarity / epsilon).t()                  # (M, n)
    prototypes, pixels = plan.shape
    plan = plan / plan.sum()
    for _ in range(iterations):
        plan = plan / plan.sum(dim=1, keepdim=True) / prototypes
        plan = plan / plan.sum(dim=0, keepdim=True) / pixels
    return (plan * pixels).t()


@torch.no_grad()
def sinkhorn_one_hot(similarity: torch.Tensor, iterations: int,
                     epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(the plan's argmax as one-hot rows (n, M), the argmax (n,))."""
    index = sinkhorn_plan(similarity.detach(), iterations, epsilon).argmax(dim=1)
    return F.one_hot(index, num_classes=similarity.shape[1]).to(similarity.dtype), index


@torch.no_grad()
def momentum_step(prototypes: torch.Tensor, assignment: torch.Tensor, pixels: torch.Tensor,
                  correct: torch.Tensor, momentum: float) -> None:
    """Move one class's (M, D) ``prototypes`` in place towards the normalised sum of the pixels
    (n, D) assigned to each ((n, M) one-hot ``assignment``) and ``correct``ly classified; a
    prototype nobody reached stays."""
    kept = correct.unsqueeze(1).to(pixels.dtype)
    assigned = assignment.to(pixels.dtype) * kept
    sums = assigned.t() @ (pixels * kept)                       # (M, D)
    moved = assigned.sum(dim=0) != 0
    if moved.any():
        prototypes[moved] = (momentum * prototypes[moved]
                             + (1 - momentum) * F.normalize(sums, dim=-1)[moved])


@torch.no_grad()
def unit_mean_across_ranks(prototypes: torch.Tensor) -> torch.Tensor:
    """L2-normalised prototypes, averaged over the processes of a distributed run (a new tensor:
    the caller's step may still hold the old one in its graph)."""
    prototypes = F.normalize(prototypes, p=2, dim=-1)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(prototypes.div_(dist.get_world_size()))
    return prototypes
