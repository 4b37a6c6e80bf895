"""Baseline name -> model and optimisation recipe (MMSegmentation 1.x config dicts).

Where mmseg ships the baseline, the recipe *names* one of the configs in mmsegmentation's wheel
(``mmseg/.mim/configs``) and says what to change (classes, no pretrained download), so nothing is
copied. The baselines mmseg does not ship (SeaFormer-B/L, AFFormer-B) are written here as dicts
over the ports in :mod:`ssa_bench.models.backbones` (ViT-Adapter-L too: its deformable attention
runs on mmcv's pure-PyTorch sampling).

Each recipe carries the authors' optimisation facts (issue 4, "the authors' released configs"):

============== ======================================================================
fcn_r101       SGD 0.01, momentum 0.9, wd 5e-4, poly 0.9 (min 1e-4); FCN aux head 0.4
ocrnet_hr48    SGD 0.01, momentum 0.9, wd 5e-4, poly 0.9; FCN head (0.4) cascaded
upernet_swin_* AdamW 6e-5, wd 0.01, 1500 warm-up, poly 1; FCN aux head 0.4, 512 ch.;
               window 7 (Swin-B: ImageNet-1K, Swin-L: ImageNet-22K) -- the window and
               pre-training whose FLOPs match the paper's Table 1/2
segformer_b5   AdamW 6e-5, wd 0.01, head lr x10, 1500 warm-up, poly 1
segnext_t      AdamW 6e-5, wd 0.01, head lr x10, 1500 warm-up, poly 1
seaformer_b/l  AdamW 2.5e-4 (SeaFormer-B on PASCAL-Context and COCO-Stuff: 2e-4), wd 0.01,
               head lr x10, 1500 warm-up, poly 1
afformer_b     AdamW 3e-4, wd 0.01; warm-up and poly as SegFormer's schedule (1500, power 1)
vit_adapter_l  AdamW 2e-5, wd 0.05, layer-wise lr decay 0.95 over the 24 ViT blocks, 1500
               warm-up, poly 1; UperNet (512 ch.) + FCN aux head 0.4; sliding-window test
============== ======================================================================

What a composer reads besides ``model``/``optim_wrapper``/``param_scheduler``:

* ``recipe.lr_for(dataset)``: the base learning rate on that dataset (per-dataset values live in
  ``lr_by_dataset``); ``recipe.optim_wrapper_for(dataset)`` is the optim wrapper with it set.
* ``recipe.param_scheduler_for(max_iters)``: the schedule stretched to the run's length (the
  shipped configs end at 160k; COCO-Stuff and PASCAL-Context run 80k).
* ``recipe.imports``: ``custom_imports`` the model needs (the ports register themselves).
* ``recipe.test_cfg``-like settings stay in ``model["test_cfg"]`` (e.g. sliding window).

ImageNet-pretrained weights: ``baseline_recipe(name, n, pretrained="/path/ckpt.pth")`` attaches a
*local* checkpoint as the backbone's ``init_cfg``; a path that does not exist is a ``DataError``.
Nothing is downloaded.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ssa_bench.errors import DataError, UserError

PORTS_MODULE = "ssa_bench.models.backbones"


@dataclass
class BaselineRecipe:
    model: dict[str, Any]
    optim_wrapper: dict[str, Any]
    param_scheduler: list[dict[str, Any]]
    # custom_imports the model needs beyond mmseg (e.g. the SeaFormer port)
    imports: list[str] = field(default_factory=list)
    # dataset name -> base learning rate, where the authors used a different one than
    # optim_wrapper's (e.g. SeaFormer-B: 2e-4 on PASCAL-Context and COCO-Stuff)
    lr_by_dataset: dict[str, float] = field(default_factory=dict)

    def lr_for(self, dataset: str) -> float:
        return self.lr_by_dataset.get(dataset, self.optim_wrapper["optimizer"]["lr"])

    def optim_wrapper_for(self, dataset: str) -> dict[str, Any]:
        wrapper = copy.deepcopy(self.optim_wrapper)
        wrapper["optimizer"]["lr"] = self.lr_for(dataset)
        return wrapper

    def param_scheduler_for(self, max_iters: int) -> list[dict[str, Any]]:
        """The schedule with its decay phase ending at ``max_iters``.

        The warm-up keeps its length (1500 iterations at 160k and at 80k, as the authors ran
        it) unless that is more than a tenth of the run -- a short CPU run -- where it is cut
        to a tenth so that the decay phase still exists.
        """
        if max_iters < 1:
            raise ValueError(f"max_iters must be positive, got {max_iters}")
        schedulers = copy.deepcopy(self.param_scheduler)
        *warmups, decay = schedulers
        warmup_end = max((s["end"] for s in warmups), default=0)
        if warmup_end > max_iters // 10:
            warmup_end = max_iters // 10
            for warmup in warmups:
                warmup["end"] = warmup_end
            warmups = [w for w in warmups if w["end"] > w.get("begin", 0)]
        decay["begin"] = warmup_end if warmups else 0
        decay["end"] = max_iters
        return warmups + [decay]


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


# The data preprocessor of every mmseg ADE20K config (ImageNet mean/std, RGB); the composer sets
# ``size`` to the run's crop.
_DATA_PREPROCESSOR = dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53],
                          std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                          seg_pad_val=255, size=(512, 512))
_NORM = dict(type="SyncBN", requires_grad=True)
_CE = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)
# 1500 linear warm-up iterations, then poly decay with power 1 to 0 (SegFormer-style schedule).
_WARMUP_POLY1 = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type="PolyLR", power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160_000),
]


def _encoder_decoder(backbone: dict, decode_head: dict) -> dict:
    return dict(type="EncoderDecoder", data_preprocessor=copy.deepcopy(_DATA_PREPROCESSOR),
                pretrained=None, backbone=backbone, decode_head=decode_head,
                train_cfg=dict(), test_cfg=dict(mode="whole"))


def _adamw(lr: float, weight_decay: float, head_lr_mult: float | None) -> dict:
    wrapper: dict[str, Any] = dict(
        type="OptimWrapper",
        optimizer=dict(type="AdamW", lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay))
    if head_lr_mult is not None:
        wrapper["paramwise_cfg"] = dict(custom_keys={"head": dict(lr_mult=head_lr_mult)})
    return wrapper


def _seaformer(arch: str) -> BaselineRecipe:
    # Head inputs: the 1/8 stem feature (spatial branch) and the attention stages (context).
    if arch == "B":
        backbone = dict(type="SeaFormer", arch="B", out_indices=(1, 3, 4), drop_path_rate=0.1)
        in_channels, embed_dims = [64, 192, 256], [128, 160]
    else:
        backbone = dict(type="SeaFormer", arch="L", out_indices=(1, 2, 3, 4), drop_path_rate=0.1)
        in_channels, embed_dims = [128, 192, 256, 320], [128, 160, 192]
    head = dict(type="SeaFormerHead", in_channels=in_channels,
                in_index=list(range(len(in_channels))), embed_dims=embed_dims,
                channels=embed_dims[-1], num_classes=150, dropout_ratio=0.1, norm_cfg=_NORM,
                align_corners=False, loss_decode=copy.deepcopy(_CE))
    return BaselineRecipe(
        model=_encoder_decoder(backbone, head),
        optim_wrapper=_adamw(2.5e-4, 0.01, head_lr_mult=10.0),
        param_scheduler=copy.deepcopy(_WARMUP_POLY1),
        imports=[PORTS_MODULE],
        lr_by_dataset=({"pascal_context59": 2e-4, "coco_stuff10k": 2e-4} if arch == "B" else {}),
    )


def _afformer_b() -> BaselineRecipe:
    backbone = dict(type="AFFormer", arch="B", out_indices=(3,), drop_path_rate=0.1)
    head = dict(type="AFFormerHead", in_channels=216, in_index=0, channels=256, num_classes=150,
                dropout_ratio=0.1, norm_cfg=_NORM, align_corners=False,
                loss_decode=copy.deepcopy(_CE))
    return BaselineRecipe(
        model=_encoder_decoder(backbone, head),
        optim_wrapper=_adamw(3e-4, 0.01, head_lr_mult=None),
        param_scheduler=copy.deepcopy(_WARMUP_POLY1),
        imports=[PORTS_MODULE],
    )


def _vit_adapter_l() -> BaselineRecipe:
    # UperNet on the four 1024-wide adapter maps, 512 channels, FCN auxiliary head on 1/16;
    # sliding-window test with 512 crops (the authors' stride: two thirds of the crop).
    backbone = dict(type="ViTAdapter", arch="L", drop_path_rate=0.4)
    head = dict(type="UPerHead", in_channels=[1024] * 4, in_index=[0, 1, 2, 3],
                pool_scales=(1, 2, 3, 6), channels=512, dropout_ratio=0.1, num_classes=150,
                norm_cfg=_NORM, align_corners=False, loss_decode=copy.deepcopy(_CE))
    model = _encoder_decoder(backbone, head)
    model["auxiliary_head"] = dict(
        type="FCNHead", in_channels=1024, in_index=2, channels=256, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=150, norm_cfg=_NORM,
        align_corners=False, loss_decode={**_CE, "loss_weight": 0.4})
    model["test_cfg"] = dict(mode="slide", crop_size=(512, 512), stride=(341, 341))
    optim_wrapper = _adamw(2e-5, 0.05, head_lr_mult=None)
    optim_wrapper["constructor"] = "ViTLayerDecayOptimizerConstructor"
    optim_wrapper["paramwise_cfg"] = dict(num_layers=24, decay_rate=0.95)
    return BaselineRecipe(model=model, optim_wrapper=optim_wrapper,
                          param_scheduler=copy.deepcopy(_WARMUP_POLY1), imports=[PORTS_MODULE])


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
        "swin/swin-base-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py"),
    "upernet_swin_l": lambda: _from_mmseg(
        "swin/swin-large-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py"),
    "seaformer_b": lambda: _seaformer("B"),
    "seaformer_l": lambda: _seaformer("L"),
    "afformer_b": _afformer_b,
    "vit_adapter_l": _vit_adapter_l,
}


def baseline_recipe(name: str, num_classes: int, pretrained: str | None = None) -> BaselineRecipe:
    """The model/optimiser recipe of a baseline, with ``num_classes`` set and no downloads.

    ``pretrained``: a local ImageNet checkpoint for the backbone (``init_cfg`` of type
    ``Pretrained``); raises :class:`DataError` when the file does not exist.
    """
    if name not in _RECIPES:
        from ssa_bench.catalog import BASELINES

        info = BASELINES.get(name)
        if info is None:
            raise UserError(f"unknown baseline '{name}'", key="baseline",
                            fix=f"use one of: {', '.join(sorted(BASELINES))}")
        needs = info.needs if info.needs else "its port into ssa_bench.models.backbones"
        raise UserError(f"baseline '{name}' cannot be built here", key="baseline",
                        fix=f"it needs {needs}; pick another baseline")
    recipe = _RECIPES[name]()
    _drop_pretrained(recipe.model)
    _set_num_classes(recipe.model, num_classes)
    if pretrained:
        if not os.path.isfile(pretrained):
            raise DataError(f"pretrained checkpoint '{pretrained}' does not exist",
                            key="pretrained",
                            fix="point it at a local ImageNet checkpoint file or unset it "
                                "(nothing is downloaded)")
        recipe.model["backbone"]["init_cfg"] = dict(type="Pretrained", checkpoint=pretrained)
    return recipe


def buildable_baselines() -> list[str]:
    return sorted(_RECIPES)
