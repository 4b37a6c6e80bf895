"""The evaluation protocol of a run, as facts a report can state without importing mmseg.

* Single scale (the paper, Sec. 4.2: "During testing, we use single-scale (SS) test strategies") is
  the default; ``evaluate.aug_test: true`` in a spec tests multi-scale + flip instead, the
  ViT-Adapter authors' protocol (ratios 0.5, 0.75, ..., 1.75 of the test scale, each also flipped,
  softmax scores averaged: mmseg's ``TestTimeAug`` pipeline and ``SegTTAModel``).
* Whole image or sliding window (``evaluate.test_mode``): ``authors`` (the default) tests as the
  SSA authors' released configs do (xwmaxwma/SSA-Seg, ``configs/*/``: ``test_cfg=dict(mode='whole')``
  for every baseline on every data set -- PASCAL-Context included, although mmseg's own
  pascal-context-59 configs slide -- except ViT-Adapter-L, which slides: 512/341 on ADE20K and
  COCO-Stuff, 480/320 on PASCAL-Context). ``slide`` slides every baseline as mmseg's
  pascal-context-59 configs do (window = the run's crop, stride two thirds of it: 480/320 on
  PASCAL-Context); ``whole`` tests every baseline on the whole resized image.

``evaluate`` is part of the resolved run config; a run at the defaults keeps the id it had before
these switches existed (``plan.ID_NEUTRAL_DEFAULTS``), a multi-scale or slide test is a new run.
"""
from __future__ import annotations

SINGLE_SCALE = "single-scale"
MULTI_SCALE_FLIP = "multi-scale+flip"
EVAL_MODES = (SINGLE_SCALE, MULTI_SCALE_FLIP)
EVAL_MODE_TITLES = {SINGLE_SCALE: "single-scale", MULTI_SCALE_FLIP: "multi-scale (0.5-1.75) + flip"}

# mmseg's img_ratios of every shipped tta_pipeline, and the ViT-Adapter authors' img_ratios.
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

TEST_MODES = ("authors", "slide", "whole")
# Baselines whose SSA authors' configs test with a sliding window (on every data set).
AUTHORS_SLIDING_BASELINES = ("vit_adapter_l",)

# Which checkpoint is tested (``evaluate.checkpoint``): ``authors`` (the default) as the SSA
# authors' config for the baseline keeps it (save_best='mIoU' in the ViT-Adapter-L configs: the
# best validation checkpoint; the last one elsewhere; configs/authors_runs.py). The paper does
# not say which checkpoint its numbers are from.
CHECKPOINT_CHOICES = ("authors", "last", "best")
# mmcv 1.x's EvalHook with save_best='mIoU' keeps the best validation checkpoint: set in the
# ViT-Adapter-L configs (e.g. configs/vit-adapter/upernet_augreg_adapter_large_480_80k_pc.py:82);
# the other baselines' runs end with the last one.
AUTHORS_BEST_CHECKPOINT_BASELINES = ("vit_adapter_l",)

EVALUATE_DEFAULTS = {"aug_test": False, "test_mode": "authors", "checkpoint": "authors"}


def evaluate_settings(config: dict) -> dict:
    """The run's `evaluate` block with every default filled in (old run configs have none)."""
    return {**EVALUATE_DEFAULTS, **(config.get("evaluate") or {})}


def checkpoint_choice(config: dict) -> str:
    """'last' or 'best': the checkpoint the evaluate stage tests."""
    choice = evaluate_settings(config)["checkpoint"]
    if choice == "authors":
        return "best" if config.get("baseline") in AUTHORS_BEST_CHECKPOINT_BASELINES else "last"
    return choice


def eval_mode(config: dict) -> str:
    return MULTI_SCALE_FLIP if evaluate_settings(config)["aug_test"] else SINGLE_SCALE


def slides(config: dict) -> bool:
    mode = evaluate_settings(config)["test_mode"]
    if mode == "authors":
        return config.get("baseline") in AUTHORS_SLIDING_BASELINES
    return mode == "slide"


def slide_window(config: dict) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(crop, stride) of the run's sliding-window test, or None for a whole-image test."""
    if not slides(config):
        return None
    height, width = (int(v) for v in config["train"]["crop_size"])
    return (height, width), (height * 2 // 3, width * 2 // 3)


def describe(config: dict) -> str:
    """E.g. "single-scale" or "multi-scale (0.5-1.75) + flip, sliding window 480x480 stride 320"."""
    text = EVAL_MODE_TITLES[eval_mode(config)]
    window = slide_window(config)
    if window:
        (h, w), (sh, sw) = window
        stride = f"{sh}" if sh == sw else f"{sh}x{sw}"
        text += f", sliding window {h}x{w} stride {stride}"
    return text
