"""Take over a decode head's classifier without changing the head.

:class:`DecodeHeadWrapper` builds any mmseg decode head from its config, unchanged, and replaces
only the bound ``cls_seg`` of that instance: the head still computes its features its own way and
calls ``self.cls_seg(feat)``, which now runs the wrapper's classifier. Everything else
(``align_corners``, ``num_classes``, ``loss_decode``, ...) reads through to the inner head, so
segmentors -- plain or cascade (the wrapper is the last stage) -- use it like the head itself.
``SSAHead`` and ``ClassifierHead`` are its two subclasses; they differ only in their losses.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


class DecodeHeadWrapper(BaseModule):
    def __init__(self, head: dict, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.head = MODELS.build(head)
        conv_seg = getattr(self.head, "conv_seg", None)
        if not isinstance(conv_seg, nn.Conv2d) or conv_seg.kernel_size != (1, 1):
            raise TypeError(f"{type(self).__name__} needs a decode head with a 1x1 conv_seg "
                            f"classifier; {type(self.head).__name__} has {type(conv_seg).__name__}")
        if conv_seg.out_channels != self.head.num_classes:
            raise ValueError(f"{type(self).__name__} needs one output channel per class (the "
                             "binary out_channels=1 form has no class prototypes to adapt)")
        self._record: dict | None = None
        # The take-over: an instance attribute shadows BaseDecodeHead.cls_seg for this head only.
        self.head.cls_seg = self._classify

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            head = self.__dict__.get("_modules", {}).get("head")
            if head is None:
                raise
            return getattr(head, name)

    def _classify(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @contextlib.contextmanager
    def recording(self):
        """Within the block, head forwards store the classifier's tensors in the yielded dict."""
        record: dict = {}
        self._record = record
        try:
            yield record
        finally:
            self._record = None

    # ---- what segmentors call --------------------------------------------------------------
    def forward(self, *inputs):
        return self.head.forward(*inputs)

    def predict(self, *args):
        return self.head.predict(*args)

    def loss(self, inputs, *args) -> dict:
        """``loss(inputs, data_samples, train_cfg)``, or for a cascade stage
        ``loss(inputs, prev_output, data_samples, train_cfg)``."""
        *extra, data_samples, _train_cfg = args
        with self.recording() as record:
            output = self.head.forward(inputs, *extra)
        label = torch.stack([sample.gt_sem_seg.data for sample in data_samples]).squeeze(1)
        return self.loss_by_record(output, record, label.long())

    def loss_by_record(self, output: torch.Tensor, record: dict, label: torch.Tensor) -> dict:
        raise NotImplementedError

    # ---- shared loss plumbing ---------------------------------------------------------------
    def upsample(self, logits: torch.Tensor, size, align_corners: bool | None = None) -> torch.Tensor:
        """Bilinear resize to ``size`` (the head's ``align_corners`` unless given)."""
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        align = self.head.align_corners if align_corners is None else align_corners
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=align)

    def decode_losses(self, logits: torch.Tensor, label: torch.Tensor, suffix: str = "",
                      weight: float = 1.0) -> dict:
        """The head's ``loss_decode`` terms on resized logits, as ``loss_by_feat`` computes
        them (same sampler, same ignore index), each name + ``suffix``, times ``weight``."""
        head = self.head
        seg_weight = head.sampler.sample(logits, label.unsqueeze(1)) if head.sampler else None
        modules = head.loss_decode if isinstance(head.loss_decode, nn.ModuleList) \
            else [head.loss_decode]
        losses: dict = {}
        for module in modules:
            name = module.loss_name + suffix
            value = weight * module(logits, label, weight=seg_weight,
                                    ignore_index=head.ignore_index)
            losses[name] = losses[name] + value if name in losses else value
        return losses


def resize_label(label: torch.Tensor, size) -> torch.Tensor:
    """Nearest-neighbour resize of a (B, H, W) label map."""
    if tuple(label.shape[-2:]) == tuple(size):
        return label
    return F.interpolate(label.unsqueeze(1).float(), size=size, mode="nearest").squeeze(1).long()


def accuracy(logits: torch.Tensor, label: torch.Tensor, ignore_index: int) -> torch.Tensor:
    from mmseg.models.losses import accuracy as mmseg_accuracy

    return mmseg_accuracy(logits, label, ignore_index=ignore_index)
