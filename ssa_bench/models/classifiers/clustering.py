"""Sinkhorn-Knopp assignment of pixels to the sub-prototypes of their class, as ProtoSeg's and
DNC's authors compute it (tfzhou/ProtoSeg lib/models/modules/sinkhorn.py): an equipartition of the
n pixels over the M prototypes from their similarities, then a hard Gumbel-softmax sample of it
(random, from torch's global generator, as theirs) and the argmax assignment."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def sinkhorn_assign(similarity: torch.Tensor, iterations: int = 3, epsilon: float = 0.05,
                    tau: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, M) similarities -> (hard one-hot (n, M) Gumbel sample of the plan, argmax (n,))."""
    plan = torch.exp(similarity / epsilon).t()                  # (M, n)
    prototypes, pixels = plan.shape
    plan = plan / plan.sum()
    for _ in range(iterations):
        plan = plan / plan.sum(dim=1, keepdim=True) / prototypes
        plan = plan / plan.sum(dim=0, keepdim=True) / pixels
    plan = (plan * pixels).t()                                  # (n, M), rows sum to 1
    index = plan.argmax(dim=1)
    return F.gumbel_softmax(plan, tau=tau, hard=True), index
