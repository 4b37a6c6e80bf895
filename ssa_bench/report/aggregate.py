"""Seeds -> mean, std and count per table cell key (section, row group, column group).

A row repeated over seeds is one table row: its cells show the mean over the seeds whose record
exists, the sample standard deviation (ddof=1; undefined for one seed) and how many seeds that is,
out of how many the spec asked for. The same run listed twice under one key (a spec may request one
training twice) counts once.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

KEY = ("section", "group", "column")


@dataclass(frozen=True)
class SeedStats:
    mean: float | None
    std: float | None      # None with fewer than two seeds
    n: int                 # seeds with a value
    n_expected: int        # seeds the spec asked for


def _key_frame(frame: pd.DataFrame) -> pd.DataFrame:
    # groupby drops None keys by default and mixes None with NaN otherwise; an empty-string
    # stand-in for "no section"/"no column group" keeps the keys exact.
    keyed = frame.drop_duplicates(subset=["id", *KEY]).copy()
    for name in KEY:
        keyed[name] = keyed[name].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    return keyed


def aggregate_seeds(frame: pd.DataFrame, metrics) -> dict[tuple, dict[str, SeedStats]]:
    """(section, group, column) -> metric -> SeedStats, with '' standing for None in the key."""
    if frame.empty:
        return {}
    keyed = _key_frame(frame)
    grouped = keyed.groupby(list(KEY), sort=False)
    expected = grouped["id"].nunique()
    stats = grouped[list(metrics)].agg(["mean", "std", "count"])
    result: dict[tuple, dict[str, SeedStats]] = {}
    for key, row in stats.iterrows():
        cells = {}
        for metric in metrics:
            n = int(row[(metric, "count")])
            mean = row[(metric, "mean")]
            std = row[(metric, "std")]
            cells[metric] = SeedStats(mean=float(mean) if n else None,
                                      std=float(std) if n >= 2 and pd.notna(std) else None,
                                      n=n, n_expected=int(expected[key]))
        result[tuple(key)] = cells
    return result


def cell_key(section, group, column) -> tuple[str, str, str]:
    """The aggregate key of a table cell, with the same None -> '' convention."""
    return tuple("" if v is None else str(v) for v in (section, group, column))
