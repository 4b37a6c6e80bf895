"""GFLOPs of every baseline against the SSA paper, both counts, and SSA's CPU latency overhead.

    PYTHONPATH=. .venv/bin/python benchmarks/flops_vs_paper.py            # everything (~10 min)
    PYTHONPATH=. .venv/bin/python benchmarks/flops_vs_paper.py --datasets ade20k --lightweight

Part 1, for each baseline of Table 1 (and FCN-R101, Swin-B of Table 2) on each dataset at its
paper input size (512x512 ADE20K/COCO-Stuff, 480x480 PASCAL-Context): our GFLOPs by the
``paper`` count (MMCV 1.x module hooks) and the ``full`` count (traced, with matmuls), each as a
ratio to the paper's number; then SSA's extra GFLOPs under both counts next to the paper's delta.
Target: every ``paper`` ratio within 1 +- 0.05 (exit status 1 otherwise).

Part 2, for each lightweight model: CPU latency of SSA / baseline, measured side by side in one
process -- rounds alternate baseline and SSA so that the load of a shared machine hits both.

SSA columns need ``ssa_bench.models.ssa``; without it they are skipped with a message.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from ssa_bench.vocabulary.names import BASELINES
from ssa_bench.report import load_paper_numbers

# The paper's GFLOPs: ssa_bench/vocabulary/paper_numbers.yaml (Tables 1-2 as transcribed).
PAPER_BASELINES = [name for name in BASELINES if load_paper_numbers().gflops(name, "ade20k")]
LIGHTWEIGHT = [name for name in PAPER_BASELINES if BASELINES[name].family == "lightweight"]
TOLERANCE = 0.05


def ssa_available() -> tuple[bool, str]:
    try:
        from ssa_bench.configs.classifier_wiring import apply_ssa  # noqa: F401
    except ImportError as error:
        return False, str(error)
    return True, ""


def build_graph(baseline: str, dataset: str, ssa: bool):
    from ssa_bench.vocabulary.names import DATASETS
    from ssa_bench.efficiency.inference import InferenceGraph, prepare_for_inference
    from ssa_bench.configs import build_model_config
    from ssa_bench.stages.measure import build_segmentor, resolved_ssa_settings

    run_config = {"baseline": baseline, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings("paper") if ssa else {"enabled": False}}
    segmentor = prepare_for_inference(build_segmentor(*build_model_config(run_config)))
    size = tuple(DATASETS[dataset].crop_size)
    return InferenceGraph(segmentor, size).eval(), size


def flops_rows(baselines: list[str], datasets: list[str], with_ssa: bool) -> list[dict]:
    from ssa_bench.efficiency.flops import count_flops

    paper = load_paper_numbers()
    rows = []
    for baseline in baselines:
        for dataset in datasets:
            numbers = paper.gflops(baseline, dataset)
            if numbers is None:
                continue
            paper_base, paper_ssa = numbers
            start = time.perf_counter()
            graph, size = build_graph(baseline, dataset, ssa=False)
            ours = count_flops(graph, size)
            row = {"baseline": baseline, "dataset": dataset, "paper": paper_base,
                   "ours_paper": ours["paper"], "ours_full": ours["full"],
                   "paper_delta": paper_ssa - paper_base}
            del graph
            if with_ssa:
                graph, _ = build_graph(baseline, dataset, ssa=True)
                ours_ssa = count_flops(graph, size)
                row["ssa_delta_paper"] = ours_ssa["paper"] - ours["paper"]
                row["ssa_delta_full"] = ours_ssa["full"] - ours["full"]
                del graph
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print_flops_row(row, with_ssa)
    return rows


def print_flops_header(with_ssa: bool) -> None:
    head = (f"{'baseline':<15} {'dataset':<17} {'paper G':>8} {'ours(paper)':>11} {'ratio':>6} "
            f"{'ours(full)':>10} {'ratio':>6}")
    if with_ssa:
        head += f" | {'SSA +G paper':>12} {'+G full':>8} {'paper +G':>8}"
    print(head)
    print("-" * len(head))


def print_flops_row(row: dict, with_ssa: bool) -> None:
    ratio = row["ours_paper"] / row["paper"]
    flag = "" if abs(ratio - 1) <= TOLERANCE else "  <-- outside +-5%"
    line = (f"{row['baseline']:<15} {row['dataset']:<17} {row['paper']:>8.1f} "
            f"{row['ours_paper']:>11.2f} {ratio:>6.3f} {row['ours_full']:>10.2f} "
            f"{row['ours_full'] / row['paper']:>6.3f}")
    if with_ssa:
        line += (f" | {row['ssa_delta_paper']:>+12.3f} {row['ssa_delta_full']:>+8.3f} "
                 f"{row['paper_delta']:>+8.1f}")
    print(line + flag, flush=True)


def latency_ratio(baseline: str, rounds: int, iters: int, threads: int) -> dict:
    """Median over rounds of (SSA median / baseline median); rounds alternate the two models."""
    from ssa_bench.efficiency.latency import measure_latency

    base, size = build_graph(baseline, "ade20k", ssa=False)
    ssa, _ = build_graph(baseline, "ade20k", ssa=True)
    for model in (base, ssa):   # one untimed warm-up of each before the first round
        measure_latency(model, size, warmup=2, iters=1, threads=threads, device="cpu")
    base_ms, ssa_ms, ratios = [], [], []
    for _ in range(rounds):
        b = measure_latency(base, size, warmup=1, iters=iters, threads=threads, device="cpu")
        s = measure_latency(ssa, size, warmup=1, iters=iters, threads=threads, device="cpu")
        base_ms.append(b["median_ms"])
        ssa_ms.append(s["median_ms"])
        ratios.append(s["median_ms"] / b["median_ms"])
    return {"baseline": baseline, "base_ms": statistics.median(base_ms),
            "ssa_ms": statistics.median(ssa_ms), "ratio": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios),
            "device_name": b["device_name"], "threads": threads}


def main(argv: list[str] | None = None) -> int:
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baselines", nargs="*", default=list(PAPER_BASELINES),
                        choices=list(PAPER_BASELINES))
    parser.add_argument("--lightweight", action="store_true",
                        help="only the lightweight models (fast)")
    parser.add_argument("--datasets", nargs="*",
                        default=["ade20k", "coco_stuff10k", "pascal_context59"],
                        choices=["ade20k", "coco_stuff10k", "pascal_context59"])
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="alternating latency rounds (>= 1)")
    parser.add_argument("--iters", type=int, default=10, help="timed forwards per round")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for latency")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: SeaFormer-B on ADE20K, one latency round")
    args = parser.parse_args(argv)
    if args.quick:
        args.baselines, args.datasets = ["seaformer_b"], ["ade20k"]
        args.rounds = args.iters = args.threads = 1
    if args.rounds < 1 or args.iters < 1 or args.threads < 1:
        parser.error("--rounds, --iters and --threads must be at least 1")

    import torch
    import warnings

    warnings.filterwarnings("ignore")
    baselines = [b for b in args.baselines if not args.lightweight or b in LIGHTWEIGHT]
    with_ssa, why = ssa_available()
    if not with_ssa:
        print(f"SSA module not available ({why}): SSA columns and the latency ratio are "
              "skipped; the baseline GFLOPs follow.\n")

    print(f"GFLOPs vs the SSA paper (Tables 1-2); 'paper' = MMCV 1.x module-hook count, "
          f"'full' = traced count incl. matmuls; torch {torch.__version__}\n")
    print_flops_header(with_ssa)
    rows = flops_rows(baselines, args.datasets, with_ssa)
    outside = [r for r in rows if abs(r["ours_paper"] / r["paper"] - 1) > TOLERANCE]
    print(f"\npaper count within +-{TOLERANCE:.0%} of the paper: {len(rows) - len(outside)}"
          f"/{len(rows)} rows")
    if with_ssa and rows:
        deltas = [r["ssa_delta_paper"] for r in rows]
        print(f"SSA extra GFLOPs (paper count): median {statistics.median(deltas):+.3f}, "
              f"max {max(deltas):+.3f}; the paper says about +0.1 G")

    if with_ssa and not args.no_latency:
        print(f"\nCPU latency, SSA / baseline, 512x512, batch 1, {args.threads} threads, "
              f"{args.rounds} alternating rounds x {args.iters} forwards:")
        print(f"{'baseline':<15} {'base ms':>9} {'SSA ms':>9} {'ratio':>7} {'range':>15}")
        device_name = ""
        for baseline in [b for b in LIGHTWEIGHT if b in baselines]:
            r = latency_ratio(baseline, args.rounds, args.iters, args.threads)
            device_name = r["device_name"]
            print(f"{baseline:<15} {r['base_ms']:>9.1f} {r['ssa_ms']:>9.1f} {r['ratio']:>7.3f} "
                  f"{r['ratio_min']:>7.3f}-{r['ratio_max']:<7.3f}", flush=True)
        print(f"(device: {device_name}; the paper, V100: +0.5 ms on ~25 ms, ratio ~1.02)")
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
