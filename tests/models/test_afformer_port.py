"""The AFFormer-B port against the authors' model (dongbo811/AFFormer, ``tools/afformer.py``).

* the official key/shape manifest (468 tensors of the ImageNet ``afformer_base``) loads strictly,
  after the authors' own checkpoint handling (container, ``module.``, classifier dropped), and
  through the weights catalog's ``afformer_b`` mapping and ``StrictPretrained``;
* on deterministic synthetic weights, the port's four stage outputs agree to 1e-4 with the
  numbers recorded from one CPU run of the authors' code (tests/fixtures/afformer/README.md);
* the recipe is the authors' (GroupNorm(32) head on the last stage, AdamW 3e-4) and its
  MMCV-1.x-convention GFLOPs are the SSA paper's (4.3 at 512x512, 3.7 at 480x480).
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.models.port_fixtures import fixture_module
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import ssa_bench.models.backbones  # noqa: E402,F401  (registers the ports)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402
from ssa_bench.models.backbones.afformer import AFFormer  # noqa: E402
from ssa_bench.weights.mapping import KeyMapping  # noqa: E402
from ssa_bench.weights.strict import load_strictly  # noqa: E402

register_all_modules(init_default_scope=True)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "afformer"
MANIFEST = FIXTURES / "afformer_B_official_keys.txt"
REFERENCE = FIXTURES / "reference_outputs.json"
ATOL = 1e-4
# What the authors' segmentation setup does with the ImageNet checkpoint (mmcv 1.x
# load_checkpoint(strict=False) on the backbone): take the 'state_dict' entry (a DeiT-style
# training script saves 'model'), strip 'module.', ignore keys the backbone lacks (the
# classifier 'cls_head.cls.*' when the file holds one). No renaming.
AUTHORS_LOAD = {"unwrap": ["state_dict", "model"], "strip_prefix": ["module."],
                "drop": [r"^cls_head\."]}


sw = fixture_module("afformer", "synthetic_weights")


def _official_like_checkpoint(classifier: bool = True) -> dict:
    """What a released ImageNet checkpoint may look like around the manifest's tensors: a
    DeiT-style ``{'model': ...}`` container, DDP's ``module.`` prefix and the classifier."""
    state = OrderedDict((f"module.{k}", v) for k, v in sw.synthetic_state_dict(MANIFEST).items())
    if classifier:
        state["module.cls_head.cls.weight"] = torch.zeros(1000, 216)
        state["module.cls_head.cls.bias"] = torch.zeros(1000)
    return {"model": state, "epoch": 299}


def test_manifest_is_the_ports_state_dict():
    manifest = sw.parse_manifest(MANIFEST)
    assert len(manifest) == 468
    ours = AFFormer(arch="B").state_dict()
    # same names, same order, same shapes as the authors' model
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == manifest
    result = AFFormer(arch="B").load_state_dict(sw.synthetic_state_dict(MANIFEST), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_checkpoint_loads_strictly_after_the_authors_key_handling(tmp_path):
    path = tmp_path / "AFFormer_base_ImageNet1k.pth"
    torch.save(_official_like_checkpoint(classifier=True), path)
    backbone = AFFormer(arch="B")
    report = load_strictly(backbone, path, KeyMapping.from_dict(AUTHORS_LOAD), "AFFormer-B")
    assert report.ok and report.loaded == 468 and not report.fresh
    expected = sw.synthetic_state_dict(MANIFEST)
    assert all(torch.equal(v, expected[k]) for k, v in backbone.state_dict().items())


def test_shared_position_encodings_are_one_tensor():
    # The authors register each encoder's cpe/crpe on the encoder and on every block: the state
    # dict lists them several times, the model holds them once (2.84 M parameters, not more).
    backbone = AFFormer(arch="B")
    encoder = backbone.mhca_stages[2].mhca_blks[0]
    for layer in encoder.MHCA_layers:
        assert layer.cpe is encoder.cpe and layer.crpe is encoder.crpe
        assert layer.factoratt_crpe.crpe is encoder.crpe
    assert sum(p.numel() for p in backbone.parameters()) == 2_843_548


def test_forward_matches_the_authors_model():
    reference = json.loads(REFERENCE.read_text())
    assert reference["manifest_sha256"] == hashlib.sha256(MANIFEST.read_bytes()).hexdigest()
    state = sw.synthetic_state_dict(MANIFEST)
    image = sw.synthetic_input()
    # the generator still makes the numbers the reference run used
    assert sw.weights_checksum(state) == pytest.approx(reference["weights_checksum"], rel=1e-9)
    assert float(image.double().abs().sum()) == pytest.approx(reference["input_checksum"],
                                                              rel=1e-9)
    backbone = AFFormer(arch="B")
    backbone.load_state_dict(state, strict=True)
    with torch.no_grad():
        outputs = backbone.eval()(image)
    ours = sw.summarise(outputs)
    assert len(ours) == len(reference["outputs"]) == 4
    for stage, (got, want) in enumerate(zip(ours, reference["outputs"])):
        assert got["shape"] == want["shape"], stage
        for key in ("mean", "std", "abs_mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], abs=ATOL), (stage, key)
        for key in ("channel_means", "corner", "strided"):
            assert torch.allclose(torch.tensor(got[key]), torch.tensor(want[key]), rtol=0,
                                  atol=ATOL), (stage, key)


def test_stage_layout_and_out_indices():
    backbone = AFFormer(arch="B", out_indices=(1, 3)).eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 96, 64))
    assert [tuple(o.shape) for o in outputs] == [(1, 176, 12, 8), (1, 216, 12, 8)]
    with pytest.raises(ValueError, match="out_indices"):
        AFFormer(out_indices=(4,))


def test_recipe_is_the_authors_setting():
    recipe = baseline_recipe("afformer_b", 150)
    backbone, head = recipe.model["backbone"], recipe.model["decode_head"]
    assert (backbone["type"], backbone["arch"], backbone["drop_path_rate"]) == ("AFFormer", "B", 0.0)
    assert head["norm_cfg"] == {"type": "GN", "num_groups": 32, "requires_grad": True}
    assert (head["in_channels"], head["in_index"], head["channels"]) == ([216], [3], 256)
    assert head["dropout_ratio"] == 0.1
    optimizer = recipe.optim_wrapper["optimizer"]
    assert (optimizer["type"], optimizer["lr"], optimizer["weight_decay"],
            tuple(optimizer["betas"])) == ("AdamW", 3e-4, 0.01, (0.9, 0.999))
    assert "paramwise_cfg" not in recipe.optim_wrapper         # wd on every parameter
    warmup, poly = recipe.param_scheduler
    assert (warmup["type"], warmup["start_factor"], warmup["end"]) == ("LinearLR", 1e-6, 1500)
    assert (poly["type"], poly["power"], poly["eta_min"]) == ("PolyLR", 1.0, 0.0)

    model = MODELS.build(recipe.model)
    squeeze = model.decode_head.squeeze
    assert isinstance(squeeze.gn, nn.GroupNorm) and squeeze.gn.num_groups == 32
    assert model.decode_head.conv_seg.kernel_size == (1, 1)
    assert model.decode_head.conv_seg.in_channels == 256


def test_recipe_loads_the_checkpoint_through_the_weights_catalog(tmp_path):
    # the product path: train.pretrained -> the catalog's afformer_b mapping -> StrictPretrained
    import ssa_bench.weights.strict  # noqa: F401  (registers StrictPretrained)

    path = tmp_path / "AFFormer_base_ImageNet1k.pth"
    torch.save(_official_like_checkpoint(classifier=False), path)
    model = MODELS.build(baseline_recipe("afformer_b", 150, pretrained=str(path)).model)
    model.init_weights()
    expected = sw.synthetic_state_dict(MANIFEST)
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def test_head_takes_one_input():
    with pytest.raises(ValueError, match="one backbone output"):
        MODELS.build(dict(type="AFFormerHead", in_channels=[96, 216], in_index=[0, 3],
                          channels=256, num_classes=5))


def test_shared_modules_count_once_in_the_paper_flops():
    # MMCV 1.x sums each module's FLOPs once over model.modules(); a conv reachable from two
    # parents (as AFFormer's shared position encodings are) must not be counted twice.
    from ssa_bench.efficiency.flops import paper_flops

    shared = nn.Conv2d(4, 4, 1, bias=False)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = shared

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = Holder(), Holder()

        def forward(self, x):
            return self.a.conv(x)

    image = torch.randn(1, 4, 8, 8)
    assert paper_flops(Net(), image) * 1e9 == pytest.approx(4 * 4 * 8 * 8)


@pytest.mark.parametrize("dataset, size, classes, paper", [
    ("pascal_context59", 480, 59, 3.7),
])
def test_paper_gflops_at_pascal_context(dataset, size, classes, paper):
    # (512x512 ADE20K, 4.3 G, is tests/models/test_backbones.py's)
    from ssa_bench.efficiency.flops import paper_flops
    from ssa_bench.efficiency.inference import InferenceGraph, prepare_for_inference

    model = prepare_for_inference(MODELS.build(baseline_recipe("afformer_b", classes).model))
    graph = InferenceGraph(model, (size, size))
    assert paper_flops(graph, torch.randn(1, 3, size, size)) == pytest.approx(paper, rel=0.05)
