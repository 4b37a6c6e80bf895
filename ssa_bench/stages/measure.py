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

import warnings
from typing import Any

from ssa_bench.vocabulary.names import baseline_info, dataset_info
from ssa_bench.configs import build_model_config
from ssa_bench.errors import UserError
from ssa_bench.stages.runner import import_modules, latest_checkpoint
from ssa_bench.store.paths import run_paths_at

# Latency iterations when the caller does not say: the paper's protocol (5 + 200) on a GPU; on
# the CPU a big model takes seconds per forward, so fewer timed forwards by default.
DEFAULT_LATENCY = {"cuda": {"warmup": 5, "iters": 200}, "cpu": {"warmup": 2, "iters": 10}}


def build_segmentor(model_cfg: dict, imports: list[str]):
    """Build an mmseg segmentor from a model config, registering mmseg and ``imports`` first."""
    import_modules(imports, init_default_scope=True)      # patches OpenMMLab before mmseg loads
    from mmseg.registry import MODELS

    with warnings.catch_warnings():
        # mmseg's notes to its own developers (build_loss deprecation, avg_non_ignore default)
        # are noise for someone measuring a model.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mmseg\.")
        return MODELS.build(model_cfg)


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
    segmentor = build_segmentor(*build_model_config(run_config))
    checkpoint = latest_checkpoint(run_paths_at(run_dir).work_dir)
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
                  variant: str = "released", *, warmup: int | None = None,
                  iters: int | None = None, threads: int | None = None,
                  device: str = "auto") -> dict:
    """GFLOPs, params and latency of one model with random weights at ``dataset``'s paper input
    size (512x512 for ADE20K and COCO-Stuff, 480x480 for PASCAL-Context).

    Returns ``{"baseline", "ssa", "variant", "dataset", "input_size", "gflops": {"paper",
    "full"}, "params_m", "latency_ms" (median), "device", "latency": {the full record}}``.
    ``threads`` defaults to all the cores torch sees.
    """
    baseline_info(baseline, key="BASELINE")
    input_size = tuple(dataset_info(dataset, key="--dataset").crop_size)
    run_config = {"baseline": baseline, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings(variant) if ssa else {"enabled": False}}
    import torch

    segmentor = build_segmentor(*build_model_config(run_config))
    result = _measure(segmentor, input_size, warmup=warmup, iters=iters,
                      threads=threads or torch.get_num_threads(), device=device)
    return {"baseline": baseline, "ssa": ssa, "variant": variant if ssa else None,
            "dataset": dataset, "input_size": list(input_size),
            "gflops": {"paper": result["flops"]["paper"], "full": result["flops"]["full"]},
            "params_m": result["params_m"], "latency_ms": result["latency"]["median_ms"],
            "device": result["latency"]["device"], "latency": result["latency"]}
