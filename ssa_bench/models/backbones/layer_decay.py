"""Layer-wise learning-rate decay for ViT backbones named like ``ViTAdapter`` (``blocks.<i>``).

As in BEiT and ViT-Adapter's training: the ViT block ``i`` of ``L`` gets ``lr * rate**(L - i)``,
the patch and position embeddings ``lr * rate**(L + 1)``, every other parameter (adapter, heads)
the full ``lr``. 1-D parameters, biases and the position/level embeddings get no weight decay.
mmseg's ``LearningRateDecayOptimizerConstructor`` only recognises BEiT/MAE/ConvNeXt class names,
hence this one.

``paramwise_cfg``: ``num_layers`` (ViT depth), ``decay_rate`` and ``no_decay_names`` (parameter
names kept out of weight decay besides 1-D parameters and biases; default ``pos_embed`` and
``level_embed``). The ViT-Adapter-L recipe sets ``no_decay_names=[]``: the authors' constructor
means to exempt ``pos_embed`` but compares bare names with prefixed ones, so it decays both.
"""
from __future__ import annotations

import re

from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

_BLOCK = re.compile(r"^backbone\.blocks\.(\d+)\.")
_EMBEDDINGS = ("backbone.patch_embed.", "backbone.pos_embed")
_NO_DECAY_NAMES = ("pos_embed", "level_embed")


def layer_id(name: str, num_layers: int) -> int:
    """0 for the embeddings, i + 1 for block i, num_layers + 1 for everything else."""
    if name.startswith(_EMBEDDINGS):
        return 0
    match = _BLOCK.match(name)
    if match:
        return int(match.group(1)) + 1
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    def add_params(self, params: list[dict], module, **kwargs) -> None:
        num_layers = int(self.paramwise_cfg["num_layers"])
        rate = float(self.paramwise_cfg["decay_rate"])
        exempt = tuple(self.paramwise_cfg.get("no_decay_names", _NO_DECAY_NAMES))
        groups: dict[str, dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = (param.ndim == 1 or name.endswith(".bias")
                        or name.rsplit(".", 1)[-1] in exempt)
            depth = layer_id(name, num_layers)
            key = f"layer_{depth}_{'no_decay' if no_decay else 'decay'}"
            if key not in groups:
                scale = rate ** (num_layers + 1 - depth)
                groups[key] = {"params": [], "lr": self.base_lr * scale,
                               "weight_decay": 0.0 if no_decay else self.base_wd}
            groups[key]["params"].append(param)
        params.extend(groups.values())
