"""Per-image confusion counts of one evaluation, and the metrics mmseg computes from their sums.

mmseg's ``IoUMetric`` sums each image's per-class intersection, union, prediction and label pixel
counts over the test set and then divides: IoU_c = I_c / U_c, Acc_c = I_c / L_c, aAcc = sum I /
sum L; a 0/0 class is NaN and ``np.nanmean`` leaves it out of mIoU / mAcc (a class never labelled
but predicted has U_c > 0, IoU_c = 0 and counts in mIoU; only its Acc is NaN). mIoU is a ratio of
sums, not a mean of per-image IoUs, which is why resampling works on the count matrices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssa_bench.vocabulary.metrics import ACCURACY_METRICS

# The metrics the evaluation's counts give: the vocabulary's accuracy metrics, in its order.
METRICS = ACCURACY_METRICS


@dataclass(frozen=True)
class ImageCounts:
    """One evaluation's evidence: arrays (images x classes) of pixel counts, in test-set order."""
    names: tuple[str, ...]
    intersection: np.ndarray
    union: np.ndarray
    label: np.ndarray

    def __post_init__(self) -> None:
        shapes = {self.intersection.shape, self.union.shape, self.label.shape}
        if len(shapes) != 1 or self.intersection.ndim != 2:
            raise ValueError(f"intersection, union and label must be one (images, classes) shape, got {shapes}")
        if len(self.names) != self.intersection.shape[0]:
            raise ValueError(f"{len(self.names)} names for {self.intersection.shape[0]} images")

    @property
    def n_images(self) -> int:
        return self.intersection.shape[0]

    @property
    def n_classes(self) -> int:
        return self.intersection.shape[1]

    def totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact int64 sums over the test set: what mmseg's metric divides."""
        return tuple(np.asarray(a, dtype=np.int64).sum(axis=0) for a in (self.intersection, self.union, self.label))

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ImageCounts":
        """From the arrays of the evaluation's per-image file (``names``, ``intersection``, ...)."""
        return cls(names=tuple(str(name) for name in arrays["names"]),
                   intersection=np.asarray(arrays["intersection"]), union=np.asarray(arrays["union"]),
                   label=np.asarray(arrays["label"]))


def metrics_from_totals(intersection, union, label) -> dict[str, np.ndarray]:
    """mIoU, mAcc, aAcc in percent from summed counts; the class axis is the last one, so a stack
    of resampled totals (resamples x classes) gives one value per resample. Unrounded (mmseg
    rounds its printed summary to 2 decimals)."""
    intersection = np.asarray(intersection, dtype=np.float64)
    union = np.asarray(union, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, intersection / union, np.nan)
        acc = np.where(label > 0, intersection / label, np.nan)
        all_acc = intersection.sum(axis=-1) / label.sum(axis=-1)
    return {"mIoU": _nanmean(iou) * 100, "mAcc": _nanmean(acc) * 100, "aAcc": all_acc * 100}


def _nanmean(values: np.ndarray) -> np.ndarray:
    # np.nanmean warns on an all-NaN row (a resample without any labelled pixel); NaN is the answer.
    present = ~np.isnan(values)
    n = present.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.where(present, values, 0.0).sum(axis=-1) / n, np.nan)


def point_metrics(counts: ImageCounts) -> dict[str, float]:
    """The evaluation's own numbers, from the exact int64 sums."""
    return {key: float(value) for key, value in metrics_from_totals(*counts.totals()).items()}
