"""The inference graph of an mmseg segmentor, as a plain ``nn.Module`` taking one image tensor.

FLOPs, params and latency are all measured on this view, so they agree on what "the model" is:
``EncoderDecoder.encode_decode`` (backbone, neck, the decode head(s) a prediction runs, and the
resize of the logits to the input size), in eval mode. Auxiliary heads and the SSA teacher branch
(submodules whose name starts with ``teacher_``) are not part of it: they only run in training.
This is what MMSeg 0.x's ``forward_dummy`` fed to the FLOPs counter, the convention of the paper.
"""
from __future__ import annotations

import torch
from torch import nn

TEACHER_PREFIX = "teacher_"


class InferenceGraph(nn.Module):
    """``segmentor.encode_decode(image, metas)`` for one fixed input size, batch given by the input."""

    def __init__(self, segmentor: nn.Module, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.segmentor = segmentor
        h, w = input_size
        # encode_decode only reads img_shape (to resize the logits) and, for sliding-window
        # heads, nothing else; pad_shape/ori_shape are given for heads that look at them.
        self._meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                          scale_factor=(1.0, 1.0), flip=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        metas = [dict(self._meta) for _ in range(image.shape[0])]
        return self.segmentor.encode_decode(image, metas)


def is_teacher_parameter(name: str) -> bool:
    """True for parameters of training-only teacher submodules (any path component ``teacher_*``)."""
    return any(part.startswith(TEACHER_PREFIX) for part in name.split("."))


def inference_params(segmentor: nn.Module) -> int:
    """Parameters the inference graph uses: no auxiliary heads, no ``teacher_*`` submodules.

    Counted once per tensor (shared weights are not counted twice), trainable or not, as
    params are reported in the papers.
    """
    seen: set[int] = set()
    total = 0
    for name, param in segmentor.named_parameters(remove_duplicate=False):
        if name.startswith("auxiliary_head.") or is_teacher_parameter(name):
            continue
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
    return total


def prepare_for_inference(segmentor: nn.Module) -> nn.Module:
    """Eval mode, SyncBN replaced by BN (SyncBN cannot run outside a process group)."""
    from mmengine.model import revert_sync_batchnorm

    segmentor = revert_sync_batchnorm(segmentor)
    segmentor.eval()
    return segmentor
