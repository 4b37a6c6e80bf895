"""Bootstrap intervals over test images (and seeds) for mIoU / mAcc / aAcc and for gains.

A resample of the test set is a vector of multinomial weights over its N images (how often each
image is drawn); the resampled totals are weights @ counts, one matrix product for a chunk of
resamples, so 10,000 resamples of a 2000 x 150 evaluation need no Python loop over resamples
(``benchmarks/bootstrap_speed.py``). Chunks keep memory bounded whatever the number of resamples.

* ``bootstrap_metrics(runs)``: the interval of each metric of one table cell. ``runs`` are the
  cell's seeds, evaluated on the same test images; one run = the test images' share only.
* ``paired_bootstrap(runs, baseline_runs)``: the interval and p-value of the gain ``runs -
  baseline``: both are resampled with the *same* image weights, so what the two share (hard
  images, rare classes) cancels.
* Several seeds: each resample also draws the seeds with replacement (a two-level, hierarchical
  bootstrap: seeds, then images shared by every seed, which are the same test set), and the
  spread is split into what the images and what the seeds explain (``Interval.shares``).
* ``Resampled(cells)``: a whole table column at once -- every cell under the same image weights,
  each run's counts multiplied once -- then ``.interval(i)`` and ``.gain(i, baseline)``.
* ``draw_runs(runs)``: each run's resampled metrics (and jackknife values) under the *canonical*
  image weights of its test set: drawn from ``seed`` alone, over the images sorted by name, so two
  runs on the same images get the same weights whenever and wherever they are drawn. The evaluate
  stage keeps them beside the record (``RunPaths.bootstrap_draws``); a report then pairs any two
  runs from these files without touching the counts (``Resampled`` accepts ``RunDraws``).

Intervals are percentile or BCa (bias-corrected and accelerated; acceleration from the jackknife
over images). The p-value of a gain inverts the same interval: the smallest 1 - level at which the
two-sided interval of that method still reaches 0 (for percentile: p = 2 min(q, 1 - q), q the
bootstrap share of gains below 0, ties counting half). So "the interval excludes 0" and "p < 1 -
level" are one rule. Everything is reproducible from ``seed`` (one ``numpy.random.Generator``).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Sequence

import numpy as np

from ssa_bench.statistics.counts import METRICS, ImageCounts, metrics_from_totals

METHODS = ("percentile", "bca")
_NORMAL = NormalDist()
_CHUNK_BYTES = 64 * 2 ** 20

# What report tables use (docs/statistics.md); the evaluate stage draws each run's resamples with
# the same number and seed, so a report reads them instead of resampling.
TABLE_LEVEL = 0.95
TABLE_METHOD = "bca"
TABLE_RESAMPLES = 2000
TABLE_SEED = 0


@dataclass(frozen=True)
class Interval:
    estimate: float           # the point value (mean over seeds of each run's own number)
    low: float
    high: float
    level: float
    method: str               # "percentile" or "bca" (what was used, after any fallback)
    n_resamples: int
    n_images: int
    n_seeds: int
    p: float | None = None    # gains only: two-sided, by inverting the interval (module doc)
    shares: dict | None = field(default=None)   # {"images": x, "seeds": 1 - x} with several seeds

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high, "level": self.level,
                "method": self.method, "n_resamples": self.n_resamples, "n_images": self.n_images,
                "n_seeds": self.n_seeds, "p": self.p, "shares": self.shares}


@dataclass(frozen=True, eq=False)
class RunDraws:
    """One run's bootstrap under the canonical image weights of (its test set, ``n_resamples``,
    ``seed``): what pairing it with any other run of that test set needs, without its counts."""
    images: str                       # digest of the sorted image names: which test set
    n_images: int
    n_classes: int
    n_resamples: int
    seed: int
    point: dict[str, float]           # metric -> the run's own value, from its exact sums
    resampled: dict[str, np.ndarray]  # metric -> (n_resamples,)
    left_out: dict[str, np.ndarray]   # metric -> (n_images,), image i (sorted by name) left out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a file (the store writes them; ``from_arrays`` reads them back)."""
        return {"images": np.asarray(self.images),
                "shape": np.asarray([self.n_images, self.n_classes, self.n_resamples, self.seed], dtype=np.int64),
                "point": np.asarray([self.point[m] for m in METRICS], dtype=np.float64),
                "resampled": np.stack([self.resampled[m] for m in METRICS]).astype(np.float64),
                "left_out": np.stack([self.left_out[m] for m in METRICS]).astype(np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "RunDraws":
        n_images, n_classes, n_resamples, seed = (int(v) for v in arrays["shape"])
        resampled, left_out = np.asarray(arrays["resampled"]), np.asarray(arrays["left_out"])
        if resampled.shape != (len(METRICS), n_resamples) or left_out.shape != (len(METRICS), n_images):
            raise ValueError(f"draws of shapes {resampled.shape} and {left_out.shape} for {n_resamples} "
                             f"resamples of {n_images} images")
        return cls(images=str(arrays["images"]), n_images=n_images, n_classes=n_classes,
                   n_resamples=n_resamples, seed=seed,
                   point={m: float(v) for m, v in zip(METRICS, arrays["point"])},
                   resampled=dict(zip(METRICS, resampled)), left_out=dict(zip(METRICS, left_out)))


def images_digest(names: Sequence[str]) -> str:
    """Which test set: the same for the same image names in any order."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def draw_runs(runs: Sequence[ImageCounts], *, n_resamples: int = TABLE_RESAMPLES,
              seed: int = TABLE_SEED) -> list[RunDraws]:
    """Each run's draws (see ``RunDraws``). Runs on one test set share each chunk of weights and
    a shared label matrix is multiplied once; the values do not depend on which runs are drawn
    together, only on each run's own counts, ``n_resamples`` and ``seed``."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    by_test_set: dict[str, list[int]] = {}
    ordered = []
    for index, run in enumerate(runs):
        ordered.append(_sorted_by_name(run))
        by_test_set.setdefault(images_digest(run.names), []).append(index)
    out: list[RunDraws | None] = [None] * len(runs)
    for digest, indices in by_test_set.items():
        members = [ordered[i] for i in indices]
        values = _image_resamples(members, n_resamples, np.random.default_rng(seed))
        for position, (index, run) in enumerate(zip(indices, members)):
            out[index] = RunDraws(
                images=digest, n_images=run.n_images, n_classes=run.n_classes, n_resamples=n_resamples, seed=seed,
                point={m: float(v) for m, v in metrics_from_totals(*run.totals()).items()},
                resampled={m: values[m][:, position].copy() for m in METRICS}, left_out=_jackknife(run))
    return out


def _sorted_by_name(run: ImageCounts) -> ImageCounts:
    order = np.argsort(np.asarray(run.names, dtype=str), kind="stable")
    if np.array_equal(order, np.arange(run.n_images)):
        return run
    return ImageCounts(tuple(run.names[i] for i in order), run.intersection[order], run.union[order],
                       run.label[order])


def _jackknife(run: ImageCounts) -> dict[str, np.ndarray]:
    """metric -> (images,) the run's value with each image left out."""
    i, u, l = (np.asarray(a, dtype=np.float64) for a in (run.intersection, run.union, run.label))
    return metrics_from_totals(i.sum(0) - i, u.sum(0) - u, l.sum(0) - l)


def bootstrap_metrics(runs: Sequence[ImageCounts], *, n_resamples: int = 10000, level: float = 0.95,
                      method: str = "bca", seed: int = 0, metrics: Sequence[str] = METRICS) -> dict[str, Interval]:
    """Interval of each metric of one cell (``runs``: its seeds, on one test set)."""
    resampled = Resampled([runs], n_resamples=n_resamples, seed=seed)
    return {metric: resampled.interval(0, metric, level=level, method=method) for metric in metrics}


def paired_bootstrap(runs: Sequence[ImageCounts], baseline_runs: Sequence[ImageCounts], *,
                     n_resamples: int = 10000, level: float = 0.95, method: str = "bca", seed: int = 0,
                     metrics: Sequence[str] = METRICS) -> dict[str, Interval]:
    """Interval and p-value of each metric's gain ``runs - baseline_runs`` on the same images."""
    resampled = Resampled([runs, baseline_runs], n_resamples=n_resamples, seed=seed)
    return {metric: resampled.gain(0, 1, metric, level=level, method=method) for metric in metrics}


class Resampled:
    """Several cells (each: its seeds' runs, all on one test set) resampled together: every cell
    under the same image weights, so any two of them can be paired afterwards (a table's rows
    against its baseline row) at the cost of one pass over each run's counts."""

    def __init__(self, groups: Sequence[Sequence[ImageCounts | RunDraws]], *, n_resamples: int = 10000,
                 seed: int = 0):
        if not groups:
            raise ValueError("no cells to resample")
        if n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
        if any(not group for group in groups):
            raise ValueError("no runs to resample")
        counts = [run for group in groups for run in group if isinstance(run, ImageCounts)]
        drawn = iter(draw_runs(counts, n_resamples=n_resamples, seed=seed))
        self.groups = [[run if isinstance(run, RunDraws) else next(drawn) for run in group] for group in groups]
        _check_pairable(self.groups, n_resamples, seed)
        self.n_resamples = n_resamples
        # Per group, metric -> (resamples, seeds) values under the test set's canonical weights.
        self._image_draws = [{m: np.stack([run.resampled[m] for run in group], axis=1) for m in METRICS}
                             for group in self.groups]
        # The seeds' draws come from a stream of their own: the image weights stay canonical.
        rng = np.random.default_rng([seed, 1])
        self._seed_draws = [rng.integers(0, len(group), size=(n_resamples, len(group))) for group in self.groups]
        self._full = [{m: np.array([run.point[m] for run in group]) for m in METRICS} for group in self.groups]

    def interval(self, index: int, metric: str, *, level: float = 0.95, method: str = "bca") -> Interval:
        return self._interval([index], lambda values: values[0], metric, level, method, gain=False)

    def gain(self, index: int, baseline: int, metric: str, *, level: float = 0.95, method: str = "bca") -> Interval:
        return self._interval([index, baseline], lambda values: values[0] - values[1], metric, level, method,
                              gain=True)

    def _interval(self, indices, statistic, metric, level, method, gain) -> Interval:
        if method not in METHODS:
            raise ValueError(f"unknown interval method {method!r}; expected one of {METHODS}")
        if not 0 < level < 1:
            raise ValueError(f"level must lie between 0 and 1, got {level}")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
        draws = [self._image_draws[i][metric] for i in indices]
        picks = [self._seed_draws[i] for i in indices]
        full = [self._full[i][metric] for i in indices]
        n_seeds = max(len(self.groups[i]) for i in indices)
        estimate = float(statistic([values.mean() for values in full]))
        # Hierarchical: the resampled images, on the resampled seeds of each cell.
        samples = statistic([np.take_along_axis(d, p, axis=1).mean(axis=1) for d, p in zip(draws, picks)])
        samples = samples[~np.isnan(samples)]
        shares, used = None, method
        if n_seeds > 1:
            images_only = statistic([d.mean(axis=1) for d in draws])
            seeds_only = statistic([values[p].mean(axis=1) for values, p in zip(full, picks)])
            v_images, v_seeds = float(np.nanvar(images_only)), float(np.nanvar(seeds_only))
            total = v_images + v_seeds
            shares = ({"images": v_images / total, "seeds": v_seeds / total} if total > 0
                      else {"images": None, "seeds": None})
            used = "percentile"      # the jackknife acceleration is over images only
        acceleration = 0.0
        if used == "bca":
            acceleration = _acceleration(statistic([self._left_out(i, metric) for i in indices]))
        low, high, p = _bounds(samples, estimate, level, used, acceleration)
        return Interval(estimate=estimate, low=low, high=high, level=level, method=used,
                        n_resamples=int(samples.size), n_images=self.groups[indices[0]][0].n_images,
                        n_seeds=n_seeds, p=p if gain else None, shares=shares)

    def _left_out(self, index: int, metric: str) -> np.ndarray:
        """(images,) the cell's seed-mean metric with each image left out of every run."""
        return np.mean([run.left_out[metric] for run in self.groups[index]], axis=0)


def _check_pairable(groups: list[list[RunDraws]], n_resamples: int, seed: int) -> None:
    first = groups[0][0]
    for run in (run for group in groups for run in group):
        if run.images != first.images:
            raise ValueError(f"the runs were evaluated on different images ({run.n_images} vs {first.n_images}, "
                             "or other file names): they cannot be resampled together")
        if run.n_classes != first.n_classes:
            raise ValueError(f"runs with {run.n_classes} and {first.n_classes} classes cannot be compared")
        if (run.n_resamples, run.seed) != (n_resamples, seed):
            raise ValueError(f"draws of {run.n_resamples} resamples with seed {run.seed} cannot join a "
                             f"bootstrap of {n_resamples} with seed {seed}")


def _image_resamples(runs: Sequence[ImageCounts], n_resamples: int,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """metric -> (resamples, runs): the runs of one test set under the same image weights."""
    n_images = runs[0].n_images
    blocks = _count_blocks(runs)
    chunk = max(1, min(n_resamples, _CHUNK_BYTES // (16 * n_images)))
    out = {metric: np.empty((n_resamples, len(runs))) for metric in METRICS}
    offsets = None
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        if offsets is None or offsets.shape[0] != size:
            offsets = (np.arange(size) * n_images)[:, None]
        # Multinomial weights: how often each image is drawn in n_images draws with replacement.
        drawn = rng.integers(0, n_images, size=(size, n_images)) + offsets
        weights = np.bincount(drawn.ravel(), minlength=size * n_images).reshape(size, n_images)
        weights = weights.astype(np.float32)
        # One product per distinct count matrix: identical inputs give identical sums, so a run
        # paired with itself gains exactly 0 in every resample.
        products: dict[int, np.ndarray] = {}
        for matrix in blocks.values():
            if id(matrix) not in products:      # a shared label matrix: one product
                products[id(matrix)] = weights @ matrix
        totals = {key: products[id(matrix)] for key, matrix in blocks.items()}
        for index, run in enumerate(runs):
            resampled = metrics_from_totals(totals[id(run.intersection)], totals[id(run.union)],
                                            totals[id(run.label)])
            for metric in METRICS:
                out[metric][start:start + size, index] = resampled[metric]
    return out


def _count_blocks(runs: Sequence[ImageCounts]) -> dict[int, np.ndarray]:
    """The distinct count matrices (by identity; equal label matrices are shared so the label
    sums are computed once per test set) as float32: exact for counts below 2^24 per image; the
    resampled sums carry float32's 1e-7 relative rounding, far below any interval's width. Dense
    on purpose: at ADE20K's ~8% non-zero counts, BLAS's float32 product still beats scipy.sparse
    (measured 0.04 s vs 0.05-0.11 s for 1000 resamples of 2000 x 150)."""
    blocks: dict[int, np.ndarray] = {}
    labels: list[np.ndarray] = []
    for run in runs:
        for array in (run.intersection, run.union):
            blocks.setdefault(id(array), np.ascontiguousarray(array, dtype=np.float32))
        shared = next((known for known in labels if known.shape == run.label.shape
                       and np.array_equal(known, run.label)), None)
        if shared is None:
            labels.append(run.label)
            blocks[id(run.label)] = np.ascontiguousarray(run.label, dtype=np.float32)
        else:
            blocks[id(run.label)] = blocks[id(shared)]
    return blocks


def _acceleration(jack: np.ndarray) -> float:
    """BCa's acceleration from the jackknife values of the statistic (each image left out)."""
    jack = jack[~np.isnan(jack)]
    if jack.size < 3:
        return 0.0
    deviation = jack.mean() - jack
    denominator = 6.0 * (np.sum(deviation ** 2) ** 1.5)
    return float(np.sum(deviation ** 3) / denominator) if denominator > 0 else 0.0


def _bounds(samples: np.ndarray, estimate: float, level: float, method: str, acceleration: float):
    """(low, high, p): the interval's ends and the p-value of 0 under the same method."""
    n = samples.size
    if n == 0:
        return math.nan, math.nan, math.nan
    alpha = 1.0 - level
    z_low, z_high = _NORMAL.inv_cdf(alpha / 2), _NORMAL.inv_cdf(1 - alpha / 2)
    bias = 0.0
    if method == "bca":
        below = (np.count_nonzero(samples < estimate) + 0.5 * np.count_nonzero(samples == estimate)) / n
        bias = _NORMAL.inv_cdf(min(max(below, 0.5 / n), 1 - 0.5 / n))

    def adjusted(z: float) -> float:
        shifted = bias + z
        denominator = 1 - acceleration * shifted
        if denominator <= 0:
            return 1.0 if shifted > 0 else 0.0
        return _NORMAL.cdf(bias + shifted / denominator)

    low, high = np.quantile(samples, [adjusted(z_low), adjusted(z_high)])
    # The level of 0 in the bootstrap distribution, mapped back through the method's adjustment.
    zero = (np.count_nonzero(samples < 0) + 0.5 * np.count_nonzero(samples == 0)) / n
    w = _NORMAL.inv_cdf(min(max(zero, 0.5 / n), 1 - 0.5 / n)) - bias
    if 1 + acceleration * w <= 0:
        tail = 0.0
    else:
        tail = _NORMAL.cdf(w / (1 + acceleration * w) - bias)
    p = min(1.0, 2 * min(tail, 1 - tail))
    return float(low), float(high), float(p)
