"""The ``measure`` stage: GFLOPs (two counts), params and latency of a run's inference graph.

``measure_stage(run_config, run_dir)`` is what the worker calls for every run; its dict is the
``flops``/``params_m``/``latency`` part of the result record (docs/ARCHITECTURE.md).
``measure_model(baseline, ssa, dataset, variant)`` is the same measurement for one model named on
the command line (``ssa-bench measure``), always with random weights.

What is measured is ``ssa_bench.efficiency.inference.InferenceGraph``: backbone + decode head(s)
+ the final resize, in eval mode; auxiliary heads and SSA's ``teacher_*`` branch are excluded
from FLOPs (never run) and from params (filtered by name). Weights do not change FLOPs or
latency, so a run without a checkpoint is measured with random initialisation.
"""
from __future__ import annotations

import glob
import os
import warnings
from typing import Any

from ssa_bench.errors import UserError

# Latency iterations when the caller does not say: the paper's protocol (5 + 200) on a GPU; on
# the CPU a big model takes seconds per forward, so fewer timed forwards by default.
DEFAULT_LATENCY = {"cuda": {"warmup": 5, "iters": 200}, "cpu": {"warmup": 2, "iters": 10}}


def _num_classes(run_config: dict) -> int:
    from ssa_bench.catalog import DATASETS

    definition = run_config.get("dataset_def")
    if definition:
        return len(definition["classes"])
    dataset = run_config["dataset"]
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}'", key="dataset",
                        fix=f"use one of: {', '.join(DATASETS)} or define it inline in the spec")
    return DATASETS[dataset].num_classes


def model_cfg_from_recipe(run_config: dict) -> tuple[dict, list[str]]:
    """Model config straight from the baseline recipe (+ SSA): what the composer would build,
    minus data and schedule, which measuring does not need."""
    from ssa_bench.configs.baselines import baseline_recipe
    from ssa_bench.configs.classifier import apply_ssa

    recipe = baseline_recipe(run_config["baseline"], _num_classes(run_config))
    model_cfg = recipe.model
    ssa = run_config.get("ssa") or {}
    imports = list(recipe.imports)
    if ssa.get("enabled"):
        apply_ssa(model_cfg, ssa)
        imports.append("ssa_bench.models.ssa")
    # The run's raw overrides of the model (``cfg: {"model.decode_head.channels": 256}``) change
    # what is measured; the other keys (data, schedule) do not.
    model_overrides = {key[len("model."):]: value for key, value in
                       (run_config.get("cfg") or {}).items() if key.startswith("model.")}
    if model_overrides:
        from mmengine.config import Config

        merged = Config(dict(model=model_cfg))
        merged.merge_from_dict({f"model.{key}": value for key, value in model_overrides.items()})
        model_cfg = merged.model.to_dict()
    return model_cfg, imports


def _model_cfg(run_config: dict, work_dir: str) -> tuple[dict, list[str]]:
    """The run's model config: the composed mmseg config when the composer is there."""
    try:
        from ssa_bench.configs import build_mmseg_config
    except ImportError:
        return model_cfg_from_recipe(run_config)
    cfg = build_mmseg_config(run_config, work_dir)
    imports = list((cfg.get("custom_imports") or {}).get("imports", []))
    return cfg.model.to_dict(), imports


def build_segmentor(model_cfg: dict, imports: list[str]):
    """Build an mmseg segmentor from a model config, registering mmseg and ``imports`` first."""
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import importlib

    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    for module in imports:
        importlib.import_module(module)
    with warnings.catch_warnings():
        # mmseg's notes to its own developers (build_loss deprecation, avg_non_ignore default)
        # are noise for someone measuring a model.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mmseg\.")
        return MODELS.build(model_cfg)


def find_checkpoint(work_dir: str) -> str | None:
    """The checkpoint mmengine wrote last in ``work_dir`` (its ``last_checkpoint`` pointer, else
    the newest ``*.pth``), or None."""
    pointer = os.path.join(work_dir, "last_checkpoint")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as handle:
            path = handle.read().strip()
        if path and not os.path.isabs(path):
            path = os.path.join(work_dir, path)
        if os.path.isfile(path):
            return path
    candidates = glob.glob(os.path.join(work_dir, "*.pth"))
    return max(candidates, key=os.path.getmtime) if candidates else None


def _measure(segmentor, input_size: tuple[int, int], *, warmup: int | None, iters: int | None,
             threads: int, device: str) -> dict:
    from ssa_bench.efficiency.flops import count_flops
    from ssa_bench.efficiency.inference import (InferenceGraph, inference_params,
                                                prepare_for_inference)
    from ssa_bench.efficiency.latency import measure_latency, resolve_device

    segmentor = prepare_for_inference(segmentor)
    params_m = round(inference_params(segmentor) / 1e6, 4)
    graph = InferenceGraph(segmentor, input_size).eval()
    flops = count_flops(graph, input_size)            # on the CPU, before moving anything
    device = resolve_device(device)
    defaults = DEFAULT_LATENCY[device]
    latency = measure_latency(graph, input_size,
                              warmup=defaults["warmup"] if warmup is None else warmup,
                              iters=defaults["iters"] if iters is None else iters,
                              threads=threads, device=device)
    return {"flops": flops, "params_m": params_m, "latency": latency}


def measure_stage(run_config: dict, run_dir: str) -> dict:
    """``{"flops": {...}, "params_m": float, "latency": {...}}`` for one run (see module doc)."""
    work_dir = os.path.join(run_dir, "work_dir")
    model_cfg, imports = _model_cfg(run_config, work_dir)
    segmentor = build_segmentor(model_cfg, imports)
    checkpoint = find_checkpoint(work_dir) if os.path.isdir(work_dir) else None
    if checkpoint:
        from mmengine.runner import load_checkpoint

        load_checkpoint(segmentor, checkpoint, map_location="cpu", logger="silent")
    measure = run_config.get("measure") or {}
    input_size = tuple(measure.get("input_size") or run_config["train"]["crop_size"])
    return _measure(segmentor, input_size,
                    warmup=measure.get("latency_warmup"), iters=measure.get("latency_iters"),
                    threads=int(measure.get("threads") or 1),
                    device=(run_config.get("train") or {}).get("device", "auto"))


def resolved_ssa_settings(variant: str) -> dict[str, Any]:
    """SSA switched on with the preset ``variant`` (the spec loader's defaults for the rest)."""
    from ssa_bench.classifier_settings.ssa import SSASettings, SSASettingsError

    try:
        settings = SSASettings.from_spec({"enabled": True, "variant": variant})
    except SSASettingsError as error:
        raise UserError(error.message, key="--variant", fix=error.fix) from error
    # The preset's values are filled in by apply_ssa from ``variant``.
    return settings.to_dict()


def measure_model(baseline: str, ssa: bool = False, dataset: str = "ade20k",
                  variant: str = "paper", *, warmup: int | None = None,
                  iters: int | None = None, threads: int | None = None,
                  device: str = "auto") -> dict:
    """GFLOPs, params and latency of one model with random weights at ``dataset``'s paper input
    size (512x512 for ADE20K and COCO-Stuff, 480x480 for PASCAL-Context).

    Returns ``{"baseline", "ssa", "variant", "dataset", "input_size", "gflops": {"paper",
    "full"}, "params_m", "latency_ms" (median), "device", "latency": {the full record}}``.
    ``threads`` defaults to all the cores torch sees.
    """
    import torch

    from ssa_bench.catalog import BASELINES, DATASETS

    if baseline not in BASELINES:
        raise UserError(f"unknown baseline '{baseline}'", key="BASELINE",
                        fix=f"use one of: {', '.join(BASELINES)}")
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}'", key="--dataset",
                        fix=f"use one of: {', '.join(DATASETS)}")
    input_size = tuple(DATASETS[dataset].crop_size)
    run_config = {"baseline": baseline, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings(variant) if ssa else {"enabled": False}}
    model_cfg, imports = model_cfg_from_recipe(run_config)
    segmentor = build_segmentor(model_cfg, imports)
    result = _measure(segmentor, input_size, warmup=warmup, iters=iters,
                      threads=threads or torch.get_num_threads(), device=device)
    return {"baseline": baseline, "ssa": ssa, "variant": variant if ssa else None,
            "dataset": dataset, "input_size": list(input_size),
            "gflops": {"paper": result["flops"]["paper"], "full": result["flops"]["full"]},
            "params_m": result["params_m"], "latency_ms": result["latency"]["median_ms"],
            "device": result["latency"]["device"], "latency": result["latency"]}
