"""How long loading + planning a 10,000-run matrix and gathering its 10,000 records take
(targets: planning, and the whole `ssa-bench plan` command, under 1 s of CPU, issue 14;
gathering under 2 s).

Writes one matrix file that expands to 10,000 distinct runs (25 SSA rows x 10 baselines x
2 datasets x 20 seeds, with sections, columns and seeds as in the paper's tables), times
`load_spec` + `plan` in this process (best of 3, CPU time of this process), then `ssa-bench plan --json` as a fresh process
(interpreter start and imports included), then writes a SYNTHETIC record for every planned run
(gather_scale.synthetic_record: random numbers in the record layout) and times `gather` over the
planned runs. Everything lives in a temporary directory, deleted afterwards.

    PYTHONPATH=. .venv/bin/python benchmarks/plan_scale.py [--seeds 20]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gather_scale import synthetic_record  # noqa: E402

from ssa_bench.report.gather import gather  # noqa: E402
from ssa_bench.matrix import load_spec, plan  # noqa: E402

TARGET_S = 2.0
PLAN_CPU_TARGET_S = 1.0
BASELINES = ["fcn_r101", "ocrnet_hr48", "upernet_swin_t", "upernet_swin_b", "upernet_swin_l",
             "segformer_b5", "segnext_t", "seaformer_b", "seaformer_l", "afformer_b"]


def matrix_yaml(n_rows: int, seeds: int) -> str:
    rows = "\n".join(f"  - {{label: 'SSA e{k}', ssa: {{edge_size: {k}, pe: {['cpvt', 'sinusoidal', 'learnable'][k % 3]}}}}}"
                     for k in range(1, n_rows + 1))
    return (f"name: scale\ntitle: planning at scale\nbase:\n  dataset: ade20k\n  ssa: {{enabled: true}}\n"
            f"rows:\n{rows}\naxes:\n  baseline: [{', '.join(BASELINES)}]\n  dataset: [ade20k, coco_stuff10k]\n"
            f"seeds: [{', '.join(str(s) for s in range(seeds))}]\nsections: baseline\ncolumns: dataset\n"
            "report: {columns: [gflops, mIoU]}\n")


def best_of(n: int, fn, clock=time.perf_counter):
    timings, result = [], None
    for _ in range(n):
        start = clock()
        result = fn()
        timings.append(clock() - start)
    return min(timings), timings[0], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 2 rows x 2 seeds (80 runs)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.seeds = 2, 2
    expected = args.rows * len(BASELINES) * 2 * args.seeds
    with tempfile.TemporaryDirectory(prefix="ssa-plan-bench-") as tmp:
        root = Path(tmp)
        spec_path = root / "scale.yaml"
        spec_path.write_text(matrix_yaml(args.rows, args.seeds))

        best, first, runs = best_of(3, lambda: plan(load_spec(str(spec_path))), clock=time.process_time)
        assert len(runs) == expected == len({r.id for r in runs}), (len(runs), expected)
        print(f"load_spec + plan, {len(runs)} runs: CPU first {first:.2f} s, best of 3 {best:.2f} s; "
              f"target {PLAN_CPU_TARGET_S:.1f} s CPU -> ratio {best / PLAN_CPU_TARGET_S:.2f} (< 1 meets it)")

        env = {**os.environ, "PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-m", "ssa_bench.cli", "plan", str(spec_path), "--json",
                               "--results-dir", str(root / "results")],
                              capture_output=True, text=True, env=env, cwd=root)
        cli_s = time.perf_counter() - start
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu_s = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"ssa-bench plan failed: {done.stderr.strip()}")
        assert len(json.loads(done.stdout)) == expected
        print(f"`ssa-bench plan --json` as a new process (interpreter, imports, store states, JSON out), "
              f"{expected} runs: CPU {cli_cpu_s:.2f} s (wall {cli_s:.2f} s); target {PLAN_CPU_TARGET_S:.1f} s "
              f"CPU -> ratio {cli_cpu_s / PLAN_CPU_TARGET_S:.2f} (< 1 meets it)")

        rng = random.Random(0)
        results = root / "results"
        for run in runs:
            run_dir = results / "runs" / run.id
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "record.json").write_text(json.dumps(synthetic_record(run.id, run.seed, rng)))
        best, first, frame = best_of(3, lambda: gather(results, runs))
        assert len(frame) == expected and frame["state"].eq("done").all()
        print(f"gather the planned runs' {expected} synthetic records: first {first:.2f} s, best of 3 {best:.2f} s; "
              f"target {TARGET_S:.1f} s -> ratio {best / TARGET_S:.2f} (first: {first / TARGET_S:.2f})")


if __name__ == "__main__":
    main()
