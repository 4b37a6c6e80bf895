"""Every baseline builds from its recipe with SSA. At its paper input size, the GFLOPs with SSA and
with its own classifier, by the paper's convention, are checked against Tables 1-2; a real forward
on the CPU checks that SSA classifies, on the features the head gives it, differently from the
baseline's own classifier. Random init; building a general model's weights takes seconds, so
the real forward of those is marked slow."""
from __future__ import annotations

import contextlib

import pytest
import torch

from ssa_bench.vocabulary.names import BASELINES
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.efficiency.flops import paper_flops  # noqa: E402
from ssa_bench.efficiency.inference import InferenceGraph  # noqa: E402
from ssa_bench.report import load_paper_numbers  # noqa: E402
from ssa_bench.configs import build_model_config  # noqa: E402
from ssa_bench.stages.measure import build_segmentor, resolved_ssa_settings  # noqa: E402
from ssa_bench.efficiency.inference import prepare_for_inference  # noqa: E402

# The real forward's input: a multiple of every backbone's largest stride (32) and of the
# ViT-Adapter's patch (16), small enough for a ViT-L forward in under a second.
REAL_FORWARD_SIZE = 128


@contextlib.contextmanager
def _parameters_on_meta():
    """Within the block every parameter and buffer a module registers goes to the meta device
    (torch's global registration hooks): a model is built with shapes and no weights. Only
    registration is redirected, because constructors also compute on real tensors (drop-path
    rates from ``torch.linspace(...).item()``), which a whole ``torch.device("meta")`` refuses."""
    from torch.nn.modules.module import (register_module_buffer_registration_hook,
                                         register_module_parameter_registration_hook)

    def parameter_on_meta(_module, _name, param):
        return torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    def buffer_on_meta(_module, _name, tensor):
        return None if tensor is None else tensor.to("meta")     # None: the registration as is

    handles = [register_module_parameter_registration_hook(parameter_on_meta),
               register_module_buffer_registration_hook(buffer_on_meta)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _names() -> list[str]:
    return [name for name, info in sorted(BASELINES.items()) if info.available]


def _cases():
    for name in _names():
        marks = [] if BASELINES[name].family == "lightweight" else [pytest.mark.slow]
        yield pytest.param(name, marks=marks, id=name)


def _paper_input(name: str) -> tuple[str, int, int]:
    # PASCAL-Context's 480x480 for the lightweight models (their cheaper size), ADE20K's 512x512
    # for the general ones.
    return (("pascal_context59", 480, 59) if BASELINES[name].family == "lightweight"
            else ("ade20k", 512, 150))


def _with_ssa(name: str, dataset: str):
    run_config = {"baseline": name, "dataset": dataset, "dataset_def": None,
                  "ssa": resolved_ssa_settings("paper")}
    model = prepare_for_inference(build_segmentor(*build_model_config(run_config)))
    head = model.decode_head[-1] if isinstance(model.decode_head, torch.nn.ModuleList) else model.decode_head
    assert type(head).__name__ == "SSAHead"
    return model, head


def _keep_features(head) -> tuple[list, object]:
    """Make the head's classifier keep the features it is given; returns (kept, the classifier)."""
    ssa_classify, seen = head.head.cls_seg, []

    def keep_features(features):
        seen.append(features)
        return ssa_classify(features)

    head.head.cls_seg = keep_features
    return seen, ssa_classify


class _Classifier(torch.nn.Module):
    """One classifier of the head alone, on the features the head gave it, for the FLOPs counter."""

    def __init__(self, head, classify) -> None:
        super().__init__()
        # The head as a submodule: the counter hooks the modules under this one, and the
        # classifier's layers (SSA's, conv_seg) live in the head.
        self.head, self.classify = head, classify

    def forward(self, features):
        return self.classify(features)


def _counted_forward(graph, image) -> tuple[torch.Tensor, float]:
    # One forward gives both the logits and the paper-count GFLOPs: the counter's own forward,
    # with the graph's output kept by a hook.
    outputs = []
    hook = graph.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
    try:
        with torch.no_grad():
            gflops = paper_flops(graph, image)
    finally:
        hook.remove()
    (logits,) = outputs
    return logits, gflops


@pytest.mark.parametrize("name", _names())
def test_paper_gflops_at_the_paper_input_size_with_ssa_and_with_the_plain_classifier(name):
    # Counted on the meta device: the paper's count is module hooks reading tensor shapes, so it
    # is the same number without the arithmetic (ViT-Adapter-L at 512x512: 616.52 G either way),
    # and a forward at 512x512 takes milliseconds instead of up to 12 s. SSA's classifier and
    # the baseline's conv_seg are counted on the features SSA was given; the baseline's count is
    # the SSA model's with SSA's classifier swapped for conv_seg.
    dataset, size, classes = _paper_input(name)
    paper_gflops = load_paper_numbers().gflops(name, dataset)      # None for the demo's model
    with _parameters_on_meta():
        model, head = _with_ssa(name, dataset)
    with torch.device("meta"):
        seen, ssa_classify = _keep_features(head)
        logits, ssa_gflops = _counted_forward(InferenceGraph(model, (size, size)), torch.empty(1, 3, size, size))
        (features,) = seen
        plain_gflops = (ssa_gflops - paper_flops(_Classifier(head, ssa_classify), features)
                        + paper_flops(_Classifier(head, head.head.conv_seg), features))
    assert logits.is_meta and logits.shape == (1, classes, size, size)
    assert ssa_gflops > plain_gflops > 0
    if paper_gflops is not None:
        # The paper's count (MMCV 1.x module hooks) of both models, within 5% of Tables 1-2.
        assert (plain_gflops, ssa_gflops) == pytest.approx(paper_gflops, rel=0.05)


@pytest.mark.parametrize("name", list(_cases()))
def test_a_real_forward_with_ssa_classifies_unlike_the_plain_classifier(name):
    # Random weights, a real forward on the CPU; then the baseline's own 1x1 classifier (conv_seg)
    # on the very features SSA classified (the backbone and head would only compute them again).
    dataset, _, classes = _paper_input(name)
    size = REAL_FORWARD_SIZE
    model, head = _with_ssa(name, dataset)
    seen, ssa_classify = _keep_features(head)
    with torch.no_grad():
        logits = InferenceGraph(model, (size, size))(torch.randn(1, 3, size, size))
        (features,) = seen
        by_ssa, plain = ssa_classify(features), head.head.conv_seg(features)
    assert logits.shape == (1, classes, size, size) and torch.isfinite(logits).all()
    assert plain.shape == by_ssa.shape == (1, classes, *features.shape[-2:])
    assert torch.isfinite(plain).all()
    # SSA was applied, not only wrapped: the same features through the 1x1 classifier differ.
    assert not torch.allclose(by_ssa, plain, atol=1e-4)


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
