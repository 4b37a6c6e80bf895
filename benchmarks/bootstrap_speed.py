"""How long 10,000 paired bootstrap resamples of an ADE20K-sized evaluation take (issue 27:
target under 2 s on one core).

Builds two SYNTHETIC evaluations of 2000 images x 150 classes (random per-image pixel counts in the
layout the evaluate stage writes; the second run predicts a little better), then times
``paired_bootstrap`` (BCa, mIoU/mAcc/aAcc, one seeded Generator) end to end: weights drawn,
resampled sums, metrics, quantiles, jackknife. Run it on one core:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bootstrap_speed.py [--quick]

``--quick``: 1,000 resamples (a smoke run); the ratio is then to the target scaled by 1/10.
Wall time and this process's CPU time are both printed: on a loaded machine the wall time is the
CPU time stretched by the other processes, and only an idle core measures the target.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from ssa_bench.statistics import ImageCounts, paired_bootstrap  # noqa: E402

TARGET_S = 2.0


def synthetic_pair(n_images: int, n_classes: int, seed: int = 0) -> tuple[ImageCounts, ImageCounts]:
    rng = np.random.default_rng(seed)
    present = rng.random((n_images, n_classes)) < 0.08            # ~12 classes per image
    label = np.where(present, rng.integers(100, 60000, (n_images, n_classes)), 0)
    runs = []
    difficulty = rng.beta(6, 3, (n_images, 1))                      # some images are hard for both runs
    for quality in (0.0, 0.02):
        rate = np.clip(difficulty + quality + rng.normal(0, 0.05, (n_images, 1)), 0, 1)
        hit = rng.binomial(label, np.broadcast_to(rate, label.shape))
        false_positive = rng.poisson(np.where(present, 2000, 50), (n_images, n_classes))
        runs.append((hit, label - hit + hit + false_positive))
    names = tuple(f"img_{index:05d}.jpg" for index in range(n_images))
    return tuple(ImageCounts(names, hit.astype(np.uint32), union.astype(np.uint32), label.astype(np.uint32))
                 for hit, union in runs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 resamples instead of 10,000")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=150)
    args = parser.parse_args(argv)
    resamples = 1000 if args.quick else 10000
    target = TARGET_S * resamples / 10000
    baseline, better = synthetic_pair(args.images, args.classes)
    paired_bootstrap([better], [baseline], n_resamples=50, seed=1)          # warm-up (imports, BLAS)
    best = best_cpu = float("inf")
    for _ in range(1 if args.quick else 3):
        start, start_cpu = time.perf_counter(), time.process_time()
        gain = paired_bootstrap([better], [baseline], n_resamples=resamples, seed=0)["mIoU"]
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"paired bootstrap: {resamples} resamples of {args.images} images x {args.classes} classes, "
          f"OMP_NUM_THREADS={threads}: {best:.3f} s wall, {best_cpu:.3f} s CPU (best of {1 if args.quick else 3}); "
          f"target {target:.1f} s, ratio {best / target:.2f} (CPU {best_cpu / target:.2f})")
    print(f"  gain mIoU {gain.estimate:+.2f} [{gain.low:+.2f}, {gain.high:+.2f}] p={gain.p:.4f} ({gain.method})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
