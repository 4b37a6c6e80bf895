"""Fig. 1 for every prototype-based classifier: t-SNE of one class's pixel features with that
class's prototypes (ProtoSeg's and DNC's sub-centroids, GMMSeg's component means, CAC's
context-aware class weights), one panel per run, so classifiers can be compared on one image.

Reads ``dump/classifier_analysis.npz`` (the dump stage writes it for runs with a ``classifier:``
block): ``features`` (N, D, h, w) at the classifier's input, ``label`` (N, h, w) at that
resolution, ``prototypes`` (K, M, D), ``metric`` ("cosine" or "euclidean", how the classifier
compares a pixel with a prototype) and ``classifier`` (its type). The image and class are those of
SSA's Fig. 1 (the first dumped image with labels, its largest class), so the panels match.
"""
from __future__ import annotations

import numpy as np

from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.output import Provenance, note_panel, save_figure
from ssa_bench.report.figures.tsne import embed, pick_image_and_class

NAME = "fig1_prototypes_tsne"
ANALYSIS = "classifier_analysis"


def applies(ctx) -> bool:
    return any((run.run.config or {}).get("classifier") for run in ctx.data)


def draw_panel(axis, analysis: dict, image_index: int, cls: int) -> dict:
    """One run's panel; returns what it drew (pixels, prototypes, metric)."""
    label = analysis["label"][image_index]
    mask = label == cls
    if not mask.any():
        raise Missing(f"class {cls} has no pixels in dumped image {image_index}")
    pixels = analysis["features"][image_index][:, mask].T                 # (n, D)
    prototypes = np.asarray(analysis["prototypes"][cls])                    # (M, D)
    metric = str(analysis.get("metric", "euclidean"))
    points = embed(np.concatenate([pixels, prototypes]), metric)
    n = len(pixels)
    axis.scatter(points[:n, 0], points[:n, 1], s=8, c="#8e5ea2", alpha=0.6, label="pixel features")
    axis.scatter(points[n:, 0], points[n:, 1], marker="*", s=200, c="#d9480f",
                 edgecolors="white", label=f"prototypes ({len(prototypes)})")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(loc="best", fontsize=7, framealpha=0.8)
    return {"pixels": int(n), "prototypes": int(len(prototypes)), "metric": metric}


def make(ctx) -> list:
    import matplotlib.pyplot as plt

    runs = [run for run in ctx.data if (run.run.config or {}).get("classifier")]
    provenance = Provenance(NAME, ctx.spec_name)
    loaded = []
    for run in runs:
        try:
            loaded.append((run, run.npz(ANALYSIS)))
            provenance.use(run, f"dump/{ANALYSIS}.npz")
        except Missing as missing:
            provenance.notes.append(str(missing))
    if not loaded:
        raise Missing("no run of a prototype classifier has dump/classifier_analysis.npz")
    image_index, cls = pick_image_and_class(loaded[0][1]["label"])
    names = loaded[0][0].class_names(loaded[0][1]["prototypes"].shape[0])
    figure, axes = plt.subplots(1, len(loaded), figsize=(4 * len(loaded), 4), squeeze=False)
    for axis, (run, analysis) in zip(axes[0], loaded):
        kind = str(analysis.get("classifier", run.run.config["classifier"]["type"]))
        try:
            info = draw_panel(axis, analysis, image_index, cls)
            axis.set_title(f"{run.label} ({kind}, {info['metric']})", fontsize=9)
            provenance.details[run.id] = info
        except Missing as missing:
            note_panel(axis, str(missing))
            provenance.notes.append(f"{run.describe()}: {missing}")
    figure.suptitle(f"t-SNE of class '{names[cls]}' on test image {image_index}: pixel features "
                    f"and the class's prototypes", fontsize=10)
    provenance.details.update({"image_index": int(image_index), "class": int(cls),
                               "class_name": names[cls]})
    return save_figure(figure, ctx.out_dir, NAME, provenance)
