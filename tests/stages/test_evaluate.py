"""The evaluate stage: mmseg's test loop on the validation split from the final checkpoint."""
from __future__ import annotations

import math

import pytest

from tests.stages.stage_helpers import run_config


@pytest.mark.slow
def test_evaluate_matches_last_validation(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import demo, ensure_datasets
    from ssa_bench.stages.evaluate import evaluate_stage
    from ssa_bench.stages.train import train_stage

    config = run_config(ssa=False, max_iters=10, checkpoint_interval=10, val_interval=10)
    ensure_datasets([config])
    with pytest.raises(FileNotFoundError, match="train stage"):
        evaluate_stage(config, str(tmp_path))            # nothing trained yet
    trained = train_stage(config, str(tmp_path))
    result = evaluate_stage(config, str(tmp_path))
    for key in ("mIoU", "mAcc", "aAcc"):
        assert 0 <= result[key] <= 100
    assert list(result["per_class_iou"]) == list(demo.CLASSES)
    present = [v for v in result["per_class_iou"].values() if v is not None and not math.isnan(v)]
    assert abs(sum(present) / len(present) - result["mIoU"]) < 0.05
    # Same checkpoint, same validation images as the in-training validation at the last iteration.
    assert abs(result["mIoU"] - trained["curve"][-1]["mIoU"]) < 0.05
    assert result["checkpoint"].endswith("iter_10.pth")
    # The per-image evidence: one row per validation image, and its sums give the stage's numbers.
    from ssa_bench.statistics import ImageCounts, point_metrics
    from ssa_bench.store.image_counts import read_image_counts
    from ssa_bench.store.paths import run_paths_at

    assert result["image_counts"] == "stages/evaluate_counts.npz"
    stored = read_image_counts(run_paths_at(str(tmp_path)).image_counts)
    assert stored["intersection"].shape[1] == len(demo.CLASSES)
    assert len(set(stored["names"])) == stored["intersection"].shape[0] > 1
    ours = point_metrics(ImageCounts.from_arrays(stored))
    for key in ("mIoU", "mAcc", "aAcc"):
        assert round(ours[key], 2) == pytest.approx(result[key], abs=1e-4)
    # ... and the bootstrap draws report tables read instead of resampling: the counts' own draws.
    import numpy as np

    from ssa_bench.statistics import TABLE_RESAMPLES, TABLE_SEED, RunDraws, draw_runs
    from ssa_bench.store.image_counts import read_bootstrap_draws

    stored_draws = RunDraws.from_arrays(read_bootstrap_draws(run_paths_at(str(tmp_path)).bootstrap_draws))
    (expected,) = draw_runs([ImageCounts.from_arrays(stored)], n_resamples=TABLE_RESAMPLES, seed=TABLE_SEED)
    assert stored_draws.images == expected.images and stored_draws.point == expected.point
    np.testing.assert_array_equal(stored_draws.resampled["mIoU"], expected.resampled["mIoU"])
