"""Gains with their intervals, one line per row (a forest plot), for any table with a baseline row.

One panel per accuracy column of the report table (per dataset when it pivots): each non-baseline
row's gain over its section's baseline row, with the paired bootstrap interval over the test images
(report/intervals.py) as a bar; a row without per-image evidence is drawn as a hollow point with no
bar (and named in the sidecar's notes). The zero line is the baseline. Numbers come from the same
table model the report prints, so figure and table cannot disagree.
"""
from __future__ import annotations

import textwrap

from ssa_bench.vocabulary.metrics import ACCURACY_METRICS
from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.output import Provenance, note_panel, save_figure

NAME = "fig_gain_forest"


def forest_rows(table) -> list[tuple[str, list[tuple[str, float, float | None, float | None, float | None]]]]:
    """[(panel title, [(row label, gain, low, high, p), ...]), ...] for every accuracy column."""
    panels = []
    for index, column in enumerate(table.columns):
        if column.metric not in ACCURACY_METRICS:
            continue
        lines = []
        for row in table.rows:
            cell = row.cells[index]
            if row.is_baseline or row.paper_only or cell.gain is None:
                continue
            label = f"{row.section} / {row.label}" if row.section else str(row.label)
            lines.append((label, cell.gain, cell.gain_low, cell.gain_high, cell.gain_p))
        title = f"{column.group_title} {column.metric}" if column.group_title else column.metric
        panels.append((title, lines))
    return panels


def draw_forest(table):
    import matplotlib.pyplot as plt

    panels = forest_rows(table)
    height = max(2.4, 0.32 * max((len(lines) for _, lines in panels), default=1) + 1.2)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), height), squeeze=False)
    baselines = ", ".join(sorted(set(table.baseline_rows.values())))
    for axis, (title, lines) in zip(axes[0], panels):
        if not lines:
            note_panel(axis, f"{title}: no row with a gain yet")
            continue
        ys = list(range(len(lines)))[::-1]
        for y, (label, gain, low, high, p) in zip(ys, lines):
            if low is None:
                axis.plot([gain], [y], marker="o", markerfacecolor="white", color="0.4", linestyle="none")
                continue
            colour = "tab:green" if low > 0 else "tab:red" if high < 0 else "0.35"
            axis.errorbar([gain], [y], xerr=[[gain - low], [high - gain]], fmt="o", color=colour, capsize=3,
                          markersize=4)
            axis.annotate(f"p={p:.3g}", (high, y), xytext=(4, 0), textcoords="offset points", va="center",
                          fontsize=7, color="0.3")
        axis.margins(x=0.18)           # room for the p-value printed right of each interval
        axis.axvline(0.0, color="0.3", linestyle="--", linewidth=1)
        axis.set_yticks(ys, [label for label, *_ in lines], fontsize=8)
        axis.set_xlabel(f"gain over {baselines} (points)")
        axis.set_title(title, fontsize=9)
        axis.grid(axis="x", alpha=0.3)
    level = table.interval_facts.get("level")
    subtitle = (f"{level:.0%} paired bootstrap intervals over test images; hollow: no per-image evidence"
                if level else "no per-image evidence: points only")
    # Wrapped to the figure's width: a one-panel figure is narrower than a table's title.
    width = max(50, int(4.6 * len(panels) * 15))
    figure.suptitle("\n".join(textwrap.wrap(f"{table.title} -- {subtitle}", width)), fontsize=9)
    figure.tight_layout()
    return figure


def applies(ctx) -> bool:
    return getattr(ctx, "spec", None) is not None


def make(ctx) -> list:
    from ssa_bench.report.api import report_table

    if not applies(ctx):
        raise Missing("no spec to build the table from")
    table = report_table(ctx.spec, ctx.runs, ctx.store)
    panels = forest_rows(table)
    if not any(lines for _, lines in panels):
        raise Missing("no row has a gain over its baseline row yet (run the spec first)")
    provenance = Provenance(NAME, ctx.spec_name)
    for data in ctx.data:
        if data.run.id in {run_id for row in table.rows for run_id in row.run_ids}:
            provenance.use(data, "record.json")
    provenance.details = {"intervals": table.interval_facts,
                          "gains": {title: [{"row": label, "gain": gain, "ci_low": low, "ci_high": high, "p": p}
                                            for label, gain, low, high, p in lines] for title, lines in panels}}
    provenance.notes += [f"{title} / {label}: no per-image evidence, no interval"
                         for title, lines in panels for label, _, low, *_ in lines if low is None]
    return save_figure(draw_forest(table), ctx.out_dir, NAME, provenance)
