"""The metrics a record holds and a report can show, one row each.

Everything that needs a metric's name, heading, direction or default decimals reads it here:
the spec checks (``report.columns``, ``decimals``, ``rank_by``), gathering, ranking, gains and
rendering. Two bugs came from these facts living in several modules (``rank_by: gflops_full``
ranked the most expensive row first because one copy of the direction list lacked it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str              # the key in records, gathered frames and spec `report.columns`
    heading: str           # the column heading of a rendered table
    unit: str              # "" for a percentage-style score
    lower_is_better: bool  # cost metrics rank smallest first; accuracy metrics get the paper's arrow
    decimals: int          # printed decimals unless the paper's table or `report.decimals` says otherwise

    @property
    def is_accuracy(self) -> bool:
        return not self.lower_is_better


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("gflops", "GFLOPs", "GFLOPs", True, 1),
    Metric("gflops_full", "GFLOPs (full)", "GFLOPs", True, 1),
    Metric("params_m", "Params (M)", "M", True, 2),
    Metric("latency_ms", "Lat. (ms)", "ms", True, 1),
    Metric("mIoU", "mIoU", "%", False, 2),
    Metric("mAcc", "mAcc", "%", False, 2),
    Metric("aAcc", "aAcc", "%", False, 2),
)

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRIC_TABLE}

# Metric columns, named as a spec's `report.columns` names them.
METRICS: tuple[str, ...] = tuple(metric.name for metric in METRIC_TABLE)
# Higher is better: the gain over the baseline row is the paper's green arrow.
ACCURACY_METRICS: tuple[str, ...] = tuple(metric.name for metric in METRIC_TABLE if metric.is_accuracy)
# A smaller value ranks first.
LOWER_IS_BETTER: tuple[str, ...] = tuple(metric.name for metric in METRIC_TABLE if metric.lower_is_better)
HEADINGS: dict[str, str] = {metric.name: metric.heading for metric in METRIC_TABLE}
DEFAULT_DECIMALS: dict[str, int] = {metric.name: metric.decimals for metric in METRIC_TABLE}
