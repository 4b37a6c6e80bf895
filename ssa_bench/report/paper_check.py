"""``report --check-paper``: every cell of the table that has a paper number is compared, per metric.

Tolerances (``--check-paper`` may be repeated; each value may hold several items, comma-separated):

    0.5              every metric: 0.5 in the metric's own unit (mIoU points, GFLOPs, M params, ms)
    gflops=5%        GFLOPs: 5% of the paper's number
    latency_ms=2     latency: 2 ms
    mIoU=off         mIoU is not compared (said so in the summary)
    mIoU=ci          mIoU passes when the paper's number lies inside our bootstrap interval over
                     test images (accuracy metrics; runs without per-image evidence count as
                     missing; docs/statistics.md)

A metric with a paper number in the table needs a tolerance (a bare number or its own item).
The gate trips (exit 1) on a compared cell beyond its tolerance, and on a cell that should be
compared but has no number of ours yet (its runs pending, queued, running, failed or damaged, or
some of its seeds missing) unless ``--allow-missing``. A table with nothing to compare trips it
too: a gate that checked nothing must not pass. Latency is compared only when ours was measured
on a GPU (the paper's is a V100); otherwise its cells are counted as not comparable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from ssa_bench.vocabulary.metrics import ACCURACY_METRICS, METRICS

# How a user may spell a metric on the command line -> the report's metric name.
_ALIASES = {"params": "params_m", "latency": "latency_ms", "miou": "mIoU", "macc": "mAcc", "aacc": "aAcc",
            **{m.lower(): m for m in METRICS}}
EXAMPLE = "e.g. --check-paper 0.5 or --check-paper 0.5,gflops=5%,latency_ms=off or --check-paper mIoU=ci,gflops=5%"
# Metrics that have a bootstrap interval over test images (report/intervals.py).
_INTERVAL_METRICS = ACCURACY_METRICS      # what the per-image counts give an interval for


@dataclass(frozen=True)
class Tolerance:
    amount: float | None        # None: the metric is not compared (unless ``interval``)
    relative: bool = False      # amount is a percentage of the paper's number
    interval: bool = False      # the paper's number must lie inside our bootstrap interval

    def limit(self, paper: float) -> float:
        return abs(paper) * self.amount / 100.0 if self.relative else self.amount

    @property
    def off(self) -> bool:
        return self.amount is None and not self.interval

    def __str__(self) -> str:
        if self.interval:
            return "inside our interval"
        if self.amount is None:
            return "off"
        return f"{self.amount:g}%" if self.relative else f"{self.amount:g}"


@dataclass(frozen=True)
class Tolerances:
    default: Tolerance | None = None
    per_metric: dict = field(default_factory=dict)     # metric -> Tolerance

    def for_metric(self, metric: str) -> Tolerance | None:
        return self.per_metric.get(metric, self.default)


def _amount(text: str, item: str) -> Tolerance:
    relative = text.endswith("%")
    number = text[:-1] if relative else text
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"'{item}': expected a number, a percentage or 'off'") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"'{item}': the tolerance must be a finite number >= 0")
    return Tolerance(value, relative)


def parse_tolerances(values) -> Tolerances:
    """The ``--check-paper`` values -> Tolerances; ValueError with a one-line reason."""
    default, per_metric = None, {}
    for value in values:
        for item in (part.strip() for part in str(value).split(",")):
            if not item:
                raise ValueError(f"empty item in '{value}'")
            if "=" not in item:
                if item.endswith("%"):
                    raise ValueError(f"'{item}': a percentage needs a metric (gflops={item})")
                if default is not None:
                    raise ValueError(f"two default tolerances ('{default}' and '{item}')")
                default = _amount(item, item)
                continue
            name, _, amount = (s.strip() for s in item.partition("="))
            metric = _ALIASES.get(name.lower())
            if metric is None:
                raise ValueError(f"'{name}' is no report metric (use one of: {', '.join(METRICS)})")
            if metric in per_metric:
                raise ValueError(f"{metric} is given twice")
            if amount.lower() == "ci":
                if metric not in _INTERVAL_METRICS:
                    raise ValueError(f"'{item}': only {', '.join(_INTERVAL_METRICS)} have intervals over test images")
                per_metric[metric] = Tolerance(None, interval=True)
                continue
            per_metric[metric] = Tolerance(None) if amount.lower() == "off" else _amount(amount, item)
    return Tolerances(default, per_metric)


class PaperDifference(NamedTuple):
    row: str        # "section / label"
    column: str     # "group metric"
    paper: float
    ours: float
    diff: float     # |ours - paper|
    allowed: float = 0.0
    interval: tuple | None = None   # (low, high) when the check was "inside our interval"

    def __str__(self) -> str:
        if self.interval is not None:
            low, high = self.interval
            return (f"{self.row} | {self.column}: paper {self.paper:g} outside our interval "
                    f"[{low:.2f}, {high:.2f}] (ours {self.ours:.2f})")
        return (f"{self.row} | {self.column}: paper {self.paper:g}, ours {self.ours:.2f}, "
                f"|diff| {self.diff:.2f} > {self.allowed:.2f}")


class MissingCell(NamedTuple):
    row: str
    column: str
    paper: float
    why: str        # "no result (2 pending, 1 failed)", "1 of 3 seeds"

    def __str__(self) -> str:
        return f"{self.row} | {self.column}: paper {self.paper:g}, ours {self.why}"


@dataclass
class PaperCheck:
    compared: int = 0                                   # cells with both numbers, tolerance applied
    differences: list = field(default_factory=list)     # PaperDifference beyond tolerance
    missing: list = field(default_factory=list)         # MissingCell: should be compared, cannot be
    not_comparable: dict = field(default_factory=dict)  # metric -> (cells, why)
    switched_off: dict = field(default_factory=dict)    # metric -> cells not compared on request
    per_metric: dict = field(default_factory=dict)      # metric -> cells compared

    def passed(self, allow_missing: bool = False) -> bool:
        return self.compared > 0 and not self.differences and (allow_missing or not self.missing)

    def summary(self, tolerances: Tolerances) -> str:
        parts = [f"{n} {m} (tolerance {tolerances.for_metric(m)})" for m, n in self.per_metric.items()]
        text = f"compared {self.compared} cells with the paper" + (f": {', '.join(parts)}" if parts else "")
        text += f"; {len(self.differences)} beyond tolerance, {len(self.missing)} without a number of ours"
        for metric, (cells, why) in self.not_comparable.items():
            text += f"; {cells} {metric} not comparable ({why})"
        for metric, cells in self.switched_off.items():
            text += f"; {cells} {metric} not compared ({metric}=off)"
        return text


def _why_missing(cell, row) -> str:
    if cell.ours is not None:
        return f"from {cell.n} of {cell.n_expected} seeds"
    states = ", ".join(f"{n} {state}" for state, n in sorted(row.states.items()))
    return f"none yet (the row's runs: {states})" if states else "none (the records hold no such number)"


def uncovered_metrics(table, tolerances: Tolerances) -> list[str]:
    """Metrics with a paper number in the table but no tolerance given."""
    return sorted({column.metric for row in table.rows if not row.paper_only
                   for column, cell in zip(table.columns, row.cells)
                   if cell.paper is not None and cell.n_expected and tolerances.for_metric(column.metric) is None
                   and (column.metric != "latency_ms" or table.latency_comparable)})


def compare_with_paper(table, tolerances: Tolerances) -> PaperCheck:
    """Every cell with a paper number and a run of ours behind it, against its metric's tolerance."""
    check = PaperCheck()
    for row in table.rows:
        if row.paper_only:
            continue
        name = " / ".join(str(p) for p in (row.section, row.label) if p is not None)
        for column, cell in zip(table.columns, row.cells):
            if cell.paper is None or cell.n_expected == 0:
                continue
            metric = column.metric
            where = f"{column.group_title} {metric}" if column.group_title else metric
            tolerance = tolerances.for_metric(metric)
            if tolerance is not None and tolerance.off:
                check.switched_off[metric] = check.switched_off.get(metric, 0) + 1
                continue
            if metric == "latency_ms" and cell.ours is not None and not table.latency_comparable:
                cells, _ = check.not_comparable.get(metric, (0, ""))
                device = (table.latency or {}).get("device", "?")
                paper_device = table.paper.latency_device if table.paper else None
                check.not_comparable[metric] = (cells + 1, f"ours on {device}, the paper's on {paper_device or 'a GPU'}")
                continue
            if cell.missing or cell.partial:
                check.missing.append(MissingCell(name, where, cell.paper, _why_missing(cell, row)))
            if cell.ours is None:
                continue
            if tolerance.interval:
                if cell.ci_low is None or cell.ci_high is None:
                    check.missing.append(MissingCell(name, where, cell.paper,
                                                     "without an interval (no per-image evidence in its records)"))
                    continue
                check.compared += 1
                check.per_metric[metric] = check.per_metric.get(metric, 0) + 1
                if not cell.ci_low - 1e-9 <= cell.paper <= cell.ci_high + 1e-9:
                    check.differences.append(PaperDifference(name, where, cell.paper, cell.ours,
                                                             abs(cell.ours - cell.paper),
                                                             interval=(cell.ci_low, cell.ci_high)))
                continue
            check.compared += 1
            check.per_metric[metric] = check.per_metric.get(metric, 0) + 1
            diff, allowed = abs(cell.ours - cell.paper), tolerance.limit(cell.paper)
            if diff > allowed + 1e-9:      # the paper's numbers are printed rounded; no float noise
                check.differences.append(PaperDifference(name, where, cell.paper, cell.ours, diff, allowed))
    return check
