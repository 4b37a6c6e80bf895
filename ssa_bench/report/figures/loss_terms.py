"""Fig. 5's companion: every logged training loss term against iteration, one panel per run
(record.json ``loss_curves``), so a user sees which term dominates the total and which ones move.

Each panel draws the total ``loss`` (black, thick) and each term of the decode head
(``decode.loss_ce``, ``decode.loss_ssa_rd`` ...) on a log scale; auxiliary heads' terms are
drawn dashed. Accuracy entries are not losses and are left out.
"""
from __future__ import annotations

import math

from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.output import Provenance, iteration_axis, plain_log_scale, save_figure

NAME = "fig5b_loss_terms"
PANEL_COLUMNS = 4


def term_series(loss_curves: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """{term: [(iter, value), ...]} of a record's ``loss_curves``, terms in first-seen order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for point in loss_curves:
        for key, value in point.items():
            if key == "iter" or "loss" not in key:
                continue
            series.setdefault(key, []).append((int(point["iter"]), float(value)))
    return series


def short_name(term: str) -> str:
    """``decode.loss_ssa_rd`` -> ``ssa_rd``, ``aux.loss_ce`` -> ``aux ce``, ``loss`` -> ``total``."""
    if term == "loss":
        return "total"
    head, _, name = term.rpartition(".")
    name = name.removeprefix("loss_")
    return name if head in ("", "decode") else f"{head} {name}"


def draw_loss_terms(panels: list[tuple[str, dict[str, list[tuple[int, float]]]]]):
    import matplotlib.pyplot as plt

    columns = min(PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    for axis in axes.flat[len(panels):]:
        axis.set_visible(False)
    # one colour per term across all panels, so a term is found at a glance in every run
    terms = sorted({term for _, series in panels for term in series if term != "loss"})
    palette = plt.get_cmap("tab20")
    colours = {term: palette(i % 20) for i, term in enumerate(terms)}
    for axis, (title, series) in zip(axes.flat, panels):
        for term, points in series.items():
            style = ({"color": "black", "linewidth": 2.2} if term == "loss"
                     else {"color": colours[term], "linewidth": 1.1,
                           "linestyle": "--" if not term.startswith(("decode.", "loss")) else "-"})
            values = [max(v, 1e-6) for _, v in points]      # log scale: zero-valued terms stay visible
            axis.plot([p[0] for p in points], values, label=short_name(term), **style)
        plain_log_scale(axis, "y")
        iteration_axis(axis, [step for points in series.values() for step, _ in points])
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("iteration")
        axis.set_ylabel("training loss")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    return figure


def make(ctx) -> list:
    provenance = Provenance(NAME, ctx.spec_name)
    panels = []
    for run in ctx.data:
        try:
            curves = run.recorded("loss_curves", "loss curves (recorded since this version; run it "
                                                  "again with --force)")
        except Missing as missing:
            provenance.notes.append(str(missing))
            continue
        provenance.use(run, "record.json")
        panels.append((run.label, term_series(curves)))
    if not panels:
        raise Missing("; ".join(provenance.notes) or "the spec has no runs")
    return save_figure(draw_loss_terms(panels), ctx.out_dir, NAME, provenance)
