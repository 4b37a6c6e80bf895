"""The facts of a composed mmseg 1.x config in the vocabulary of the authors' fixture
(tests/fixtures/authors_configs/facts.json, made from the SSA authors' mmseg 0.x configs).

Config composition only: nothing here builds a model or imports torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "authors_configs" / "facts.json"

# What the authors' (mmseg 0.x / their repositories) type names are called in this suite.
PORTED_AS = {
    "CLS": "AFFormerHead", "LightHead": "SeaFormerHead", "afformer_base": "AFFormer",
    "LayerDecayOptimizerConstructor": "ViTLayerDecayOptimizerConstructor",
}
# mmseg 0.x train-pipeline steps -> the mmseg 1.x step doing the same (None: done by the data
# preprocessor, which normalises and pads to the crop).
STEP_AS = {"Resize": "RandomResize", "Normalize": None, "Pad": None, "DefaultFormatBundle": None,
           "Collect": "PackSegInputs"}


def load_fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def authors_steps(steps: list[str]) -> list[str]:
    return [STEP_AS.get(s, s) for s in steps if STEP_AS.get(s, s) is not None]


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return value


def _step(pipeline, kind):
    return next((step for step in pipeline if step["type"] == kind), None)


def _heads(model) -> tuple[list, dict | None]:
    """(decode and auxiliary heads in the authors' order, SSA settings or None)."""
    heads = model["decode_head"]
    heads = list(heads) if isinstance(heads, list) else [heads]
    ssa = None
    if heads[-1]["type"] == "SSAHead":
        ssa = heads[-1]["ssa"]
        heads[-1] = heads[-1]["head"]
    if model.get("auxiliary_head"):
        heads.append(model["auxiliary_head"])
    return heads, ssa


def _loss_weight(head):
    loss = head["loss_decode"]
    return (loss[0] if isinstance(loss, list) else loss)["loss_weight"]


def our_facts(cfg, run_config: dict) -> dict:
    """The fixture's facts of one composed config (``build_mmseg_config``)."""
    opt = cfg["optim_wrapper"]["optimizer"]
    paramwise = cfg["optim_wrapper"].get("paramwise_cfg") or {}
    constructor = cfg["optim_wrapper"].get("constructor")
    schedulers = list(cfg["param_scheduler"])
    warmups = [s for s in schedulers if s["type"] == "LinearLR"]
    poly = schedulers[-1]
    train_pipe = cfg["train_dataloader"]["dataset"]["pipeline"]
    test_pipe = cfg["test_dataloader"]["dataset"]["pipeline"]
    preproc = cfg["model"]["data_preprocessor"]
    heads, ssa = _heads(cfg["model"])
    backbone = cfg["model"]["backbone"]
    resize, crop, flip = _step(train_pipe, "RandomResize"), _step(train_pipe, "RandomCrop"), _step(train_pipe, "RandomFlip")
    test_resize, multiple = _step(test_pipe, "Resize"), _step(test_pipe, "ResizeToMultiple")
    test_cfg = cfg["model"]["test_cfg"]
    checkpoint_hook = cfg["default_hooks"]["checkpoint"]
    init = cfg["model"].get("init_cfg") or {}
    facts = {
        "optimizer.type": opt["type"],
        "optimizer.lr": opt["lr"],
        "optimizer.weight_decay": opt["weight_decay"],
        "optimizer.betas": _plain(opt.get("betas")),
        "optimizer.momentum": opt.get("momentum"),
        "optimizer.custom_keys": _plain(paramwise.get("custom_keys")),
        "optimizer.constructor": constructor,
        "optimizer.layer_decay_rate": paramwise.get("decay_rate"),
        "optimizer.layer_decay_num_layers": paramwise.get("num_layers"),
        "schedule.max_iters": cfg["train_cfg"]["max_iters"],
        "schedule.policy": "poly" if poly["type"] == "PolyLR" else poly["type"],
        "schedule.warmup": "linear" if warmups else None,
        # an mmengine scheduler reaches its end value at step end - 1 (mmcv: at warmup_iters, max_iters)
        "schedule.warmup_iters": warmups[0]["end"] - 1 if warmups else None,
        "schedule.warmup_ratio": warmups[0]["start_factor"] if warmups else None,
        "schedule.poly_power": poly["power"],
        "schedule.poly_min_lr": poly["eta_min"],
        "schedule.poly_span": [poly.get("begin", 0), poly["end"] - 1],
        "batch.samples_per_gpu": cfg["train_dataloader"]["batch_size"],
        "batch.gpus": run_config["train"]["batch_size"] // cfg["train_dataloader"]["batch_size"],
        "train.steps": [s["type"] for s in train_pipe],
        "train.resize_scale": _plain(resize["scale"]),
        "train.ratio_range": _plain(resize["ratio_range"]),
        "train.crop_size": _plain(crop["crop_size"]),
        "train.cat_max_ratio": crop["cat_max_ratio"],
        "train.flip_prob": flip["prob"],
        "train.pad_size": _plain(preproc["size"]),
        "norm.mean": _plain(preproc["mean"]),
        "norm.std": _plain(preproc["std"]),
        "norm.to_rgb": preproc["bgr_to_rgb"],
        "test.resize_scale": _plain(test_resize["scale"]),
        "test.flip": _step(test_pipe, "RandomFlip") is not None,
        "test.img_ratios": None if not cfg.get("tta_model") else "multi-scale",
        "test.keep_ratio": test_resize["keep_ratio"],
        "test.size_divisor": multiple["size_divisor"] if multiple else None,
        "test.mode": test_cfg["mode"],
        "test.crop_size": _plain(test_cfg.get("crop_size")),
        "test.stride": _plain(test_cfg.get("stride")),
        "model.head_types": [h["type"] for h in heads],
        "model.num_classes": [h["num_classes"] for h in heads],
        "model.head_channels": [h["channels"] for h in heads],
        "model.head_norms": [(h.get("norm_cfg") or {}).get("type") for h in heads],
        "model.head_loss_weights": [_loss_weight(h) for h in heads],
        "model.head_dropout": [h["dropout_ratio"] for h in heads],
        "model.backbone_type": backbone["type"],
        "model.backbone_norm": (backbone.get("norm_cfg") or {}).get("type"),
        "model.backbone_drop_path_rate": backbone.get("drop_path_rate"),
        "model.pretrained": os.path.basename(init["checkpoint"]) if init.get("checkpoint") else None,
        "eval.interval": cfg["train_cfg"]["val_interval"],
        "eval.metric": cfg["val_evaluator"]["iou_metrics"][0],
        "eval.save_best": checkpoint_hook.get("save_best"),
        "checkpoint.interval": checkpoint_hook["interval"],
    }
    if ssa is not None:
        facts.update({
            "ssa.head_type": "SSAHead",
            "ssa.logit_scale": ssa["logit_scale"] if ssa["logits"] == "cosine" else None,
            "ssa.sd_scale": ssa["sd_scale"] if ssa["sd_relation"] == "cosine" else None,
            "ssa.w_sd": ssa["w_sd"], "ssa.w_pd": ssa["w_pd"], "ssa.rd_onehot_mix": ssa["rd_onehot_mix"],
            "ssa.edge_size": ssa["edge_size"], "ssa.edge_border": ssa["edge_border"],
            "ssa.boundary_operator": ssa["boundary_operator"], "ssa.w_coarse": ssa["w_coarse"],
        })
    return facts


def authors_facts(run: dict) -> dict:
    """The fixture's values in this suite's names (ported type names, mmseg 1.x steps)."""
    facts = {name: fact["value"] for name, fact in run["facts"].items()}
    facts["train.steps"] = authors_steps(facts["train.steps"])
    facts["optimizer.constructor"] = PORTED_AS.get(facts["optimizer.constructor"], facts["optimizer.constructor"])
    facts["model.backbone_type"] = PORTED_AS.get(facts["model.backbone_type"], facts["model.backbone_type"])
    types = [PORTED_AS.get(t, t) for t in facts["model.head_types"]]
    if run["ssa"]:
        # the authors' `<Head>_ssa` is the head wrapped in SSAHead here; its settings are the ssa.* facts
        types = [t.removesuffix("_ssa") for t in types]
        types = [PORTED_AS.get(t, t) for t in types]
        facts["ssa.head_type"] = "SSAHead"
    facts["model.head_types"] = types
    return facts
