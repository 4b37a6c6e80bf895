"""Fig. 4: qualitative grid -- image, ground truth, baseline prediction, SSA prediction -- for the
dumped validation images (the same first images of the validation set for every run).

Colours come from a fixed palette indexed by class, so a class has one colour in every figure and
every run; ignored pixels (255) are black.
"""
from __future__ import annotations

import numpy as np

from ssa_bench.report.figures.inputs import Missing, class_names, main_ssa_run, same_dataset_baseline
from ssa_bench.report.figures.output import Provenance, save_figure

NAME = "fig4_qualitative"
IGNORE = 255


def palette(num_classes: int) -> np.ndarray:
    """(256, 3) uint8: classes from matplotlib's tab20 (then a fixed hue walk), 255 black."""
    import colorsys

    from matplotlib import colormaps

    table = np.zeros((256, 3), dtype=np.uint8)
    tab20 = colormaps["tab20"].colors
    for index in range(min(num_classes, 255)):
        if index < len(tab20):
            rgb = tab20[index]
        else:
            # golden-ratio hue steps: distinct and the same on every call
            rgb = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.65, 0.9)
        table[index] = np.round(np.asarray(rgb) * 255).astype(np.uint8)
    return table


def colourise(label: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[np.clip(label.astype(np.int64), 0, 255)]


def draw_grid(images: np.ndarray, gt: np.ndarray, predictions: list[tuple[str, np.ndarray]],
              names=None, class_list=None):
    """Rows = images; columns = image, ground truth, then each (title, (N, H, W) prediction)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    num_classes = int(max([gt[gt != IGNORE].max(initial=0)] + [p.max(initial=0) for _, p in predictions])) + 1
    if class_list is not None:
        num_classes = max(num_classes, len(class_list))
    class_list = class_list or class_names("", num_classes)
    table = palette(num_classes)
    columns = 2 + len(predictions)
    figure, axes = plt.subplots(len(images), columns, figsize=(2.1 * columns, 2.1 * len(images) + 0.6),
                                squeeze=False)
    titles = ["image", "ground truth"] + [title for title, _ in predictions]
    for row, axis_row in enumerate(axes):
        panels = [images[row], colourise(gt[row], table)] + [colourise(p[row], table) for _, p in predictions]
        for column, (axis, panel) in enumerate(zip(axis_row, panels)):
            axis.imshow(panel, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[column], fontsize=8)
        if names is not None:
            axis_row[0].set_ylabel(str(names[row]), fontsize=7)
    present = sorted({int(v) for v in np.unique(gt) if v != IGNORE}
                     | {int(v) for _, p in predictions for v in np.unique(p) if v != IGNORE})
    handles = [Patch(color=table[c] / 255, label=class_list[c]) for c in present if c < len(class_list)]
    handles.append(Patch(color="black", label="ignored"))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    figure.subplots_adjust(bottom=0.08)
    return figure


def column_title(role: str, label: str) -> str:
    """A prediction column's header: the row label, with its role above it unless the label
    says it already ("Baseline", "SSA (Ours)"), so no header reads "baseline / Baseline"."""
    return label if role.lower() in label.lower() else f"{role}\n{label}"


def make(ctx) -> list:
    ssa = main_ssa_run(ctx.data)
    baseline = same_dataset_baseline(ctx.data, ssa)
    if ssa is None or baseline is None:
        raise Missing("the spec needs a baseline run and an SSA run of the same model and dataset "
                      f"(has {'an' if ssa else 'no'} SSA run, {'a' if baseline else 'no'} matching baseline)")
    base_dump, ssa_dump = baseline.npz("predictions"), ssa.npz("predictions")
    if list(base_dump["names"]) != list(ssa_dump["names"]):
        raise Missing(f"{baseline.describe()} and {ssa.describe()} dumped different images")
    provenance = Provenance(NAME, ctx.spec_name)
    provenance.use(baseline, "dump/predictions.npz")
    provenance.use(ssa, "dump/predictions.npz")
    provenance.details.update(images=[str(n) for n in ssa_dump["names"]], baseline=baseline.id, ssa=ssa.id)
    names = ssa.class_names(int(max(ssa_dump["gt"][ssa_dump["gt"] != IGNORE].max(initial=0),
                                             ssa_dump["pred"].max(), base_dump["pred"].max())) + 1)
    figure = draw_grid(ssa_dump["images"], ssa_dump["gt"],
                       [(column_title("baseline", baseline.label), base_dump["pred"]),
                        (column_title("SSA", ssa.label), ssa_dump["pred"])],
                       names=ssa_dump["names"], class_list=names)
    return save_figure(figure, ctx.out_dir, NAME, provenance)
