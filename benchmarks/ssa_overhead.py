"""What SSA costs: inference GFLOPs (two counts), CPU latency and training-step time, SSA vs
the baseline, measured side by side in one process.

    PYTHONPATH=. .venv/bin/python benchmarks/ssa_overhead.py                 # SegNeXt-T, SegFormer-B0
    PYTHONPATH=. .venv/bin/python benchmarks/ssa_overhead.py --models segformer_b0 --variant released

For each model at 512x512 with 150 classes (ADE20K):

1. GFLOPs of the inference graph under both counts of ``ssa_bench.efficiency.flops`` (what
   the measure stage records): ``paper`` (MMCV 1.x module hooks, as the paper counted) and
   ``full`` (traced, matmuls included), baseline and SSA, and SSA's extra next to the analytic
   extra of the ``full`` count: the two class-centre products and the prototype product,
   3*K*H*W*D multiply-adds at the head's resolution, plus the depth-wise PE (9*H*W*D) and
   phi. Target: SSA adds at most 0.1 G under the ``paper`` count (Table 1).
2. CPU inference latency SSA / baseline (batch 1), rounds alternating the two models so that
   the load of a shared machine hits both. Target: at most the ``full`` FLOPs ratio + 0.01.
3. Training-step time SSA-with-teacher / baseline (forward, losses, backward, AdamW step;
   batch 2, train mode, alternating rounds). Target: at most 1.15 (the paper reports 1.1).

Ratios are printed, not asserted; the exit status is 0 whatever they are.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings

NUM_CLASSES = 150
SIZE = (512, 512)
MMSEG_CONFIGS = {
    "segformer_b0": "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
}


def model_cfg(name: str) -> dict:
    """The model config of a catalog baseline, or of SegFormer-B0 from mmseg's shipped config
    (not a catalog baseline: the paper has no B0 row, but it is the usual lightweight
    reference)."""
    if name in MMSEG_CONFIGS:
        import os

        from mmengine.config import Config

        from ssa_bench.configs.baselines import mmseg_config_dir

        cfg = Config.fromfile(os.path.join(mmseg_config_dir(), MMSEG_CONFIGS[name]))
        model = copy.deepcopy(cfg.model.to_dict())
        model["pretrained"] = None
        model["backbone"].pop("init_cfg", None)
        model["decode_head"]["num_classes"] = NUM_CLASSES
        return model
    from ssa_bench.configs.baselines import baseline_recipe

    return baseline_recipe(name, NUM_CLASSES).model


def build(name: str, ssa: dict | None):
    from mmengine.config import ConfigDict
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS

    from ssa_bench.configs.classifier_wiring import apply_ssa

    cfg = model_cfg(name)
    if ssa is not None:
        apply_ssa(cfg, ssa)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = revert_sync_batchnorm(MODELS.build(ConfigDict(cfg)))
    return model


def head_geometry(model, size) -> tuple[int, int, int, int]:
    """(K, D, h, w) of the classifier's input at ``size``, read from one forward."""
    import torch

    from ssa_bench.models.ssa.analysis import find_ssa_head

    head = find_ssa_head(model)
    with torch.no_grad(), head.recording() as record:
        model.eval()
        model._forward(torch.randn(1, 3, *size))
    _, d, h, w = record["features"].shape
    return head.head.num_classes, d, h, w


def analytic_extra_gflops(model, size, settings) -> float:
    k, d, h, w = head_geometry(model, size)
    n = h * w
    products = (int(settings["sepa"]) + int(settings["sppa"]) + 1) * k * n * d
    dwconv = 9 * n * d if settings["sppa"] and settings["pe"] == "cpvt" else 0
    hidden = d // 2
    phi_one = k * (2 * d * d if settings["phi"] == "linear" else 2 * d * hidden + hidden * d)
    phi = phi_one * (int(settings["sepa"]) + int(settings["sppa"]))
    proj = k * d * d if settings["proto_proj"] else 0
    return (products + dwconv + phi + proj) / 1e9


def flops_part(names, settings) -> dict:
    from ssa_bench.efficiency.flops import count_flops
    from ssa_bench.efficiency.inference import InferenceGraph, prepare_for_inference

    print(f"1. Inference GFLOPs at {SIZE[0]}x{SIZE[1]}, {NUM_CLASSES} classes "
          f"(paper = module hooks as the paper counted, full = traced incl. matmuls)")
    head = (f"{'model':<14} {'base paper':>10} {'SSA paper':>10} {'+paper':>8} | {'base full':>10} "
            f"{'SSA full':>10} {'+full':>8} {'analytic':>9} | {'full ratio':>10}")
    print(head + "\n" + "-" * len(head))
    ratios = {}
    for name in names:
        base = prepare_for_inference(build(name, None))
        ssa = prepare_for_inference(build(name, settings))
        fb = count_flops(InferenceGraph(base, SIZE).eval(), SIZE)
        fs = count_flops(InferenceGraph(ssa, SIZE).eval(), SIZE)
        extra = analytic_extra_gflops(ssa, SIZE, settings)
        ratios[name] = fs["full"] / fb["full"]
        flag = "" if fs["paper"] - fb["paper"] <= 0.1 + 1e-9 else "  <-- over +0.1 G"
        print(f"{name:<14} {fb['paper']:>10.3f} {fs['paper']:>10.3f} "
              f"{fs['paper'] - fb['paper']:>+8.3f} | {fb['full']:>10.3f} {fs['full']:>10.3f} "
              f"{fs['full'] - fb['full']:>+8.3f} {extra:>+9.3f} | {ratios[name]:>10.3f}{flag}",
              flush=True)
    return ratios


def _time_forward(model, image, iters: int) -> float:
    import torch

    with torch.no_grad():
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency_part(names, settings, flops_ratios, rounds: int, iters: int, threads: int) -> None:
    import torch

    from ssa_bench.efficiency.inference import InferenceGraph, prepare_for_inference

    torch.set_num_threads(threads)
    print(f"\n2. CPU inference latency, batch 1, {threads} threads, {rounds} alternating rounds "
          f"x {iters} forwards (target: ratio <= full FLOPs ratio + 0.01)")
    head = f"{'model':<14} {'base ms':>9} {'SSA ms':>9} {'ratio':>7} {'range':>13} {'target':>7}"
    print(head + "\n" + "-" * len(head))
    for name in names:
        base = InferenceGraph(prepare_for_inference(build(name, None)), SIZE).eval()
        ssa = InferenceGraph(prepare_for_inference(build(name, settings)), SIZE).eval()
        image = torch.randn(1, 3, *SIZE)
        for model in (base, ssa):
            _time_forward(model, image, 2)
        base_s, ssa_s, ratios = [], [], []
        for _ in range(rounds):
            b = _time_forward(base, image, iters)
            s = _time_forward(ssa, image, iters)
            base_s.append(b)
            ssa_s.append(s)
            ratios.append(s / b)
        ratio = statistics.median(ratios)
        target = flops_ratios[name] + 0.01 if name in flops_ratios else float("nan")
        flag = "" if ratio <= target or target != target else "  <-- over target"
        print(f"{name:<14} {1000 * statistics.median(base_s):>9.1f} "
              f"{1000 * statistics.median(ssa_s):>9.1f} {ratio:>7.3f} "
              f"{min(ratios):>6.3f}-{max(ratios):<6.3f} {target:>7.3f}{flag}", flush=True)


def _train_step(model, optimizer, image, samples) -> None:
    optimizer.zero_grad(set_to_none=True)
    losses = model.loss(image, samples)
    total = sum(value for key, value in losses.items() if "loss" in key)
    total.backward()
    optimizer.step()


def _samples(batch: int, size, generator):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    samples = []
    for _ in range(batch):
        # Blocky labels (like real masks, unlike noise): 32x32 cells of random classes.
        cells = torch.randint(0, NUM_CLASSES, (1, size[0] // 32, size[1] // 32),
                              generator=generator)
        label = cells.repeat_interleave(32, 1).repeat_interleave(32, 2)
        label[:, :8] = 255
        sample = SegDataSample(gt_sem_seg=PixelData(data=label))
        sample.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
        samples.append(sample)
    return samples


def train_part(names, settings, rounds: int, threads: int, batch: int) -> None:
    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    print(f"\n3. Training step (forward + losses + backward + AdamW), batch {batch} at "
          f"{SIZE[0]}x{SIZE[1]}, {threads} threads, {rounds} rounds of one step each, the order "
          f"alternating (target: ratio <= 1.15; 'arith.' = the ratio of training multiply-adds, "
          f"1 + (extra inference FLOPs + the teacher's prototype product) / baseline FLOPs)")
    head = f"{'model':<14} {'base s':>8} {'SSA s':>8} {'ratio':>7} {'range':>13} {'arith.':>7}"
    print(head + "\n" + "-" * len(head))
    image = torch.randn(batch, 3, *SIZE, generator=generator)
    samples = _samples(batch, SIZE, generator)
    for name in names:
        models = {}
        for key, ssa in (("base", None), ("ssa", settings)):
            model = build(name, ssa).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
            _train_step(model, optimizer, image, samples)   # warm-up (allocations)
            models[key] = (model, optimizer)
        arith = _training_arithmetic_ratio(name, models["ssa"][0], settings)
        times = {"base": [], "ssa": []}
        ratios = []
        for index in range(rounds):
            # Consecutive steps of the two models see about the same machine load; the ratio
            # of each such pair is what is summarised.
            for key in (("base", "ssa") if index % 2 == 0 else ("ssa", "base")):
                model, optimizer = models[key]
                start = time.perf_counter()
                _train_step(model, optimizer, image, samples)
                times[key].append(time.perf_counter() - start)
            ratios.append(times["ssa"][-1] / times["base"][-1])
        ratio = statistics.median(ratios)
        flag = "" if ratio <= 1.15 else "  <-- over 1.15"
        print(f"{name:<14} {statistics.median(times['base']):>8.2f} "
              f"{statistics.median(times['ssa']):>8.2f} {ratio:>7.3f} "
              f"{min(ratios):>6.3f}-{max(ratios):<6.3f} {arith:>7.3f}{flag}", flush=True)


def _training_arithmetic_ratio(name, ssa_model, settings) -> float:
    """Training multiply-adds SSA / baseline, counting a backward as twice its forward: the
    baseline's traced inference FLOPs, SSA's extra, and the teacher's prototype product
    K*h*w*D (its class means are a scatter, O(h*w*D))."""
    from ssa_bench.efficiency.flops import full_flops
    from ssa_bench.efficiency.inference import InferenceGraph, prepare_for_inference

    import torch

    image = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        base = full_flops(InferenceGraph(prepare_for_inference(build(name, None)), SIZE).eval(),
                          image)
    extra = analytic_extra_gflops(ssa_model, SIZE, settings)
    k, d, h, w = head_geometry(ssa_model, SIZE)
    ssa_model.train()
    teacher = k * h * w * d / 1e9 if resolve(settings).teacher_enabled else 0.0
    return 1 + (extra + teacher) / base


def resolve(settings):
    from ssa_bench.models.ssa import resolve_settings

    return resolve_settings(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["segnext_t", "segformer_b0"])
    parser.add_argument("--variant", default="released", choices=["paper", "released"])
    parser.add_argument("--parts", nargs="*", default=["flops", "latency", "train"],
                        choices=["flops", "latency", "train"])
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds")
    parser.add_argument("--iters", type=int, default=5, help="timed forwards per latency round")
    parser.add_argument("--train-rounds", type=int, default=10,
                        help="training rounds (one step of each model per round)")
    parser.add_argument("--batch", type=int, default=2, help="training batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: SegFormer-B0, one round of everything (the numbers mean little)")
    args = parser.parse_args(argv)
    if args.quick:
        args.models = ["segformer_b0"]
        args.rounds = args.iters = args.train_rounds = args.batch = args.threads = 1
    if min(args.rounds, args.iters, args.train_rounds, args.batch, args.threads) < 1:
        parser.error("--rounds, --iters, --train-rounds, --batch and --threads must be >= 1")

    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import torch
    from mmseg.utils import register_all_modules

    from ssa_bench.models.ssa import resolve_settings

    warnings.filterwarnings("ignore")
    register_all_modules(init_default_scope=True)
    settings = resolve_settings({"enabled": True, "variant": args.variant}).to_dict()
    print(f"SSA variant '{args.variant}'; torch {torch.__version__}; "
          f"FLOPs counted by ssa_bench.efficiency.flops (the measure stage's counters)\n")
    ratios = flops_part(args.models, settings) if "flops" in args.parts else {}
    if "latency" in args.parts:
        latency_part(args.models, settings, ratios, args.rounds, args.iters, args.threads)
    if "train" in args.parts:
        train_part(args.models, settings, args.train_rounds, args.threads, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
