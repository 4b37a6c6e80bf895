"""Issue 25, measured case 5: what a reader of each figure saw, read off matplotlib's Axes.

fig5 with one validation point spanned 19.0-21.0; fig4's headers read "baseline / Baseline";
fig5b's log axes read "1.3x10^0"; fig1's fixed-prototype star was hidden under S_p.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ssa_bench.report.figures.curves import draw_curves  # noqa: E402
from ssa_bench.report.figures.loss_terms import draw_loss_terms  # noqa: E402
from ssa_bench.report.figures.qualitative import column_title, draw_grid  # noqa: E402
from ssa_bench.report.figures.tsne import _panel  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def tick_texts(axis, which: str = "x", minor: bool = False) -> list[str]:
    axis.figure.canvas.draw()
    labels = axis.get_xticklabels(minor=minor) if which == "x" else axis.get_yticklabels(minor=minor)
    return [label.get_text() for label in labels if label.get_text()]


def visible_ticks(axis) -> list[float]:
    low, high = axis.get_xlim()
    return [tick for tick in axis.get_xticks() if low <= tick <= high]


@pytest.mark.parametrize("iters", [[20], [10, 20], [500, 1000, 1500, 2000]])
def test_fig5_iteration_axis_starts_at_zero_with_integer_ticks(iters):
    curve = [{"iter": i, "mIoU": 30.0 + k} for k, i in enumerate(iters)]
    figure = draw_curves({"Demo shapes": [("SSA (Ours)", curve, {})]})
    axis = figure.axes[0]
    low, high = axis.get_xlim()
    assert low == 0 and iters[-1] <= high <= iters[-1] * 1.1, (low, high)
    ticks = visible_ticks(axis)
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    assert all("." not in text for text in tick_texts(axis)), tick_texts(axis)


def test_fig5b_log_axis_reads_plain_numbers():
    # a total loss between 1.1 and 1.6: less than a decade, where matplotlib labels minor ticks
    # as "$1.3\times10^{0}$"
    series = {"loss": [(i, 1.6 - 0.05 * i) for i in range(1, 11)],
              "decode.loss_ce": [(i, 1.5 - 0.04 * i) for i in range(1, 11)]}
    figure = draw_loss_terms([("SSA (Ours)", series)])
    axis = figure.axes[0]
    texts = tick_texts(axis, "y") + tick_texts(axis, "y", minor=True)
    assert texts, "the log axis has no labelled ticks"
    for text in texts:
        float(text)                             # plain numbers only: no mathtext, no x10^
    assert {"1.2", "1.4"} <= set(texts), texts
    assert axis.get_xlim()[0] == 0


def test_fig5b_log_axis_over_decades_stays_plain():
    series = {"loss": [(i, 5.0 / i) for i in range(1, 21)], "decode.loss_ssa_rd": [(i, 1e-6) for i in range(1, 21)]}
    axis = draw_loss_terms([("run", series)]).axes[0]
    texts = tick_texts(axis, "y") + tick_texts(axis, "y", minor=True)
    assert "1" in texts and all("times" not in t and "^" not in t and "$" not in t for t in texts), texts


def test_fig4_headers_do_not_repeat_the_role():
    assert column_title("baseline", "Baseline") == "Baseline"
    assert column_title("SSA", "SSA (Ours)") == "SSA (Ours)"
    assert column_title("SSA", "+ SEPA + SPPA") == "SSA\n+ SEPA + SPPA"
    images = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    gt = np.zeros((1, 8, 8), dtype=np.uint8)
    figure = draw_grid(images, gt, [(column_title("baseline", "Baseline"), gt), (column_title("SSA", "SSA (Ours)"), gt)])
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["image", "ground truth", "Baseline", "SSA (Ours)"]
    for title in titles:
        words = [w.lower() for w in title.split()]
        assert len(words) == len(set(words)), title


def test_fig4_headers_from_recorded_runs(figure_runs, tmp_path):
    """The real figure of the shared trained runs ("Baseline" and "SSA (Ours)")."""
    import matplotlib.pyplot as plt

    from ssa_bench.report.figures import qualitative
    from ssa_bench.report.figures.inputs import run_data

    _, _, runs, store = figure_runs
    titles = []
    original = qualitative.save_figure

    def keep_titles(figure, *args):
        titles.extend(axis.get_title() for axis in figure.axes if axis.get_title())
        return original(figure, *args)

    context = type("Ctx", (), {"spec_name": "t", "data": run_data(runs, store), "out_dir": tmp_path})()
    qualitative.save_figure = keep_titles
    try:
        qualitative.make(context)
    finally:
        qualitative.save_figure = original
        plt.close("all")
    headers = titles[2:4]
    assert len(headers) == 2 and not any(h.lower().startswith("baseline\nbaseline") for h in headers), headers
    assert all(len(set(h.lower().split())) == len(h.split()) for h in headers), headers


def _prototype_collections(axis):
    by_label = {collection.get_label(): collection for collection in axis.collections}
    return by_label["pixels"], by_label["fixed S"], by_label["adapted S_p"]


def test_fig1_fixed_star_shows_over_a_coinciding_adapted_prototype():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    pixels = rng.normal(size=(40, 8))
    prototype = pixels.mean(axis=0)
    figure, axis = plt.subplots()
    # S_p equal to S: the two embed on one point, the case the measured figure showed
    _panel(axis, pixels, prototype, prototype.copy(), "euclidean", "fixed S", "adapted S_p", "pixels")
    pixel_dots, star, adapted = _prototype_collections(axis)
    # drawn above the pixels, the star above the adapted prototype ...
    assert pixel_dots.get_zorder() < adapted.get_zorder() < star.get_zorder()
    # ... and hollow, so the adapted one underneath is seen through it; larger, so its outline
    # reaches past the adapted marker
    assert np.all(star.get_facecolors()[:, 3] == 0), star.get_facecolors()
    assert star.get_sizes()[0] > adapted.get_sizes()[0]
    assert np.all(adapted.get_facecolors()[:, 3] > 0)
    figure.canvas.draw()
    legend = [text.get_text() for text in axis.get_legend().get_texts()]
    assert set(legend) == {"pixels", "fixed S", "adapted S_p"}
