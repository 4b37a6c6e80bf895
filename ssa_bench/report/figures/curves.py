"""Fig. 5: validation mIoU against training iteration, from each run's recorded curve
(record.json `curve`, the validations during training), one panel per dataset as in the paper.

Baseline rows are dashed, SSA rows solid, the spec's full-SSA row drawn thickest.
"""
from __future__ import annotations

from ssa_bench.report.figures.inputs import Missing, main_ssa_run
from ssa_bench.report.figures.output import Provenance, iteration_axis, note_panel, save_figure

NAME = "fig5_curves"


def draw_curves(panels: dict[str, list[tuple[str, list[dict], dict]]]):
    """panels: {title: [(label, curve, style kwargs), ...]} -> Figure."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for axis, (title, lines) in zip(axes[0], panels.items()):
        if not lines:
            note_panel(axis, f"{title}: no run has a validation curve")
            continue
        for label, curve, style in lines:
            points = sorted((int(p["iter"]), float(p["mIoU"])) for p in curve)
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
                      label=label, **style)
        iteration_axis(axis, [int(p["iter"]) for _, curve, _ in lines for p in curve])
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("iteration")
        axis.set_ylabel("validation mIoU (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def make(ctx) -> list:
    from ssa_bench.vocabulary.names import DATASETS

    main = main_ssa_run(ctx.data)
    provenance = Provenance(NAME, ctx.spec_name)
    panels: dict[str, list] = {}
    for run in ctx.data:
        info = DATASETS.get(run.dataset)
        title = info.title if info else run.dataset
        panels.setdefault(title, [])
        try:
            curve = run.recorded("curve", "validation curve")
        except Missing as missing:
            provenance.notes.append(str(missing))
            continue
        provenance.use(run, "record.json")
        style = ({"linestyle": "--", "color": "0.3"} if not run.is_ssa
                 else {"linewidth": 2.4 if run is main else 1.2})
        label = run.label if run.is_ssa or "baseline" in run.label.lower() else f"{run.label} (baseline)"
        panels[title].append((label, curve, style))
    if not provenance.runs:
        raise Missing("; ".join(provenance.notes) or "the spec has no runs")
    figure = draw_curves(panels)
    return save_figure(figure, ctx.out_dir, NAME, provenance)
