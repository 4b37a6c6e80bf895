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
segnext_t      AdamW 6e-5, wd 0.01, head lr x10, 1500 warm-up, poly 1; SyncBN backbone
seaformer_b/l  AdamW 2.5e-4 (SeaFormer-B on PASCAL-Context and COCO-Stuff: 2e-4), wd 0.01
               (none on ``pos_emb``), head lr x10, 1500 warm-up, poly 1; SyncBN
afformer_b     AdamW 3e-4, wd 0.01 (no paramwise rules), 1500 warm-up, poly 1; GroupNorm(32)
               head on the last stage (the authors' configs/AFFormer/AFFormer_base_ade20k.py)
vit_adapter_l  AdamW 2e-5, wd 0.05, layer-wise lr decay 0.95 over the 24 ViT blocks, 1500
               warm-up, poly 1; UperNet (512 ch.) + FCN aux head 0.4; sliding-window test
============== ======================================================================

What a composer reads besides ``model``/``optim_wrapper``/``param_scheduler``:

* ``run_recipe(run_config)``: the recipe as one run trains it -- the run's classes and
  ``train.pretrained``, and ``recipe.for_dataset(dataset)``: the model and optim wrapper with the
  data set's learning rate (``lr_by_dataset``, ``recipe.lr_for(dataset)``) and overrides.
* ``recipe.param_scheduler``: the shipped 160k schedule; ``schedule.py`` stretches it to the
  run's length (COCO-Stuff and PASCAL-Context run 80k).
* ``recipe.imports``: ``custom_imports`` the model needs (the ports register themselves).
* ``recipe.test_cfg``-like settings stay in ``model["test_cfg"]`` (e.g. sliding window).

ImageNet-pretrained weights (docs/weights.md): the ``init_cfg``/``pretrained`` a shipped mmseg config
names (a URL mmengine would download at run time, loading it non-strictly) is taken out and kept in
``recipe.shipped_pretrained`` -- the weights catalog names the same file (a test checks it).
``baseline_recipe(name, n, pretrained=...)`` with a run config's ``train.pretrained`` (a catalog
reference or a local path) attaches the ``StrictPretrained`` initialiser to the segmentor, which
loads the backbone with the catalog's key mapping and fails on any missing, unexpected or
mis-shaped tensor; a file that is not there is a ``DataError`` naming the fetch command when the
model is initialised (``ssa-bench run`` checks before queueing). Nothing is downloaded at run time.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ssa_bench.errors import UserError
from ssa_bench.vocabulary.names import dataset_info

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
    # dataset name -> {dotted key of the model or optim wrapper: value} where the authors' config
    # for that dataset differs in more than the lr (ViT-Adapter-L: ImageNet mean/std and layer
    # decay 0.90 on PASCAL-Context and COCO-Stuff, 127.5 and 0.95 on ADE20K)
    overrides_by_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the checkpoint the shipped mmseg config names (URL or open-mmlab:// link), replaced by the
    # weights catalog's entry; None for the recipes written here
    shipped_pretrained: str | None = None

    def lr_for(self, dataset: str) -> float:
        return self.lr_by_dataset.get(dataset, self.optim_wrapper["optimizer"]["lr"])

    def optim_wrapper_for(self, dataset: str) -> dict[str, Any]:
        wrapper = copy.deepcopy(self.optim_wrapper)
        wrapper["optimizer"]["lr"] = self.lr_for(dataset)
        self._override(dataset, "optim_wrapper.", wrapper)
        return wrapper

    def model_for(self, dataset: str) -> dict[str, Any]:
        """The model config with the dataset's overrides applied (a copy)."""
        model = copy.deepcopy(self.model)
        self._override(dataset, "model.", model)
        return model

    def _override(self, dataset: str, prefix: str, target: dict) -> None:
        for key, value in self.overrides_by_dataset.get(dataset, {}).items():
            if not key.startswith(prefix):
                continue
            *parents, leaf = key[len(prefix):].split(".")
            node = target
            for part in parents:
                node = node[part]
            node[leaf] = copy.deepcopy(value)

    def for_dataset(self, dataset: str) -> "BaselineRecipe":
        """This recipe as it trains on ``dataset``: the model and optim wrapper with the data
        set's learning rate and overrides applied (a copy; nothing per data set left)."""
        return BaselineRecipe(model=self.model_for(dataset), optim_wrapper=self.optim_wrapper_for(dataset),
                              param_scheduler=copy.deepcopy(self.param_scheduler), imports=list(self.imports),
                              shipped_pretrained=self.shipped_pretrained)


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


def _take_shipped_pretrained(model: dict) -> str | None:
    """Remove the checkpoint a shipped config names (mmengine would download it at run time and
    load it non-strictly) and return it; the weights catalog's entry for the baseline replaces it."""
    backbone = model["backbone"]
    init_cfg = backbone.pop("init_cfg", None) or {}
    shipped = model.get("pretrained") or backbone.pop("pretrained", None) or init_cfg.get("checkpoint")
    backbone.pop("pretrained", None)
    model["pretrained"] = None
    return shipped


def _attach_pretrained(recipe: BaselineRecipe, name: str, pretrained: str) -> None:
    """The segmentor's StrictPretrained initialiser for a run config's train.pretrained."""
    from ssa_bench.weights import STRICT_IMPORT, checkpoint_of

    checkpoint = checkpoint_of({"baseline": name, "train": {"pretrained": pretrained}})
    # The file is needed when the model is initialised (training), not to compose the config:
    # evaluating or measuring a trained run works without it. `ssa-bench run` checks it before
    # queueing anything; StrictPretrained says which file and which command when it is missing.
    # A checkpoint given by path is read with the baseline's catalog mapping: it is expected to be
    # (a copy of) the same file; anything else fails the strict comparison with the key names.
    mapping = checkpoint.entry.mapping.to_dict() if checkpoint.entry else {}
    # On the segmentor, not the backbone: see ssa_bench/weights/strict.py for mmengine's init order.
    recipe.model["init_cfg"] = dict(type="StrictPretrained", checkpoint=str(checkpoint.path), module="backbone",
                                    mapping=mapping, name=name)
    if STRICT_IMPORT not in recipe.imports:
        recipe.imports.append(STRICT_IMPORT)


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
    # The authors' local_configs/seaformer/seaformer_{base,large}.py and their
    # *_512x512_160k_2x8_ade20k.py (fudan-zvg/SeaFormer): SyncBN in backbone and head (mmengine
    # reverts it to BN without a process group), the light head on the 1/8 feature (spatial
    # branch) and the SeaFormer stages (context), depth-wise linear_fuse.
    if arch == "B":
        in_channels, embed_dims = [64, 192, 256], [128, 160]
    else:
        in_channels, embed_dims = [128, 192, 256, 320], [128, 160, 192]
    backbone = dict(type="SeaFormer", arch=arch,
                    out_indices=(1, 3, 4) if arch == "B" else (1, 2, 3, 4),
                    drop_path_rate=0.1, norm_cfg=copy.deepcopy(_NORM))
    head = dict(type="SeaFormerHead", in_channels=in_channels,
                in_index=list(range(len(in_channels))), embed_dims=embed_dims, is_dw=True,
                channels=embed_dims[-1], num_classes=150, dropout_ratio=0.1, norm_cfg=_NORM,
                align_corners=False, loss_decode=copy.deepcopy(_CE))
    optim_wrapper = _adamw(2.5e-4, 0.01, head_lr_mult=10.0)
    # The authors' custom_keys: no weight decay on the axial position embeddings
    # (``...attn.pos_emb_rowq.pos_embed``) nor on names with "norm" (none in these models: their
    # norms are called ``bn``), head lr x10.
    optim_wrapper["paramwise_cfg"]["custom_keys"].update(
        {"pos_emb": dict(decay_mult=0.0), "norm": dict(decay_mult=0.0)})
    return BaselineRecipe(
        model=_encoder_decoder(backbone, head),
        optim_wrapper=optim_wrapper,
        param_scheduler=copy.deepcopy(_WARMUP_POLY1),
        imports=[PORTS_MODULE],
        lr_by_dataset=({"pascal_context59": 2e-4, "coco_stuff10k": 2e-4} if arch == "B" else {}),
    )


def _afformer_b() -> BaselineRecipe:
    # The authors' configs/AFFormer/AFFormer_base_ade20k.py (dongbo811/AFFormer), as the SSA
    # authors ran it (xwmaxwma/SSA-Seg configs/afformer/): backbone afformer_base (drop path 0),
    # head `CLS` on the last stage (216 ch. at 1/8) -> 1x1 squeeze to 256 with GroupNorm(32) +
    # ReLU -> dropout 0.1 -> conv_seg. AdamW 3e-4, betas (0.9, 0.999), wd 0.01 on every
    # parameter (no paramwise rules), linear warm-up 1500 (ratio 1e-6), poly 1.0 to 0. Backbone
    # BN: plain BN as SSA-Seg's train.py leaves it (AFFormer's own train.py converts the model to
    # SyncBN; docs/baselines.md).
    backbone = dict(type="AFFormer", arch="B", out_indices=(0, 1, 2, 3), drop_path_rate=0.0,
                    norm_cfg=dict(type="BN", requires_grad=True))
    head = dict(type="AFFormerHead", in_channels=[216], in_index=[3],
                input_transform="multiple_select", channels=256, num_classes=150,
                dropout_ratio=0.1, norm_cfg=dict(type="GN", num_groups=32, requires_grad=True),
                align_corners=False, loss_decode=copy.deepcopy(_CE))
    return BaselineRecipe(
        model=_encoder_decoder(backbone, head),
        optim_wrapper=_adamw(3e-4, 0.01, head_lr_mult=None),
        param_scheduler=copy.deepcopy(_WARMUP_POLY1),
        imports=[PORTS_MODULE],
    )


def _vit_adapter_l() -> BaselineRecipe:
    # The authors' configs/ade20k/upernet_augreg_adapter_large_512_160k_ade20k.py
    # (czczup/ViT-Adapter) over their _base_/models/upernet_r50.py: ViT-L/16 AugReg at
    # pretrain_size 384 (pos_embed 1x577x1024, resized bicubically to the input grid at every
    # forward), layer scale on (TIMMVisionTransformer's default, kept by the large config), the
    # interaction groups, 16 deformable heads x 4 points, value ratio 0.5, conv-FFN 0.25, drop
    # path 0.4, activation checkpointing (with_cp: memory only); SyncBN in the spatial prior module,
    # the output norms and both heads (mmengine reverts it to BN without a process group).
    # UperNet (512 ch.) on the four 1024-wide maps, FCN auxiliary head on 1/16 (0.4); images
    # normalised with mean = std = 127.5 (RGB); sliding-window test, 512 crops, stride 341.
    # AdamW 2e-5, betas (0.9, 0.999), wd 0.05, layer-wise lr decay 0.95 over 24 layers (their
    # LayerDecayOptimizerConstructor: num_layers=24, layer_decay_rate=0.95), 1500 linear warm-up
    # (ratio 1e-6), poly 1.0 to 0. Differences that remain: docs/baselines.md.
    backbone = dict(type="ViTAdapter", arch="L", pretrain_size=384, drop_path_rate=0.4,
                    layer_scale=True,
                    interaction_indexes=[[0, 5], [6, 11], [12, 17], [18, 23]],
                    norm_cfg=copy.deepcopy(_NORM), with_cp=True)
    head = dict(type="UPerHead", in_channels=[1024] * 4, in_index=[0, 1, 2, 3],
                pool_scales=(1, 2, 3, 6), channels=512, dropout_ratio=0.1, num_classes=150,
                norm_cfg=_NORM, align_corners=False, loss_decode=copy.deepcopy(_CE))
    model = _encoder_decoder(backbone, head)
    model["data_preprocessor"].update(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
                                      bgr_to_rgb=True)
    model["auxiliary_head"] = dict(
        type="FCNHead", in_channels=1024, in_index=2, channels=256, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=150, norm_cfg=_NORM,
        align_corners=False, loss_decode={**_CE, "loss_weight": 0.4})
    model["test_cfg"] = dict(mode="slide", crop_size=(512, 512), stride=(341, 341))
    optim_wrapper = _adamw(2e-5, 0.05, head_lr_mult=None)
    optim_wrapper["constructor"] = "ViTLayerDecayOptimizerConstructor"
    # no_decay_names=[]: the authors' LayerDecayOptimizerConstructor means to exempt pos_embed but
    # compares bare names with prefixed ones (ViT-Adapter @fd64a51
    # segmentation/mmcv_custom/layer_decay_optimizer_constructor.py), so pos_embed and the 2-D
    # level_embed are decayed there; 1-D parameters and biases are exempt in both.
    optim_wrapper["paramwise_cfg"] = dict(num_layers=24, decay_rate=0.95, no_decay_names=[])
    # The SSA authors' PASCAL-Context and COCO-Stuff configs (xwmaxwma/SSA-Seg,
    # configs/vit-adapter/*_pc.py, *_coco10k.py) normalise with ImageNet's mean/std and decay
    # layers by 0.90; their ADE20K config uses 127.5 and 0.95 as above.
    imagenet = {"model.data_preprocessor.mean": [123.675, 116.28, 103.53],
                "model.data_preprocessor.std": [58.395, 57.12, 57.375],
                "optim_wrapper.paramwise_cfg.decay_rate": 0.90}
    return BaselineRecipe(model=model, optim_wrapper=optim_wrapper,
                          param_scheduler=copy.deepcopy(_WARMUP_POLY1), imports=[PORTS_MODULE],
                          overrides_by_dataset={"pascal_context59": imagenet,
                                                "coco_stuff10k": imagenet})


def _segformer_mini() -> BaselineRecipe:
    recipe = _from_mmseg("segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py")
    backbone = recipe.model["backbone"]
    # MiT-B0 with half the width and one block per stage: a real SegFormer that trains in about a
    # minute on 2 CPU cores at 64x64, for the cpu-demo profile.
    backbone.update(embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
    recipe.model["decode_head"].update(in_channels=[16, 32, 64, 128], channels=64)
    recipe.optim_wrapper["optimizer"]["lr"] = 1e-3
    return recipe


def _segnext_t() -> BaselineRecipe:
    recipe = _from_mmseg("segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py")
    # mmseg's "1xb16" config trains on one GPU with plain BN; the SSA authors' MSCAN is SyncBN
    # (SSA-Seg configs/segnext/mscan.py:14), which is what makes 4 GPUs x 4 images equal to one
    # process with 16 (mmengine reverts SyncBN to BN without a process group).
    recipe.model["backbone"]["norm_cfg"] = dict(type="SyncBN", requires_grad=True)
    return recipe


_RECIPES: dict[str, Callable[[], BaselineRecipe]] = {
    "segformer_mini": _segformer_mini,
    "segnext_t": lambda: _segnext_t(),
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

    ``pretrained``: a run config's ``train.pretrained`` -- ``None`` (from scratch), a catalog
    reference (``catalog:<baseline>:<file>...``) or a local path; attaches the strict
    ``StrictPretrained`` initialiser (which raises :class:`DataError` at initialisation when the
    file is not there).
    """
    if name not in _RECIPES:
        from ssa_bench.vocabulary.names import baseline_info

        info = baseline_info(name)
        needs = info.needs if info.needs else "its port into ssa_bench.models.backbones"
        raise UserError(f"baseline '{name}' cannot be built here", key="baseline",
                        fix=f"it needs {needs}; pick another baseline")
    recipe = _RECIPES[name]()
    recipe.shipped_pretrained = _take_shipped_pretrained(recipe.model)
    _set_num_classes(recipe.model, num_classes)
    if pretrained:
        _attach_pretrained(recipe, name, pretrained)
    return recipe


def num_classes(run_config: dict) -> int:
    definition = run_config.get("dataset_def")
    if definition:
        return len(definition["classes"])
    return dataset_info(run_config["dataset"], key="dataset").num_classes


def run_recipe(run_config: dict) -> BaselineRecipe:
    """The baseline's recipe as this run trains it: its data set's classes, learning rate and
    overrides, its ``train.pretrained`` checkpoint. The model and optimisation sections of the
    config start from it (``model.py``, ``schedule.py``)."""
    pretrained = (run_config.get("train") or {}).get("pretrained")
    recipe = baseline_recipe(run_config["baseline"], num_classes(run_config), pretrained)
    return recipe.for_dataset(run_config["dataset"])


def buildable_baselines() -> list[str]:
    return sorted(_RECIPES)
