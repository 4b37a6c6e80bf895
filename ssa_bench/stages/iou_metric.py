"""``SSABenchIoUMetric``: the metric of every run's validation and test (``val_evaluator`` and
``test_evaluator`` of the composed config, imported through ``custom_imports``).

It is mmseg's ``IoUMetric`` -- the same counts and the same mIoU, mAcc, aAcc -- that also keeps
the per-class IoU, which the record stores and mmseg only prints, and every image's per-class
counts (``image_counts``), which the evaluate stage writes for the bootstrap intervals
(docs/statistics.md).
"""
from __future__ import annotations

import os

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module(force=True)
class SSABenchIoUMetric(IoUMetric):
    per_class_iou: dict | None = None
    # After compute_metrics (on the rank that computes): {"names", "intersection", "union",
    # "label"} -- int64 (images, classes), in test-set order -- and "totals", mmseg's own sums.
    image_counts: dict | None = None

    def process(self, data_batch: dict, data_samples) -> None:
        # Each image's path travels with its counts, so the order survives mmengine's gathering
        # of results across ranks; compute_metrics takes it off again before mmseg sees them.
        before = len(self.results)
        super().process(data_batch, data_samples)
        if len(self.results) - before == len(data_samples):
            for offset, sample in enumerate(data_samples):
                self.results[before + offset] = (*self.results[before + offset], str(sample.get("img_path", "")))

    def compute_metrics(self, results: list) -> dict:
        paths = [result[4] if len(result) > 4 else "" for result in results]
        results = [tuple(result[:4]) for result in results]
        if results:
            intersect, union, pred, label = (sum(column) for column in zip(*results))
            per_class = self.total_area_to_metrics(intersect, union, pred, label, ["mIoU"],
                                                   self.nan_to_num, self.beta)["IoU"]
            per_class = np.asarray(per_class, dtype=np.float64) * 100
            self.per_class_iou = {str(name): (None if np.isnan(value) else round(float(value), 2))
                                  for name, value in zip(self.dataset_meta["classes"], per_class)}
            # histc counts are float32 tensors, exact per image (< 2^24 pixels); kept as integers.
            per_image = [np.rint(np.stack([np.asarray(area.cpu(), dtype=np.float64) for area in column]))
                         .astype(np.int64) for column in zip(*results)]
            self.image_counts = {
                "names": _relative_names(paths),
                "intersection": per_image[0], "union": per_image[1], "label": per_image[3],
                "totals": {key: np.asarray(total.cpu(), dtype=np.float64) for key, total in
                           zip(("intersection", "union", "pred", "label"), (intersect, union, pred, label))},
            }
        return super().compute_metrics(results)


def _relative_names(paths: list[str]) -> list[str]:
    """The images' paths below their common folder (what pairs two runs' images, wherever the
    data set lives); the position when a path is unknown."""
    if not paths or not all(paths):
        return [str(index) for index in range(len(paths))]
    if len(paths) == 1:
        return [os.path.basename(paths[0])]
    common = os.path.commonpath(paths)
    return [os.path.relpath(path, common) for path in paths]
