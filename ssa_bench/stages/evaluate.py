"""Stage ``evaluate``: mmseg's test loop with its IoU metric on the validation split, from the
trained checkpoint: single scale as the paper reports (whole image, or the sliding window of the
dataset's or the baseline's mmseg configs, e.g. PASCAL-Context), or multi-scale + flip when the run
says ``evaluate.aug_test`` (``ssa_bench.vocabulary.protocol``).

Besides the numbers, the stage keeps the evidence: every test image's per-class intersection,
union and label pixel counts (``RunPaths.image_counts``, compact and compressed), from which
reports compute bootstrap intervals over test images (docs/statistics.md), and the run's bootstrap
draws for report tables (``RunPaths.bootstrap_draws``): drawn here once, a fraction of a second
beside the evaluation, so a report pairs runs by reading them instead of resampling every count."""
from __future__ import annotations

import glob
import os

from ssa_bench.vocabulary.protocol import checkpoint_choice
from ssa_bench.stages.runner import latest_checkpoint, make_runner
from ssa_bench.store import write_bytes_atomic
from ssa_bench.statistics import ImageCounts, draw_runs
from ssa_bench.store.image_counts import encode_bootstrap_draws, encode_image_counts
from ssa_bench.store.paths import run_paths_at


def best_checkpoint(work_dir: str) -> str | None:
    """The best validation checkpoint mmengine's CheckpointHook(save_best='mIoU') kept (it
    removes the previous best when it saves a new one), or None."""
    candidates = glob.glob(os.path.join(work_dir, "best_mIoU_iter_*.pth"))
    return max(candidates, key=os.path.getmtime) if candidates else None


def evaluate_stage(run_config: dict, run_dir: str) -> dict:
    paths = run_paths_at(run_dir)
    work_dir = paths.work_dir
    if checkpoint_choice(run_config) == "best":
        # evaluate.checkpoint: best (the authors' choice for ViT-Adapter-L); without a validation
        # during training there is no best checkpoint, and the last one is not substituted
        checkpoint = best_checkpoint(work_dir)
        if checkpoint is None:
            raise FileNotFoundError(f"no best_mIoU_iter_*.pth in {work_dir} (evaluate.checkpoint: best): "
                                    "no validation ran during training")
    else:
        checkpoint = latest_checkpoint(work_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}/work_dir: the train stage did not finish")
    runner = make_runner(run_config, run_dir, "evaluate", load_from=checkpoint, resume=False)
    metrics = runner.test()
    metric = runner.test_evaluator.metrics[0]
    counts = metric.image_counts
    if counts is not None:
        write_bytes_atomic(paths.image_counts, encode_image_counts(
            counts["names"], counts["intersection"], counts["union"], counts["label"]))
        (draws,) = draw_runs([ImageCounts.from_arrays(counts)])
        write_bytes_atomic(paths.bootstrap_draws, encode_bootstrap_draws(draws.to_arrays()))
    return {
        "mIoU": float(metrics["mIoU"]), "mAcc": float(metrics["mAcc"]), "aAcc": float(metrics["aAcc"]),
        "per_class_iou": metric.per_class_iou or {},
        "checkpoint": os.path.relpath(checkpoint, run_dir),
        "image_counts": os.path.relpath(paths.image_counts, paths.run_dir) if counts is not None else None,
    }
