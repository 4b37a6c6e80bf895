"""Baseline recipes: each baseline's own optimisation facts, per-dataset lr, pretrained paths."""
from __future__ import annotations

import re

import pytest

from ssa_bench.vocabulary.names import BASELINES
from ssa_bench.configs.baselines import BaselineRecipe, baseline_recipe, buildable_baselines
from ssa_bench.configs.schedule import stretch_schedule
from ssa_bench.errors import UserError


def _heads(model):
    heads = model["decode_head"] if isinstance(model["decode_head"], list) else [model["decode_head"]]
    aux = model.get("auxiliary_head") or []
    return heads + (aux if isinstance(aux, list) else [aux])


def test_every_catalog_baseline_is_buildable_or_says_what_it_needs():
    buildable = set(buildable_baselines())
    for name, info in BASELINES.items():
        assert (name in buildable) == info.available, name
        if not info.available:
            assert info.needs
            with pytest.raises(UserError, match=re.escape(info.needs)):
                baseline_recipe(name, 150)


def test_unknown_baseline_names_the_choices():
    with pytest.raises(UserError, match="use one of"):
        baseline_recipe("resnet_9000", 150)


@pytest.mark.parametrize("name", sorted(n for n, i in BASELINES.items() if i.available))
def test_num_classes_reach_every_head_and_no_download(name):
    recipe = baseline_recipe(name, 59)
    assert all(head["num_classes"] == 59 for head in _heads(recipe.model))
    assert recipe.model.get("pretrained") is None
    assert "init_cfg" not in recipe.model["backbone"]


# (optimizer, lr, weight decay, head lr multiplier or None, warm-up iterations or 0, poly power)
AUTHORS_SETTINGS = {
    "fcn_r101": ("SGD", 0.01, 5e-4, None, 0, 0.9),
    "ocrnet_hr48": ("SGD", 0.01, 5e-4, None, 0, 0.9),
    "upernet_swin_t": ("AdamW", 6e-5, 0.01, None, 1500, 1.0),
    "upernet_swin_b": ("AdamW", 6e-5, 0.01, None, 1500, 1.0),
    "upernet_swin_l": ("AdamW", 6e-5, 0.01, None, 1500, 1.0),
    "segformer_b5": ("AdamW", 6e-5, 0.01, 10.0, 1500, 1.0),
    "segnext_t": ("AdamW", 6e-5, 0.01, 10.0, 1500, 1.0),
    "seaformer_b": ("AdamW", 2.5e-4, 0.01, 10.0, 1500, 1.0),
    "seaformer_l": ("AdamW", 2.5e-4, 0.01, 10.0, 1500, 1.0),
    "afformer_b": ("AdamW", 3e-4, 0.01, None, 1500, 1.0),
}


@pytest.mark.parametrize("name", sorted(AUTHORS_SETTINGS))
def test_authors_optimisation_settings(name):
    optimizer, lr, weight_decay, head_mult, warmup, power = AUTHORS_SETTINGS[name]
    recipe = baseline_recipe(name, 150)
    opt = recipe.optim_wrapper["optimizer"]
    assert (opt["type"], opt["lr"], opt["weight_decay"]) == (optimizer, lr, weight_decay)
    if optimizer == "SGD":
        assert opt["momentum"] == 0.9
    keys = recipe.optim_wrapper.get("paramwise_cfg", {}).get("custom_keys", {})
    assert keys.get("head", {}).get("lr_mult") == head_mult
    *warmups, decay = recipe.param_scheduler
    assert sum(w["end"] - w.get("begin", 0) for w in warmups) == warmup
    assert (decay["type"], decay["power"], decay["end"]) == ("PolyLR", power, 160_000)


@pytest.mark.parametrize("name", ["ocrnet_hr48", "upernet_swin_t", "upernet_swin_b",
                                  "upernet_swin_l", "fcn_r101"])
def test_fcn_auxiliary_head_weight_04(name):
    model = baseline_recipe(name, 150).model
    # OCRNet cascades its FCN head (soft object regions) inside decode_head; the others run it
    # as an auxiliary head in training only.
    fcn = model["decode_head"][0] if name == "ocrnet_hr48" else model["auxiliary_head"]
    assert fcn["type"] == "FCNHead"
    assert fcn["loss_decode"]["loss_weight"] == pytest.approx(0.4)
    if name.startswith("upernet"):
        assert model["decode_head"]["channels"] == 512


def test_seaformer_b_lr_per_dataset():
    recipe = baseline_recipe("seaformer_b", 150)
    assert recipe.lr_for("ade20k") == 2.5e-4
    assert recipe.lr_for("pascal_context59") == recipe.lr_for("coco_stuff10k") == 2e-4
    wrapper = recipe.optim_wrapper_for("coco_stuff10k")
    assert wrapper["optimizer"]["lr"] == 2e-4
    assert recipe.optim_wrapper["optimizer"]["lr"] == 2.5e-4      # the recipe itself untouched
    assert baseline_recipe("seaformer_l", 150).lr_for("coco_stuff10k") == 2.5e-4


def test_schedule_stretches_to_the_run():
    recipe = baseline_recipe("seaformer_b", 150)
    # the poly decays over the whole run, from 0, as mmcv 1.x; an mmengine scheduler reaches its
    # end value at step end - 1 (tests/configs/test_poly_span.py)
    warmup, decay = stretch_schedule(recipe.param_scheduler, 80_000)
    assert (warmup["end"], decay["begin"], decay["end"]) == (1501, 0, 80_001)
    warmup, decay = stretch_schedule(recipe.param_scheduler, 400)               # a short CPU run
    assert (warmup["end"], decay["begin"], decay["end"]) == (41, 0, 401)
    (decay,) = stretch_schedule(recipe.param_scheduler, 5)
    assert (decay["begin"], decay["end"]) == (0, 6)
    (poly,) = stretch_schedule(baseline_recipe("fcn_r101", 150).param_scheduler, 80_000)
    assert (poly["begin"], poly["end"], poly["power"]) == (0, 80_001, 0.9)


def test_ports_declare_their_imports():
    for name in ("seaformer_b", "seaformer_l", "afformer_b"):
        assert baseline_recipe(name, 150).imports == ["ssa_bench.models.backbones"]


def test_pretrained_local_checkpoint(tmp_path):
    checkpoint = tmp_path / "mscan_t.pth"
    checkpoint.write_bytes(b"not read here")
    recipe = baseline_recipe("segnext_t", 150, pretrained=str(checkpoint))
    # strict loading through the catalog's key mapping, on the segmentor (tests/weights/test_strict.py)
    init_cfg = recipe.model["init_cfg"]
    assert (init_cfg["type"], init_cfg["checkpoint"], init_cfg["module"]) == ("StrictPretrained", str(checkpoint),
                                                                              "backbone")
    assert "init_cfg" not in recipe.model["backbone"]
    # a missing file is reported when the model is initialised (and by `ssa-bench run` before
    # queueing): evaluating or measuring a trained run does not need it
    # (tests/weights/test_strict.py, test_a_missing_file_fails_at_initialisation)
    assert baseline_recipe("segnext_t", 150, pretrained=str(tmp_path / "missing.pth")).model["init_cfg"]


def test_recipe_is_a_fresh_copy_each_time():
    first = baseline_recipe("seaformer_b", 150)
    first.model["backbone"]["arch"] = "L"
    assert baseline_recipe("seaformer_b", 150).model["backbone"]["arch"] == "B"
    assert isinstance(first, BaselineRecipe)


def test_vit_adapter_l_settings():
    recipe = baseline_recipe("vit_adapter_l", 150)
    wrapper = recipe.optim_wrapper
    assert (wrapper["optimizer"]["type"], wrapper["optimizer"]["lr"],
            wrapper["optimizer"]["weight_decay"]) == ("AdamW", 2e-5, 0.05)
    assert wrapper["constructor"] == "ViTLayerDecayOptimizerConstructor"
    assert wrapper["paramwise_cfg"] == {"num_layers": 24, "decay_rate": 0.95, "no_decay_names": []}
    assert recipe.model["test_cfg"]["mode"] == "slide"
    assert recipe.model["auxiliary_head"]["loss_decode"]["loss_weight"] == pytest.approx(0.4)
    assert recipe.model["decode_head"]["channels"] == 512


def test_vit_adapter_l_decays_pos_embed_and_level_embed_as_the_authors():
    # their constructor's pos_embed exemption never matched (bare vs prefixed names); 1-D
    # parameters and biases are exempt in both
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from torch import nn

    import ssa_bench.models.backbones.layer_decay  # noqa: F401  (registers the constructor)

    wrapper = baseline_recipe("vit_adapter_l", 150).optim_wrapper_for("ade20k")
    assert wrapper["paramwise_cfg"]["no_decay_names"] == []
    model = nn.Module()
    model.backbone = nn.Module()
    model.backbone.pos_embed = nn.Parameter(torch.zeros(1, 4, 4))
    model.backbone.level_embed = nn.Parameter(torch.zeros(3, 4))
    model.backbone.blocks = nn.ModuleList([nn.Linear(4, 4)])
    with DefaultScope.overwrite_default_scope("mmseg"):
        groups = build_optim_wrapper(model, wrapper).optimizer.param_groups
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    b = model.backbone
    assert decay[id(b.pos_embed)] == decay[id(b.level_embed)] == decay[id(b.blocks[0].weight)] == 0.05
    assert decay[id(b.blocks[0].bias)] == 0.0


def test_vit_adapter_l_follows_the_authors_config_of_each_dataset(tmp_path, monkeypatch):
    # SSA-Seg's ViT-Adapter configs: 127.5 normalisation and layer decay 0.95 on ADE20K,
    # ImageNet mean/std and 0.90 on PASCAL-Context and COCO-Stuff
    from ssa_bench.configs import build_mmseg_config

    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))
    recipe = baseline_recipe("vit_adapter_l", 59)
    assert recipe.model_for("ade20k")["data_preprocessor"]["mean"] == [127.5] * 3
    assert recipe.optim_wrapper_for("ade20k")["paramwise_cfg"]["decay_rate"] == 0.95
    for dataset in ("pascal_context59", "coco_stuff10k"):
        assert recipe.model_for(dataset)["data_preprocessor"]["std"] == [58.395, 57.12, 57.375]
        assert recipe.optim_wrapper_for(dataset)["paramwise_cfg"]["decay_rate"] == 0.90
    assert recipe.model["data_preprocessor"]["mean"] == [127.5] * 3      # the recipe is not changed
    config = {"baseline": "vit_adapter_l", "dataset": "pascal_context59", "dataset_def": None,
              "ssa": {"enabled": False}, "cfg": {}, "seed": 0,
              "train": {"max_iters": 10, "batch_size": 16, "crop_size": [480, 480], "val_interval": 5,
                        "checkpoint_interval": 5, "lr": None, "num_workers": 0, "device": "cpu",
                        "pretrained": None},
              "measure": {"input_size": [480, 480], "latency_warmup": 1, "latency_iters": 1, "threads": 1}}
    cfg = build_mmseg_config(config, str(tmp_path / "w"))
    assert list(cfg.model.data_preprocessor.mean) == [123.675, 116.28, 103.53]
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == 0.90


def test_run_recipe_is_the_recipe_on_the_runs_data_set():
    # What the model and schedule sections start from: the run's classes, the data set's lr and
    # overrides already applied, and nothing per data set left to apply twice.
    from ssa_bench.configs.baselines import run_recipe

    run = {"baseline": "seaformer_b", "dataset": "coco_stuff10k", "train": {"pretrained": None}}
    recipe = run_recipe(run)
    assert recipe.optim_wrapper["optimizer"]["lr"] == 2e-4
    assert recipe.model["decode_head"]["num_classes"] == 171
    assert recipe.lr_by_dataset == {} and recipe.overrides_by_dataset == {}
    vit = run_recipe({"baseline": "vit_adapter_l", "dataset": "pascal_context59", "train": {}})
    assert vit.model["data_preprocessor"]["std"] == [58.395, 57.12, 57.375]
    assert vit.optim_wrapper["paramwise_cfg"]["decay_rate"] == 0.90
    inline = run_recipe({"baseline": "fcn_r101", "dataset": "mine", "dataset_def": {"classes": ["a", "b", "c"]}})
    assert inline.model["decode_head"]["num_classes"] == inline.model["auxiliary_head"]["num_classes"] == 3
