"""Baseline name -> model and optimisation recipe, composed from the configs mmseg ships.

mmsegmentation's wheel carries its model zoo configs under ``mmseg/.mim/configs``; a baseline here
names one of them and says what to change (classes, no pretrained download), so nothing is copied.
Baselines mmseg does not ship (SeaFormer, AFFormer) are built from ports in
``ssa_bench.models.backbones``.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ssa_bench.errors import UserError


@dataclass
class BaselineRecipe:
    model: dict[str, Any]
    optim_wrapper: dict[str, Any]
    param_scheduler: list[dict[str, Any]]
    # custom_imports the model needs beyond mmseg (e.g. the SeaFormer port)
    imports: list[str] = field(default_factory=list)


def mmseg_config_dir() -> str:
    import mmseg

    return os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs")


def _from_mmseg(relpath: str) -> BaselineRecipe:
    from mmengine.config import Config

    cfg = Config.fromfile(os.path.join(mmseg_config_dir(), relpath))
    return BaselineRecipe(
        model=copy.deepcopy(cfg.model.to_dict()),
        optim_wrapper=copy.deepcopy(cfg.optim_wrapper.to_dict()),
        param_scheduler=copy.deepcopy([dict(s) for s in cfg.param_scheduler]),
    )


def _heads(model: dict) -> list[dict]:
    heads = model["decode_head"]
    heads = heads if isinstance(heads, list) else [heads]
    aux = model.get("auxiliary_head")
    if aux:
        heads = heads + (aux if isinstance(aux, list) else [aux])
    return heads


def _set_num_classes(model: dict, num_classes: int) -> None:
    for head in _heads(model):
        head["num_classes"] = num_classes


def _drop_pretrained(model: dict) -> None:
    # No downloads at run time: a local checkpoint is attached later by `pretrained=` if given.
    model["pretrained"] = None
    model["backbone"].pop("init_cfg", None)
    model["backbone"].pop("pretrained", None)


def _segformer_mini() -> BaselineRecipe:
    recipe = _from_mmseg("segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py")
    backbone = recipe.model["backbone"]
    # MiT-B0 with half the width and one block per stage: a real SegFormer that trains in about a
    # minute on 2 CPU cores at 64x64, for the cpu-demo profile.
    backbone.update(embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
    recipe.model["decode_head"].update(in_channels=[16, 32, 64, 128], channels=64)
    recipe.optim_wrapper["optimizer"]["lr"] = 1e-3
    return recipe


_RECIPES: dict[str, Callable[[], BaselineRecipe]] = {
    "segformer_mini": _segformer_mini,
    "segnext_t": lambda: _from_mmseg("segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py"),
    "segformer_b5": lambda: _from_mmseg("segformer/segformer_mit-b5_8xb2-160k_ade20k-512x512.py"),
    "ocrnet_hr48": lambda: _from_mmseg("ocrnet/ocrnet_hr48_4xb4-160k_ade20k-512x512.py"),
    "fcn_r101": lambda: _from_mmseg("fcn/fcn_r101-d8_4xb4-160k_ade20k-512x512.py"),
    "upernet_swin_t": lambda: _from_mmseg(
        "swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py"),
    "upernet_swin_b": lambda: _from_mmseg(
        "swin/swin-base-patch4-window12-in22k-384x384-pre_upernet_8xb2-160k_ade20k-512x512.py"),
    "upernet_swin_l": lambda: _from_mmseg(
        "swin/swin-large-patch4-window12-in22k-384x384-pre_upernet_8xb2-160k_ade20k-512x512.py"),
}


def baseline_recipe(name: str, num_classes: int, pretrained: str | None = None) -> BaselineRecipe:
    """The model/optimiser recipe of a baseline, with ``num_classes`` set and no downloads."""
    if name not in _RECIPES:
        from ssa_bench.catalog import BASELINES

        info = BASELINES.get(name)
        needs = info.needs if info and info.needs else "its port into ssa_bench.models.backbones"
        raise UserError(f"baseline '{name}' cannot be built yet", key="baseline",
                        fix=f"it needs {needs}; pick another baseline")
    recipe = _RECIPES[name]()
    _drop_pretrained(recipe.model)
    _set_num_classes(recipe.model, num_classes)
    if pretrained:
        if not os.path.isfile(pretrained):
            raise UserError(f"pretrained checkpoint '{pretrained}' does not exist",
                            key="pretrained", fix="point it at a local ImageNet checkpoint file or unset it")
        recipe.model["backbone"]["init_cfg"] = dict(type="Pretrained", checkpoint=pretrained)
    return recipe


def buildable_baselines() -> list[str]:
    return sorted(_RECIPES)
