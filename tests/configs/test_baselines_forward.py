"""Every baseline builds from its recipe and runs one forward at its paper input size on the CPU,
without and (when the SSA module is installed) with SSA. Random init; the general models are
big (seconds per forward), so they are marked slow."""
from __future__ import annotations


import pytest
import torch

from ssa_bench.catalog import BASELINES
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.efficiency.inference import InferenceGraph  # noqa: E402
from ssa_bench.configs import build_model_config  # noqa: E402
from ssa_bench.stages.measure import build_segmentor, resolved_ssa_settings  # noqa: E402
from ssa_bench.efficiency.inference import prepare_for_inference  # noqa: E402


def _cases():
    for name, info in sorted(BASELINES.items()):
        if not info.available:
            continue
        marks = [] if info.family == "lightweight" else [pytest.mark.slow]
        for ssa in (False, True):
            yield pytest.param(name, ssa, marks=marks,
                               id=f"{name}{'+ssa' if ssa else ''}")


@pytest.mark.parametrize("name, ssa", list(_cases()))
def test_forward_at_paper_input_size(name, ssa):
    # PASCAL-Context's 480x480 for the lightweight models (their cheaper size), ADE20K's 512x512
    # for the general ones.
    dataset, size, classes = (("pascal_context59", 480, 59) if BASELINES[name].family == "lightweight"
                              else ("ade20k", 512, 150))
    run_config = {"baseline": name, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings("paper") if ssa else {"enabled": False}}
    model = prepare_for_inference(build_segmentor(*build_model_config(run_config)))
    head = model.decode_head[-1] if isinstance(model.decode_head, torch.nn.ModuleList) \
        else model.decode_head
    assert (type(head).__name__ == "SSAHead") == ssa
    image = torch.randn(1, 3, size, size)
    with torch.no_grad():
        logits = InferenceGraph(model, (size, size))(image)
    assert logits.shape == (1, classes, size, size)
    assert torch.isfinite(logits).all()
    if ssa:
        # SSA was applied, not only wrapped: the same weights through the head's own 1x1
        # classifier give other logits.
        head.head.cls_seg = lambda features: head.head.conv_seg(features)
        with torch.no_grad():
            plain = InferenceGraph(model, (size, size))(image)
        assert not torch.allclose(logits, plain, atol=1e-4)
