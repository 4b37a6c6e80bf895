"""SSA's gain against the training schedule, for specs that vary ``train.max_iters``
(experiments/studies/schedule.yaml): when does SSA pay off?

Left: validation mIoU of every row against the run's iterations (mean over seeds, bars = one
standard deviation). Right: each SSA row's gain over the baseline row at the same schedule,
computed seed by seed (the same seed trains both) and then averaged, with the spread of those
per-seed gains; the zero line is the baseline. Everything comes from record.json metrics.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.output import Provenance, save_figure

NAME = "fig_schedule_gain"


def _iters(run) -> int:
    return int(((run.run.config or {}).get("train") or {}).get("max_iters", 0))


def schedule_table(results: list[tuple[str, bool, int, int, float]]):
    """results: (row label, is_ssa, max_iters, seed, mIoU) ->
    (mIoU {label: {iters: [values]}}, gains {ssa label: {iters: [per-seed gain]}}, baseline label)."""
    miou: dict = defaultdict(lambda: defaultdict(list))
    by_key = {}
    baselines = [label for label, is_ssa, *_ in results if not is_ssa]
    if not baselines:
        raise Missing("the spec has no baseline row (SSA disabled) to measure gains against")
    baseline = baselines[0]
    for label, _is_ssa, iters, seed, value in results:
        miou[label][iters].append(value)
        by_key[(label, iters, seed)] = value
    gains: dict = defaultdict(lambda: defaultdict(list))
    for (label, iters, seed), value in sorted(by_key.items()):
        if label == baseline or (baseline, iters, seed) not in by_key:
            continue
        gains[label][iters].append(value - by_key[(baseline, iters, seed)])
    return miou, gains, baseline


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def draw_schedule(miou: dict, gains: dict, baseline: str):
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10.4, 3.9))
    for label, points in miou.items():
        xs = sorted(points)
        stats = [_mean_std(points[x]) for x in xs]
        style = {"linestyle": "--", "color": "0.3"} if label == baseline else {}
        left.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o",
                      markersize=3, capsize=3, label=label, **style)
    for label, points in gains.items():
        xs = sorted(points)
        stats = [_mean_std(points[x]) for x in xs]
        right.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o",
                       markersize=3, capsize=3, label=label)
    right.axhline(0.0, color="0.3", linestyle="--", linewidth=1)
    schedules = sorted({x for points in miou.values() for x in points})
    for axis, ylabel in ((left, "validation mIoU (%)"), (right, f"mIoU gain over {baseline}")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(schedules, [f"{x / 1000:g}k" if x >= 1000 else str(x) for x in schedules])
        axis.minorticks_off()
        axis.set_xlabel("training iterations (each its own schedule)")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    left.set_title("mIoU (mean +- std over seeds)", fontsize=9)
    right.set_title("gain, seed by seed (mean +- std)", fontsize=9)
    figure.tight_layout()
    return figure


def applies(ctx) -> bool:
    """Only specs whose runs differ in their schedule."""
    return len({_iters(run) for run in ctx.data}) > 1


def make(ctx) -> list:
    if not applies(ctx):
        raise Missing("the spec does not vary train.max_iters")
    provenance = Provenance(NAME, ctx.spec_name)
    results = []
    for run in ctx.data:
        try:
            metrics = run.record().get("metrics") or {}
        except Missing as missing:
            provenance.notes.append(str(missing))
            continue
        if "mIoU" not in metrics:
            provenance.notes.append(f"{run.describe()}: record.json has no mIoU")
            continue
        provenance.use(run, "record.json")
        results.append((run.run.label, run.is_ssa, _iters(run), int(run.run.seed),
                        float(metrics["mIoU"])))
    if not results:
        raise Missing("; ".join(provenance.notes) or "the spec has no runs")
    miou, gains, baseline = schedule_table(results)
    return save_figure(draw_schedule(miou, gains, baseline), ctx.out_dir, NAME, provenance)
