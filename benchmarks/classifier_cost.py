"""What each pixel classifier costs, side by side in one process: inference GFLOPs under both
counts, CPU latency and training-step time, each against the plain 1x1 classifier of the same
baseline (issue 16; Table 2's GFLOPs column).

    PYTHONPATH=. .venv/bin/python benchmarks/classifier_cost.py                  # SegNeXt-T
    PYTHONPATH=. .venv/bin/python benchmarks/classifier_cost.py --models seaformer_b \
        --classifiers plain ssa cac

For each model at 512x512 with 150 classes (ADE20K) and each classifier:

* GFLOPs of the inference graph (``paper`` = MMCV 1.x module hooks, as the paper counted;
  ``full`` = traced, matmuls included). Training-only parts (teachers, memory banks, EM state)
  are not in the inference graph, so they are not counted.
* CPU inference latency / plain (batch 1, rounds alternating the models so that the load of a
  shared machine hits all of them).
* Training-step time / plain (forward, losses, backward, AdamW step; batch 2, alternating).

Ratios are printed, not asserted; the exit status is 0 whatever they are.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from benchmarks.ssa_overhead import NUM_CLASSES, SIZE, _samples, _time_forward, _train_step, model_cfg

CLASSIFIERS = ("plain", "ssa", "cac", "protoseg", "dnc", "gmmseg")


def build(name: str, classifier: str):
    from mmengine.config import ConfigDict
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS

    from ssa_bench.configs.classifier_wiring import apply_classifier

    cfg = model_cfg(name)
    if classifier != "plain":
        apply_classifier(cfg, {"type": classifier})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return revert_sync_batchnorm(MODELS.build(ConfigDict(cfg)))


def measure(name: str, classifiers, rounds: int, iters: int, train_rounds: int, batch: int) -> None:
    import torch

    from ssa_bench.efficiency.flops import count_flops
    from ssa_bench.efficiency.inference import InferenceGraph, inference_params, prepare_for_inference

    print(f"\n{name} at {SIZE[0]}x{SIZE[1]}, {NUM_CLASSES} classes")
    graphs, flops, params = {}, {}, {}
    for kind in classifiers:
        model = prepare_for_inference(build(name, kind))
        graphs[kind] = InferenceGraph(model, SIZE).eval()
        flops[kind] = count_flops(graphs[kind], SIZE)
        params[kind] = inference_params(model) / 1e6
    image = torch.randn(1, 3, *SIZE)
    for graph in graphs.values():
        _time_forward(graph, image, 1)
    latency = {kind: [] for kind in classifiers}
    for index in range(rounds):
        order = list(classifiers) if index % 2 == 0 else list(reversed(classifiers))
        for kind in order:
            latency[kind].append(_time_forward(graphs[kind], image, iters))
    generator = torch.Generator().manual_seed(0)
    batch_images = torch.randn(batch, 3, *SIZE, generator=generator)
    samples = _samples(batch, SIZE, generator)
    training = {}
    for kind in classifiers:
        model = build(name, kind).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        _train_step(model, optimizer, batch_images, samples)       # warm-up (allocations)
        training[kind] = (model, optimizer, [])
    for index in range(train_rounds):
        order = list(classifiers) if index % 2 == 0 else list(reversed(classifiers))
        for kind in order:
            model, optimizer, times = training[kind]
            start = time.perf_counter()
            _train_step(model, optimizer, batch_images, samples)
            times.append(time.perf_counter() - start)
    base_latency = statistics.median(latency["plain"])
    base_step = statistics.median(training["plain"][2])
    head = (f"{'classifier':<10} {'GFLOPs paper':>12} {'GFLOPs full':>11} {'params M':>9} "
            f"{'latency ms':>10} {'ratio':>6} {'step s':>7} {'ratio':>6}")
    print(head + "\n" + "-" * len(head))
    for kind in classifiers:
        lat = statistics.median(latency[kind])
        step = statistics.median(training[kind][2])
        print(f"{kind:<10} {flops[kind]['paper']:>12.3f} {flops[kind]['full']:>11.3f} "
              f"{params[kind]:>9.3f} {1000 * lat:>10.1f} {lat / base_latency:>6.3f} "
              f"{step:>7.2f} {step / base_step:>6.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["segnext_t"])
    parser.add_argument("--classifiers", nargs="*", default=list(CLASSIFIERS), choices=CLASSIFIERS)
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds")
    parser.add_argument("--iters", type=int, default=3, help="timed forwards per latency round")
    parser.add_argument("--train-rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: SeaFormer-B, plain vs SSA, one round of everything (the numbers mean little)")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.classifiers = ["seaformer_b"], ["plain", "ssa"]
        args.rounds = args.iters = args.train_rounds = args.batch = args.threads = 1
    if min(args.rounds, args.iters, args.train_rounds, args.batch, args.threads) < 1:
        parser.error("--rounds, --iters, --train-rounds, --batch and --threads must be >= 1")
    classifiers = ["plain"] + [kind for kind in args.classifiers if kind != "plain"]

    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import torch
    from mmseg.utils import register_all_modules

    import ssa_bench.models.backbones  # noqa: F401  (registers the ported backbones: SeaFormer, AFFormer, ...)
    import ssa_bench.models.classifiers  # noqa: F401  (registers ClassifierHead and the zoo)
    import ssa_bench.models.ssa  # noqa: F401  (registers SSAHead)

    warnings.filterwarnings("ignore")
    register_all_modules(init_default_scope=True)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; ratios against 'plain' (the "
          f"baseline's own 1x1 classifier); FLOPs by ssa_bench.efficiency.flops")
    for name in args.models:
        measure(name, classifiers, args.rounds, args.iters, args.train_rounds, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
