"""Fig. 1: t-SNE of one class's pixel features on a test image, with the fixed prototype and the
adapted one marked -- the semantic side (S_f with S and S_p) and the spatial side (P_f with the
basis P and P_p).

The class is the one with the most labelled pixels of the image (at feature resolution), named in
the title. Points are embedded jointly (pixels + the two prototypes) by scikit-learn's TSNE with a
fixed random_state; the metric follows the classifier: cosine when it classifies by cosine, else
Euclidean. Absent P_f (a dump from before it was recorded), the spatial side shows S_f instead and
says so.
"""
from __future__ import annotations

import numpy as np

from ssa_bench.report.figures.inputs import Missing, class_names
from ssa_bench.report.figures.output import Provenance, note_panel, save_figure

NAME = "fig1_tsne"
RANDOM_STATE = 0


def pick_image_and_class(label: np.ndarray, ignore: int = 255) -> tuple[int, int]:
    """(image index, class) -- the first dumped image with labelled pixels, its largest class."""
    for index, image in enumerate(label):
        valid = image[(image != ignore) & (image >= 0)]
        if valid.size:
            counts = np.bincount(valid.astype(np.int64).ravel())
            return index, int(counts.argmax())
    raise Missing("no dumped image has labelled pixels")


def embed(points: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """2-D t-SNE of (n, D) points, deterministic."""
    from sklearn.manifold import TSNE

    n = len(points)
    # TSNE needs perplexity < n; small classes on a 16x16 feature map have a few dozen pixels.
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca" if metric == "euclidean" else "random",
                metric=metric, random_state=RANDOM_STATE, max_iter=500)
    return tsne.fit_transform(points.astype(np.float64))


def _panel(axis, pixels: np.ndarray, fixed: np.ndarray, adapted: np.ndarray, metric: str,
           fixed_name: str, adapted_name: str, pixel_name: str) -> None:
    points = embed(np.concatenate([pixels, fixed[None], adapted[None]]), metric)
    axis.scatter(points[:-2, 0], points[:-2, 1], s=8, c="#8e5ea2", alpha=0.6, label=pixel_name, zorder=2)
    # The two prototypes often land on one spot (S_p starts from S). The adapted one is filled and
    # drawn first; the fixed one is a hollow star drawn over it, larger, so both show when they meet.
    axis.scatter(*points[-1], marker="P", s=150, c="#d9480f", edgecolors="white", linewidths=0.8,
                 label=adapted_name, zorder=3)
    axis.scatter(*points[-2], marker="*", s=420, facecolors="none", edgecolors="#1f4e9c", linewidths=1.8,
                 label=fixed_name, zorder=4)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(loc="best", fontsize=7, framealpha=0.8)


def draw_tsne(analysis: dict, settings: dict | None = None, class_list=None, image=None,
              image_index: int | None = None, cls: int | None = None):
    """The figure for one run's analysis arrays; returns (matplotlib Figure, info dict)."""
    import matplotlib.pyplot as plt

    if "label" not in analysis:
        raise Missing("the analysis dump has no label (dumped without ground truth)")
    if "semantic_prototypes" not in analysis and "spatial_prototypes" not in analysis:
        raise Missing("the run adapts no prototypes (SEPA and SPPA both off)")
    label = analysis["label"]
    if image_index is None or cls is None:
        image_index, cls = pick_image_and_class(label)
    metric = "cosine" if (settings or {}).get("logits") == "cosine" else "euclidean"
    names = class_list or class_names("", analysis["prototypes"].shape[0])
    mask = label[image_index] == cls
    if not mask.any():
        raise Missing(f"class {cls} has no pixels in dumped image {image_index}")
    features = analysis["features"][image_index][:, mask].T          # (M, D)
    notes = []
    figure, axes = plt.subplots(1, 3, figsize=(12, 4), gridspec_kw={"width_ratios": [0.8, 1, 1]})
    if image is not None:
        axes[0].imshow(image)
        # the class's pixels, upsampled from feature resolution to the image for the outline
        scale = (image.shape[0] // mask.shape[0], image.shape[1] // mask.shape[1])
        axes[0].contour(np.kron(mask, np.ones(scale)), levels=[0.5], colors="yellow", linewidths=1)
        axes[0].set_axis_off()
        axes[0].set_title("(a) test image", fontsize=9)
    else:
        note_panel(axes[0], "no predictions.npz: image not shown")
    if "semantic_prototypes" in analysis:
        _panel(axes[1], features, analysis["prototypes"][cls], analysis["semantic_prototypes"][image_index, cls],
               metric, "fixed prototype S", "semantic prototype S_p", "pixel features S_f")
        axes[1].set_title("(b) semantic domain", fontsize=9)
    else:
        notes.append("semantic side: the run has no SEPA (no S_p)")
        note_panel(axes[1], "no semantic prototypes (SEPA off in this run)")
    if "spatial_prototypes" in analysis:
        if "position_features" in analysis:
            pixels, pixel_name = analysis["position_features"][image_index][:, mask].T, "spatial features P_f"
        else:
            pixels, pixel_name = features, "pixel features S_f (dump has no P_f)"
            notes.append("spatial side: the dump has no position_features; S_f shown")
        _panel(axes[2], pixels, analysis["position_basis"][cls], analysis["spatial_prototypes"][image_index, cls],
               metric, "position basis P", "spatial prototype P_p", pixel_name)
        axes[2].set_title("(c) spatial domain", fontsize=9)
    else:
        notes.append("spatial side: the run has no SPPA (no P_p)")
        note_panel(axes[2], "no spatial prototypes (SPPA off in this run)")
    info = {"image_index": int(image_index), "class": int(cls), "class_name": names[cls],
            "pixels": int(mask.sum()), "metric": metric, "notes": notes}
    figure.suptitle(f"t-SNE ({metric}) of class '{names[cls]}' ({info['pixels']} pixels at feature "
                    f"resolution) on test image {image_index}", fontsize=10)
    return figure, info


def make(ctx) -> list:
    from ssa_bench.report.figures.inputs import main_ssa_run

    run = main_ssa_run(ctx.data)
    if run is None:
        raise Missing("the spec has no SSA run")
    analysis = run.npz("ssa_analysis")
    provenance = Provenance(NAME, ctx.spec_name)
    provenance.use(run, "dump/ssa_analysis.npz")
    image = None
    try:
        predictions = run.npz("predictions")
        image_index, cls = pick_image_and_class(analysis["label"])
        image = predictions["images"][image_index]
        provenance.use(run, "dump/predictions.npz")
    except Missing as missing:
        provenance.notes.append(str(missing))
    names = run.class_names(analysis["prototypes"].shape[0])
    figure, info = draw_tsne(analysis, run.ssa, names, image=image)
    provenance.notes.extend(info.pop("notes"))
    provenance.details.update(info)
    figure.suptitle(f"{run.label} [{run.id}]: " + figure._suptitle.get_text(), fontsize=10)
    return save_figure(figure, ctx.out_dir, NAME, provenance)
