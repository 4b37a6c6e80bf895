"""The SeaFormer-B/L ports against the authors' model (fudan-zvg/SeaFormer).

* the official classification checkpoints' key/shape manifests (shared/reference/official-keys)
  load strictly into the port's backbone once the classifier (``linear.*``) is dropped;
* from the same seeded weights and input, the port's backbone and light head give the outputs
  the authors' code gave (tests/fixtures/seaformer/authors_outputs.json, README there) to 1e-4;
* the recipe is the authors' config: SyncBN, depth-wise ``linear_fuse``, no weight decay on the
  axial position embeddings, head lr x10.
"""
from __future__ import annotations

import ast
import copy
import json
import os

import pytest
import torch

from tests.models.port_fixtures import fixture_module
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import ssa_bench.models.backbones  # noqa: E402,F401  (registers the ports)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402
from ssa_bench.models.backbones.seaformer import (ARCH_SETTINGS, CLASSIFIER_KEYS,  # noqa: E402
                                                  backbone_state_dict)

register_all_modules(init_default_scope=True)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "seaformer")
_seeded = fixture_module("seaformer", "seeded_weights")
seeded_input, seeded_state_dict = _seeded.seeded_input, _seeded.seeded_state_dict

# Copies of shared/reference/official-keys/seaformer_{B,L}_official_keys.txt (names and shapes,
# listed by instantiating the authors' seaformer-cls model; see that folder's README).
MANIFEST_DIR = FIXTURES
MANIFESTS = {"B": "seaformer_B_official_keys.txt", "L": "seaformer_L_official_keys.txt"}
BN = dict(type="BN", requires_grad=True)


def _manifest(arch: str) -> dict[str, tuple[int, ...]]:
    path = os.path.join(MANIFEST_DIR, MANIFESTS[arch])
    keys = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                name, shape = line.split(" ", 1)
                keys[name] = tuple(ast.literal_eval(shape))
    return keys


def _synthetic_checkpoint(arch: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in _manifest(arch).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(123)
        else:
            state[name] = torch.randn(shape, generator=generator)
    return state


def _with_bn(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["norm_cfg"] = dict(BN)
    return cfg


def _port(arch: str):
    model = baseline_recipe(f"seaformer_{arch.lower()}", 150).model
    return MODELS.build(_with_bn(model["backbone"])), MODELS.build(_with_bn(model["decode_head"]))


@pytest.mark.parametrize("arch, tensors", [("B", 690), ("L", 762)])
def test_official_checkpoint_loads_strictly(arch, tensors):
    checkpoint = _synthetic_checkpoint(arch)
    assert set(CLASSIFIER_KEYS) <= set(checkpoint)
    state = backbone_state_dict({"state_dict_ema": checkpoint, "state_dict": {}})
    backbone, _ = _port(arch)
    result = backbone.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    port_state = backbone.state_dict()
    assert len(port_state) == len(state) == tensors          # 100% of the backbone's tensors
    assert list(port_state) == list(state)                   # even in the authors' order
    for name, tensor in state.items():
        assert torch.equal(port_state[name], tensor), name


def test_checkpoint_layouts_the_authors_loader_accepts():
    tensor = torch.ones(2)
    wanted = {"smb1.stem_block.0.bn.bias": tensor}
    raw = {"smb1.stem_block.0.bn.bias": tensor, "linear.weight": tensor, "linear.bias": tensor}
    assert backbone_state_dict(raw) == wanted
    assert backbone_state_dict({"model": raw}) == wanted
    assert backbone_state_dict({"state_dict": raw, "epoch": 3}) == wanted
    # a timm last.pth.tar: the EMA weights win, as in the authors' init_weights
    ema = {"smb1.stem_block.0.bn.bias": tensor * 2}
    assert backbone_state_dict({"state_dict": raw, "state_dict_ema": ema})[
        "smb1.stem_block.0.bn.bias"].eq(2).all()
    assert backbone_state_dict({"module." + k: v for k, v in raw.items()}) == wanted


def test_pretrained_init_cfg_fills_every_tensor(tmp_path):
    # The recipe path: init_cfg Pretrained with the backbone tensors (classifier dropped).
    state = backbone_state_dict(_synthetic_checkpoint("B"))
    path = tmp_path / "seaformer_b_backbone.pth"
    torch.save({"state_dict": state}, path)
    backbone = MODELS.build(dict(type="SeaFormer", arch="B",
                                 init_cfg=dict(type="Pretrained", checkpoint=str(path))))
    backbone.init_weights()
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, state[name]), name


def _fixture() -> dict:
    with open(os.path.join(FIXTURES, "authors_outputs.json")) as handle:
        return json.load(handle)


def _assert_close(ours: torch.Tensor, recorded: dict, what: str) -> None:
    ours = ours.detach().to(torch.float64)
    assert list(ours.shape) == recorded["shape"], what
    got = {"sum": [float(ours.sum())], "abs_sum": [float(ours.abs().sum())],
           "channel_mean": ours.mean(dim=(0, 2, 3)).tolist(),
           "first_values": ours.flatten()[:16].tolist()}
    for key, values in got.items():
        expected = torch.tensor(recorded[key] if isinstance(recorded[key], list)
                                else [recorded[key]], dtype=torch.float64)
        assert torch.allclose(torch.tensor(values, dtype=torch.float64), expected,
                              rtol=1e-4, atol=1e-4), f"{what} {key}"


@pytest.mark.parametrize("arch", ["B", "L"])
def test_port_agrees_with_the_authors_model(arch):
    recorded = _fixture()["models"][arch]
    backbone, head = _port(arch)
    backbone.load_state_dict(seeded_state_dict(backbone.state_dict()), strict=True)
    head.load_state_dict(seeded_state_dict(head.state_dict()), strict=True)
    backbone.double().eval()
    head.double().eval()
    with torch.no_grad():
        features = backbone(seeded_input())
        logits = head(list(features))
    assert len(features) == len(recorded["features"])
    for index, (ours, theirs) in enumerate(zip(features, recorded["features"])):
        _assert_close(ours, theirs, f"SeaFormer-{arch} output {index}")
    _assert_close(logits, recorded["logits"], f"SeaFormer-{arch} light head logits")


@pytest.mark.parametrize("arch", ["B", "L"])
def test_arch_settings_are_the_authors_configs(arch):
    authors = _fixture()["models"][arch]
    backbone_cfg, head_cfg = authors["backbone_config"], authors["head_config"]
    ours = ARCH_SETTINGS[arch]
    for key in ("cfgs", "channels", "depths", "key_dims", "num_heads"):
        assert ours[key] == backbone_cfg[key], key
    # seaformer_base.py leaves mlp_ratios at the class default [2, 4]
    assert ours["mlp_ratios"] == backbone_cfg.get("mlp_ratios", [2, 4])
    recipe = baseline_recipe(f"seaformer_{arch.lower()}", 150).model
    assert recipe["backbone"]["drop_path_rate"] == backbone_cfg["drop_path_rate"]
    head = recipe["decode_head"]
    for key in ("in_channels", "in_index", "channels", "embed_dims", "is_dw", "dropout_ratio",
                "align_corners"):
        assert head[key] == head_cfg[key], key


@pytest.mark.parametrize("name", ["seaformer_b", "seaformer_l"])
def test_recipe_uses_syncbn_and_falls_back_to_bn(name):
    from mmengine.model import revert_sync_batchnorm

    recipe = baseline_recipe(name, 150)
    assert recipe.model["backbone"]["norm_cfg"]["type"] == "SyncBN"
    assert recipe.model["decode_head"]["norm_cfg"]["type"] == "SyncBN"
    model = MODELS.build(recipe.model)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.backbone.modules())
    model = revert_sync_batchnorm(model)      # what mmengine's runner does in one process
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64), mode="tensor").shape == (1, 150, 8, 8)


def test_optimizer_exempts_position_embeddings_and_scales_the_head():
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper

    recipe = baseline_recipe("seaformer_b", 150)
    keys = recipe.optim_wrapper["paramwise_cfg"]["custom_keys"]
    assert keys == {"pos_emb": {"decay_mult": 0.0}, "head": {"lr_mult": 10.0},
                    "norm": {"decay_mult": 0.0}}
    model = revert_sync_batchnorm(MODELS.build(recipe.model))
    wrapper = build_optim_wrapper(model, recipe.optim_wrapper_for("ade20k"))
    setting = {}
    for group in wrapper.optimizer.param_groups:
        for param in group["params"]:
            setting[id(param)] = (group["lr"], group["weight_decay"])
    names = dict(model.named_parameters())
    pos = [n for n in names if n.endswith("pos_embed")]
    assert len(pos) == 4 * 8                           # q/k x row/column in each of 8 layers
    for name in pos:
        assert setting[id(names[name])] == (2.5e-4, 0.0), name
    assert setting[id(names["decode_head.conv_seg.weight"])] == pytest.approx((2.5e-3, 0.01))
    assert setting[id(names["backbone.smb1.stem_block.0.c.weight"])] == (2.5e-4, 0.01)
