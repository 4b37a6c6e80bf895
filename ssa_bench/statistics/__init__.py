"""Statistics over per-image evaluation evidence: mmseg's metrics from counts, bootstrap
intervals over test images and seeds, paired gains with p-values (docs/statistics.md).
numpy only: reports import it without torch."""
from ssa_bench.statistics.bootstrap import (METHODS, TABLE_LEVEL, TABLE_METHOD, TABLE_RESAMPLES, TABLE_SEED, Interval,
                                           Resampled, RunDraws, bootstrap_metrics, draw_runs, images_digest,
                                           paired_bootstrap)
from ssa_bench.statistics.counts import METRICS, ImageCounts, metrics_from_totals, point_metrics

__all__ = ["METHODS", "METRICS", "TABLE_LEVEL", "TABLE_METHOD", "TABLE_RESAMPLES", "TABLE_SEED", "ImageCounts",
           "Interval", "Resampled", "RunDraws", "bootstrap_metrics", "draw_runs", "images_digest", "metrics_from_totals",
           "paired_bootstrap", "point_metrics"]
