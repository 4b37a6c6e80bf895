"""``ClassifierHead``: any mmseg decode head with its 1x1 classifier replaced by a
:class:`~ssa_bench.models.classifiers.base.PixelClassifier` chosen by name.

    decode_head=dict(type='ClassifierHead', head=<the original head config>,
                     classifier=dict(type='protoseg', <settings>...))

Training loss = the head's own ``loss_decode`` on the classifier's logits (unless the classifier
replaces it) + the classifier's extra terms.
"""
from __future__ import annotations

import torch
from mmseg.registry import MODELS
from torch import nn

from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.models.classifiers.base import LossContext, PixelClassifier
from ssa_bench.models.classifiers.wrapper import DecodeHeadWrapper, accuracy

# classifier type -> the class registered in MODELS (filled by each implementation module).
IMPLEMENTATIONS: dict[str, str] = {}


def implements(kind: str):
    """Class decorator: register a PixelClassifier in mmseg's MODELS and under ``kind``."""
    def register(cls):
        MODELS.register_module(module=cls)
        IMPLEMENTATIONS[kind] = cls.__name__
        return cls
    return register


@MODELS.register_module()
class ClassifierHead(DecodeHeadWrapper):
    def __init__(self, head: dict, classifier: dict, init_cfg=None) -> None:
        super().__init__(head, init_cfg=init_cfg)
        kind, settings = resolve_classifier(classifier)
        if kind not in IMPLEMENTATIONS:
            raise ValueError(f"classifier type '{kind}' has no implementation for ClassifierHead "
                             f"(have: {', '.join(sorted(IMPLEMENTATIONS))}; SSA uses SSAHead)")
        conv_seg = self.head.conv_seg
        self.classifier: PixelClassifier = MODELS.build(dict(
            type=IMPLEMENTATIONS[kind], in_channels=conv_seg.in_channels,
            num_classes=conv_seg.out_channels, settings=settings))
        if not self.classifier.uses_conv_seg:
            # Unused, it would count as parameters and trip DDP's unused-parameter check; an
            # Identity keeps the head's init_cfg override of 'conv_seg' valid.
            self.head.conv_seg = nn.Identity()

    def _classify(self, features: torch.Tensor) -> torch.Tensor:
        conv_seg = self.head.conv_seg if self.classifier.uses_conv_seg else None
        return self.classifier(features, conv_seg, getattr(self.head, "dropout", None),
                               self._record)

    def loss_by_record(self, output: torch.Tensor, record: dict, label: torch.Tensor) -> dict:
        up = self.upsample(output, label.shape[-2:])
        losses: dict = {}
        if not self.classifier.replaces_head_loss:
            losses.update(self.decode_losses(up, label))
        losses["acc_seg"] = accuracy(up, label, self.head.ignore_index)
        context = LossContext(ignore_index=self.head.ignore_index,
                              decode_losses=self.decode_losses, upsample=self.upsample)
        losses.update(self.classifier.losses(record, label, context))
        return losses
