"""Every baseline builds from its recipe and runs one forward at its paper input size on the CPU
with SSA, and its own classifier on the same features; the GFLOPs of both, by the paper's
convention, are checked against Tables 1-2. Random init; the general models are big (seconds
per forward), so they are marked slow."""
from __future__ import annotations


import pytest
import torch

from ssa_bench.catalog import BASELINES
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.efficiency.flops import paper_flops  # noqa: E402
from ssa_bench.efficiency.inference import InferenceGraph  # noqa: E402
from ssa_bench.report import load_paper_numbers  # noqa: E402
from ssa_bench.configs import build_model_config  # noqa: E402
from ssa_bench.stages.measure import build_segmentor, resolved_ssa_settings  # noqa: E402
from ssa_bench.efficiency.inference import prepare_for_inference  # noqa: E402


def _cases():
    for name, info in sorted(BASELINES.items()):
        if not info.available:
            continue
        marks = [] if info.family == "lightweight" else [pytest.mark.slow]
        yield pytest.param(name, marks=marks, id=name)


def _paper_input(name: str) -> tuple[str, int, int]:
    # PASCAL-Context's 480x480 for the lightweight models (their cheaper size), ADE20K's 512x512
    # for the general ones.
    return (("pascal_context59", 480, 59) if BASELINES[name].family == "lightweight"
            else ("ade20k", 512, 150))


def _decode_head(model):
    return model.decode_head[-1] if isinstance(model.decode_head, torch.nn.ModuleList) else model.decode_head


def _counted_forward(graph, image) -> tuple[torch.Tensor, float]:
    # One forward gives both the logits and the paper-count GFLOPs: the counter's own forward,
    # with the graph's output kept by a hook (a big model's forward takes seconds).
    outputs = []
    hook = graph.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
    try:
        with torch.no_grad():
            gflops = paper_flops(graph, image)
    finally:
        hook.remove()
    (logits,) = outputs
    return logits, gflops


class _Classifier(torch.nn.Module):
    """One classifier of the head alone, on the features the head gave it, for the FLOPs counter."""

    def __init__(self, head, classify) -> None:
        super().__init__()
        # The head as a submodule: the counter hooks the modules under this one, and the
        # classifier's layers (SSA's, conv_seg) live in the head.
        self.head, self.classify = head, classify

    def forward(self, features):
        return self.classify(features)


@pytest.mark.parametrize("name", list(_cases()))
def test_forward_at_paper_input_size_with_ssa_and_with_the_plain_classifier(name):
    # One forward at the paper's input size with SSA. The baseline's own 1x1 classifier (conv_seg)
    # then runs on the very features SSA classified: the backbone and head are the same weights
    # and would only compute the same features again (a ViT-Adapter-L forward is ~12 s).
    dataset, size, classes = _paper_input(name)
    paper_gflops = load_paper_numbers().gflops(name, dataset)      # None for the demo's model
    run_config = {"baseline": name, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings("paper")}
    model = prepare_for_inference(build_segmentor(*build_model_config(run_config)))
    head = _decode_head(model)
    assert type(head).__name__ == "SSAHead"
    ssa_classify, seen = head.head.cls_seg, []

    def keep_features(features):
        seen.append(features)
        return ssa_classify(features)

    head.head.cls_seg = keep_features
    image = torch.randn(1, 3, size, size)
    logits, ssa_gflops = _counted_forward(InferenceGraph(model, (size, size)), image)
    assert logits.shape == (1, classes, size, size)
    assert torch.isfinite(logits).all()
    (features,) = seen
    ssa_only = _Classifier(head, ssa_classify)
    plain_only = _Classifier(head, head.head.conv_seg)
    with torch.no_grad():
        by_ssa, plain = ssa_only(features), plain_only(features)
    assert plain.shape == by_ssa.shape == (1, classes, *features.shape[-2:])
    assert torch.isfinite(plain).all()
    # SSA was applied, not only wrapped: the same features through the 1x1 classifier differ.
    assert not torch.allclose(by_ssa, plain, atol=1e-4)
    # The paper's count (MMCV 1.x module hooks) of both models, within 5% of Tables 1-2; the
    # baseline's is the SSA model's with SSA's classifier swapped for conv_seg.
    plain_gflops = (ssa_gflops - paper_flops(ssa_only, features) + paper_flops(plain_only, features))
    assert ssa_gflops >= plain_gflops
    if paper_gflops is not None:
        assert (plain_gflops, ssa_gflops) == pytest.approx(paper_gflops, rel=0.05)


@pytest.mark.parametrize("name", list(_cases()))
def test_without_ssa_the_decode_head_is_the_baselines_own(name):
    # The config alone (building the model is the test above): no SSAHead anywhere, the classes set.
    dataset, _, classes = _paper_input(name)
    run_config = {"baseline": name, "dataset": dataset, "dataset_def": None, "ssa": {"enabled": False}}
    with_ssa = {**run_config, "ssa": resolved_ssa_settings("paper")}
    heads = _head_configs(build_model_config(run_config)[0])
    assert heads and all(h["type"] != "SSAHead" and h["num_classes"] == classes for h in heads), heads
    assert any(h["type"] == "SSAHead" for h in _head_configs(build_model_config(with_ssa)[0]))


def _head_configs(model_cfg) -> list[dict]:
    decode = model_cfg["decode_head"]
    return [dict(h) for h in (decode if isinstance(decode, (list, tuple)) else [decode])]
