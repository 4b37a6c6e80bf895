"""GMMSeg (Liang et al., NeurIPS 2022) in the classifier slot; settings and sources in
ssa_bench/classifier_settings/gmmseg.py, docs/classifiers.md.

x = l2(LayerNorm(proj(dropout(X)))) per pixel (proj: 1x1 ConvModule to ``embed_dim`` with norm
and ReLU); class score = LayerNorm_K(max_p log N(x; mu_kp, diag(sigma_kp^2))). Training only:
Sinkhorn assignment of each class's pixels to its components (on their log-likelihoods scaled
to [-1, 1]), a CE over all K*P log-likelihoods towards the assigned component, a ring-buffer
memory per component of correctly classified embeddings, and every ``update_interval`` steps a
momentum step of each present class's means (normalised memory sum) and scales (memory spread).
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import nn

from ssa_bench.models.classifiers.base import LossContext, PixelClassifier
from ssa_bench.models.classifiers.head import implements
from ssa_bench.models.classifiers.online_clustering import sinkhorn_one_hot
from ssa_bench.models.classifiers.pixel_rows import class_logits, to_rows, unit_rows
from ssa_bench.models.classifiers.wrapper import resize_label


def diagonal_gaussian_log_prob(x: torch.Tensor, means: torch.Tensor,
                               scales: torch.Tensor) -> torch.Tensor:
    """(N, E) points, (G, E) means and scales -> (N, G) log-densities."""
    diff = x[:, None, :] - means[None]
    return (-0.5 * means.shape[-1] * math.log(2 * math.pi) - scales.log().sum(-1)
            - 0.5 * (diff / scales).pow(2).sum(-1))


@torch.no_grad()
def gather_from_all_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The ranks' tensors concatenated along dim 0 (the tensor itself outside distributed runs)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@implements("gmmseg")
class GMMSegClassifier(PixelClassifier):
    uses_conv_seg = False

    def __init__(self, in_channels: int, num_classes: int, settings) -> None:
        super().__init__(in_channels, num_classes, settings)
        s = settings
        e, p = s.embed_dim, s.num_components
        self.projection = (ConvModule(in_channels, e, 1, norm_cfg=dict(type=s.projection_norm))
                           if in_channels != e else None)
        self.feat_norm = nn.LayerNorm(e)
        self.mask_norm = nn.LayerNorm(num_classes)
        means = torch.zeros(num_classes, p, e)
        nn.init.trunc_normal_(means, std=0.02)
        # The mixture and its memory are estimated, never learnt: buffers.
        self.register_buffer("means", F.normalize(means, dim=-1))
        self.register_buffer("scales", torch.ones(num_classes, p, e))
        self.register_buffer("memory", F.normalize(torch.randn(num_classes * p, e, s.memory_size),
                                                   dim=-2))
        self.register_buffer("memory_ptr", torch.zeros(num_classes * p, dtype=torch.long))
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def embed(self, features: torch.Tensor, dropout: nn.Module | None) -> torch.Tensor:
        x = features if dropout is None else dropout(features)
        if self.projection is not None:
            x = self.projection(x)
        return unit_rows(to_rows(x), self.feat_norm)

    def forward(self, features, conv_seg, dropout, record):
        pixels = self.embed(features, dropout)
        p = self.settings.num_components
        log_prob = diagonal_gaussian_log_prob(pixels, self.means.reshape(-1, pixels.shape[1]),
                                              self.scales.reshape(-1, pixels.shape[1]))
        log_prob = log_prob.reshape(-1, self.num_classes, p)                   # (N, K, P)
        seg = self.mask_norm(log_prob.amax(dim=-1))
        return class_logits(features, pixels, seg, record, log_prob=log_prob)

    def prototypes(self) -> torch.Tensor:
        return self.means

    def losses(self, record: dict, label: torch.Tensor, context: LossContext) -> dict:
        s = self.settings
        logits = record["logits"]
        target = resize_label(label, logits.shape[-2:]).reshape(-1)
        contrast_logits, contrast_target, assignment = self.assign(
            record["log_prob"], logits, target, context.ignore_index)
        valid = contrast_target != context.ignore_index
        losses = {}
        if s.w_contrast > 0:
            ce = (F.cross_entropy(contrast_logits[valid], contrast_target[valid]) if valid.any()
                  else contrast_logits.sum() * 0.0)
            losses["loss_gmm_contrast"] = s.w_contrast * ce
        with torch.no_grad():
            # The memory is shared by all ranks: every rank enqueues every rank's pixels.
            pixels, target, assignment = (gather_from_all_ranks(t) for t in
                                          (record["pixels"].detach(), target, assignment))
            present = [k for k in target.unique().tolist() if k != context.ignore_index]
            for k in present:
                self.enqueue(k, pixels, assignment.bool(), target == k)
            if int(self.iteration) % s.update_interval == 0:
                self.update_mixture(present)
            self.iteration = self.iteration + 1
        return losses

    def assign(self, log_prob: torch.Tensor, logits: torch.Tensor, target: torch.Tensor,
               ignore_index: int):
        """GH online_contrast: (all K*P log-likelihoods (N, K*P), assigned component index
        (N,), the one-hot assignment of correctly classified pixels (N, P))."""
        p = self.settings.num_components
        correct = target == logits.argmax(dim=1).reshape(-1)
        contrast_target = target.clone()
        assignment = log_prob.new_zeros(log_prob.shape[0], p)
        for k in target.unique().tolist():
            if k == ignore_index:
                continue
            of_k = target == k
            similarity = log_prob[of_k, k, :].detach()
            similarity = similarity / similarity.abs().max()
            # (The authors' NaN guard after this never fires: a one-hot has no NaN.)
            q, index = sinkhorn_one_hot(similarity, self.settings.sinkhorn_iterations,
                                        self.settings.sinkhorn_epsilon)
            contrast_target[of_k] = index + p * k
            assignment[of_k] = q * correct[of_k].unsqueeze(1).to(q.dtype)
        return log_prob.flatten(1), contrast_target, assignment

    def enqueue(self, k: int, pixels: torch.Tensor, assignment: torch.Tensor,
                of_k: torch.Tensor) -> None:
        """GH _dequeue_and_enqueue_k: each component's newest embeddings into its ring buffer."""
        s = self.settings
        embeddings, chosen = pixels[of_k], assignment[of_k]
        # In place: the memory is never part of an autograd graph (only the means and scales
        # are, and those are replaced by new tensors), and a copy per class and step of a
        # K x P x E x memory_size buffer dominated the training step.
        memory, pointers = self.memory, self.memory_ptr
        for component in range(s.num_components):
            slot = k * s.num_components + component
            if not chosen[:, component].any():
                continue
            new = embeddings[chosen[:, component]]
            if new.shape[0] > s.max_sample_size:
                pick = torch.linspace(0, new.shape[0] - 1, s.max_sample_size,
                                      dtype=torch.int64, device=new.device)
                new = new[pick]
            start, size, capacity = int(pointers[slot]), new.shape[0], s.memory_size
            if start + size >= capacity:
                first = capacity - start
                memory[slot, :, start:capacity] = new[:first].T
                memory[slot, :, :size - first] = new[first:].T
            else:
                memory[slot, :, start:start + size] = new.T
            pointers[slot] = (start + size) % capacity

    def update_mixture(self, classes) -> None:
        """GH update_GMM: each present class's components from their memories."""
        s = self.settings
        means, scales = self.means.clone(), self.scales.clone()
        for k in classes:
            for component in range(s.num_components):
                stored = self.memory[k * s.num_components + component].T         # (n, E)
                centre = F.normalize(stored.sum(dim=0), p=2, dim=-1)
                means[k, component] = (s.momentum_mean * means[k, component]
                                       + (1 - s.momentum_mean) * centre)
                spread = ((stored - centre).pow(2).mean(dim=0) + s.scale_floor).sqrt()
                scales[k, component] = (s.momentum_scale * scales[k, component]
                                        + (1 - s.momentum_scale) * spread)
        # The authors normalise the means at the start of every forward; doing it here once
        # gives the same values to every later use. New tensors: this step's graph holds the old.
        self.means, self.scales = F.normalize(means, p=2, dim=-1), scales
