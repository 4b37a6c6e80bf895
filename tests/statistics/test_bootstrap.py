"""The bootstrap of ssa_bench.statistics (issue 27, item 4): mmseg's metrics from counts, zero-width
intervals for identical predictions, p near 0 for a run better on every image, coverage on
simulated data with a known true mIoU, reproducibility, and the hierarchical split over seeds."""
from __future__ import annotations

import numpy as np
import pytest

from ssa_bench.statistics import ImageCounts, bootstrap_metrics, metrics_from_totals, paired_bootstrap
from ssa_bench.statistics import bootstrap as bootstrap_module


def simulated(rng, n_images: int, n_classes: int = 6, quality: float = 0.7, names=None) -> ImageCounts:
    """Per-image counts with heterogeneous images: each has a few classes, its own difficulty."""
    present = rng.random((n_images, n_classes)) < 0.4
    label = np.where(present, rng.integers(50, 3000, (n_images, n_classes)), 0)
    rate = np.clip(rng.beta(8 * quality, 8 * (1 - quality), (n_images, 1)), 0, 1)
    hit = rng.binomial(label, np.broadcast_to(rate, label.shape))
    false_positive = rng.poisson(np.where(present, 300, 20), (n_images, n_classes))
    names = names or tuple(f"{index:05d}.png" for index in range(n_images))
    return ImageCounts(names, hit, label + false_positive, label)


def test_metrics_from_totals_match_mmseg_iou_metric():
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import torch
    from mmseg.evaluation.metrics import IoUMetric

    rng = np.random.default_rng(3)
    intersection = rng.integers(0, 500, 8).astype(float)
    label = intersection + rng.integers(0, 300, 8)
    pred = intersection + rng.integers(0, 300, 8)
    intersection[2] = label[2] = pred[2] = 0          # absent from labels and predictions: NaN, left out
    intersection[5] = label[5] = 0                     # never labelled but predicted: IoU 0, counted
    pred[5] = 40
    union = pred + label - intersection
    theirs = IoUMetric.total_area_to_metrics(*(torch.tensor(a) for a in (intersection, union, pred, label)),
                                             ["mIoU"])
    ours = metrics_from_totals(intersection, union, label)
    assert ours["mIoU"] == pytest.approx(np.nanmean(theirs["IoU"]) * 100, abs=1e-9)
    assert ours["mAcc"] == pytest.approx(np.nanmean(theirs["Acc"]) * 100, abs=1e-9)
    assert ours["aAcc"] == pytest.approx(float(theirs["aAcc"]) * 100, abs=1e-9)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_identical_predictions_give_a_zero_width_gain_interval(method):
    run = simulated(np.random.default_rng(0), 120)
    again = ImageCounts(run.names, run.intersection.copy(), run.union.copy(), run.label.copy())
    gains = paired_bootstrap([again], [run], n_resamples=2000, method=method, seed=1)
    for gain in gains.values():
        assert (gain.estimate, gain.low, gain.high) == (0.0, 0.0, 0.0)
        assert gain.p == 1.0 and not gain.excludes_zero


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_a_run_better_on_every_image_has_p_near_zero(method):
    rng = np.random.default_rng(1)
    base = simulated(rng, 150)
    # Better on every image: some of each image's missed pixels become hits (union unchanged).
    missed = base.label - base.intersection
    gained = np.maximum(1, (0.05 * missed).astype(int)) * (missed > 0)
    better = ImageCounts(base.names, base.intersection + gained, base.union, base.label)
    gain = paired_bootstrap([better], [base], n_resamples=4000, method=method, seed=2)["mIoU"]
    assert gain.estimate > 0 and gain.low > 0 and gain.excludes_zero
    assert gain.p < 0.001


def test_the_bootstrap_is_reproducible_with_a_seed():
    rng = np.random.default_rng(4)
    a, b = simulated(rng, 80), simulated(rng, 80, quality=0.72)
    first = paired_bootstrap([a], [b], n_resamples=1000, seed=7)
    assert paired_bootstrap([a], [b], n_resamples=1000, seed=7) == first
    assert paired_bootstrap([a], [b], n_resamples=1000, seed=8)["mIoU"].low != first["mIoU"].low


def test_chunking_keeps_memory_bounded_without_changing_the_answer(monkeypatch):
    rng = np.random.default_rng(5)
    a, b = simulated(rng, 64), simulated(rng, 64, quality=0.75)
    whole = paired_bootstrap([a], [b], n_resamples=500, seed=3)
    monkeypatch.setattr(bootstrap_module, "_CHUNK_BYTES", 16 * 64 * 7)      # 7 resamples per chunk
    assert paired_bootstrap([a], [b], n_resamples=500, seed=3) == whole


def test_image_order_is_aligned_by_name_and_other_images_are_refused():
    rng = np.random.default_rng(6)
    a, b = simulated(rng, 50), simulated(rng, 50, quality=0.8)
    order = rng.permutation(50)
    shuffled = ImageCounts(tuple(np.array(b.names)[order]), b.intersection[order], b.union[order], b.label[order])
    assert paired_bootstrap([a], [shuffled], n_resamples=300, seed=0) == \
        paired_bootstrap([a], [b], n_resamples=300, seed=0)
    other = ImageCounts(tuple(f"x{name}" for name in b.names), b.intersection, b.union, b.label)
    with pytest.raises(ValueError, match="different images"):
        paired_bootstrap([a], [other], n_resamples=10)


def test_point_estimate_is_the_evaluation_number():
    run = simulated(np.random.default_rng(7), 40)
    interval = bootstrap_metrics([run], n_resamples=200)["mIoU"]
    assert interval.estimate == pytest.approx(float(metrics_from_totals(*run.totals())["mIoU"]))
    assert interval.low < interval.estimate < interval.high and interval.p is None


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_coverage_of_the_true_miou_is_within_two_points_of_nominal(method):
    """Test sets of 300 images drawn from a finite population whose mIoU is known exactly; the 95%
    interval must hold it in 93-97% of 800 repetitions (fixed seed; the standard error of the
    observed coverage is 0.8 points)."""
    rng = np.random.default_rng(2024)
    population = simulated(rng, 20000, n_classes=5)
    truth = float(metrics_from_totals(*population.totals())["mIoU"])
    repetitions, hits, n = 800, 0, 300
    for repetition in range(repetitions):
        take = rng.integers(0, population.n_images, n)
        sample = ImageCounts(tuple(str(i) for i in range(n)), population.intersection[take],
                             population.union[take], population.label[take])
        interval = bootstrap_metrics([sample], n_resamples=500, level=0.95, method=method, seed=repetition,
                                     metrics=["mIoU"])["mIoU"]
        hits += interval.low <= truth <= interval.high
    assert abs(hits / repetitions - 0.95) <= 0.02, f"{method} coverage {hits / repetitions:.3f}"


def test_several_seeds_split_the_spread_between_images_and_seeds():
    rng = np.random.default_rng(8)
    names = tuple(f"{index}.png" for index in range(100))
    # Seeds far apart in quality: the seeds explain most of the spread.
    spread = [simulated(np.random.default_rng(s), 100, quality=q, names=names) for s, q in ((1, 0.5), (2, 0.9), (3, 0.7))]
    shares = bootstrap_metrics(spread, n_resamples=1000, seed=0)["mIoU"].shares
    assert shares["seeds"] > 0.7 and shares["images"] + shares["seeds"] == pytest.approx(1)
    # Seeds that predicted the same: the seeds explain nothing.
    same = [spread[0]] * 3
    interval = bootstrap_metrics(same, n_resamples=1000, seed=0)["mIoU"]
    assert interval.shares["seeds"] == pytest.approx(0, abs=1e-12) and interval.n_seeds == 3 and interval.method == "percentile"
    single = bootstrap_metrics([spread[0]], n_resamples=1000, seed=0)["mIoU"]
    assert single.shares is None
    # A gain across seeds: paired over images, seeds resampled per row.
    gain = paired_bootstrap(spread, same, n_resamples=1000, seed=0)["mIoU"]
    assert gain.shares is not None and gain.p is not None and gain.low < gain.estimate < gain.high
    del rng


def test_a_runs_draws_do_not_depend_on_the_runs_drawn_with_it():
    """The evaluate stage draws each run alone; a report may draw a whole column at once: the same
    numbers either way, or pairing a stored draw with a fresh one would mix two weight streams."""
    rng = np.random.default_rng(9)
    a, b = simulated(rng, 60), simulated(rng, 60, quality=0.8)
    other_set = simulated(rng, 30, names=tuple(f"z{i}.png" for i in range(30)))
    (alone,) = bootstrap_module.draw_runs([a], n_resamples=300, seed=4)
    together = bootstrap_module.draw_runs([other_set, b, a], n_resamples=300, seed=4)[2]
    for metric in ("mIoU", "mAcc", "aAcc"):
        np.testing.assert_array_equal(alone.resampled[metric], together.resampled[metric])
        np.testing.assert_array_equal(alone.left_out[metric], together.left_out[metric])
    assert alone.images == together.images != bootstrap_module.draw_runs([other_set], n_resamples=300, seed=4)[0].images


def test_stored_draws_pair_exactly_as_the_counts_would():
    rng = np.random.default_rng(10)
    a, b = simulated(rng, 70), simulated(rng, 70, quality=0.75)
    order = rng.permutation(70)
    b_shuffled = ImageCounts(tuple(np.array(b.names)[order]), b.intersection[order], b.union[order], b.label[order])
    from_counts = bootstrap_module.Resampled([[a], [b]], n_resamples=400, seed=2)
    stored = [bootstrap_module.RunDraws.from_arrays(d.to_arrays())
              for d in bootstrap_module.draw_runs([a, b_shuffled], n_resamples=400, seed=2)]
    from_draws = bootstrap_module.Resampled([[stored[0]], [stored[1]]], n_resamples=400, seed=2)
    mixed = bootstrap_module.Resampled([[stored[0]], [b]], n_resamples=400, seed=2)
    for method in ("percentile", "bca"):
        expected = from_counts.gain(0, 1, "mIoU", method=method)
        assert from_draws.gain(0, 1, "mIoU", method=method) == expected == mixed.gain(0, 1, "mIoU", method=method)
        assert from_draws.interval(0, "mAcc", method=method) == from_counts.interval(0, "mAcc", method=method)
    # Draws made with another number of resamples or seed are another stream: refused, not mixed.
    (other_seed,) = bootstrap_module.draw_runs([a], n_resamples=400, seed=3)
    with pytest.raises(ValueError, match="cannot join"):
        bootstrap_module.Resampled([[other_seed], [b]], n_resamples=400, seed=2)
