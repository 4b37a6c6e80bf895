"""The prototype t-SNE figure (fig1_prototypes_tsne) from a classifier's analysis arrays."""
from __future__ import annotations

import numpy as np
import pytest

from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.output import use_file_backend
from ssa_bench.report.figures.prototype_tsne import draw_panel


def _analysis(k=3, m=4, d=8):
    rng = np.random.default_rng(0)
    label = np.zeros((2, 6, 6), dtype=np.int64)
    label[0, :3] = 1
    label[0, 3:, :2] = 255
    return {"features": rng.normal(size=(2, d, 6, 6)), "label": label,
            "prototypes": rng.normal(size=(k, m, d)), "metric": "cosine", "classifier": "protoseg"}


def test_a_panel_embeds_the_class_pixels_with_that_class_prototypes():
    use_file_backend()
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    info = draw_panel(axis, _analysis(), image_index=0, cls=1)
    assert info == {"pixels": 18, "prototypes": 4, "metric": "cosine"}
    drawn = [collection.get_offsets().shape[0] for collection in axis.collections]
    assert drawn == [18, 4]
    plt.close(figure)


def test_a_class_without_pixels_is_a_missing_input_not_a_crash():
    use_file_backend()
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    with pytest.raises(Missing, match="class 2 has no pixels"):
        draw_panel(axis, _analysis(), image_index=0, cls=2)
    plt.close(figure)
