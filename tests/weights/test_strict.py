"""Strict loading: mmseg's own baselines load a checkpoint with the published key layout, exactly.

The synthetic checkpoints follow what each OpenMMLab file holds (ssa_bench/weights/catalog.yaml,
``evidence``): the backbone's own state dict, minus the layers segmentation adds (Swin's norm0-3),
plus what the classification checkpoint carries besides (ResNet's ``fc``, HRNet's classification
stages, Swin's final ``norm`` and stored ``attn_mask`` buffers), in the wrapper mmengine's loader
accepts. Tensors are zero-stride views of one number each, so even Swin-L's file is a few kB.
"""
from __future__ import annotations

import logging
import math

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import ssa_bench.weights.strict  # noqa: E402,F401  (registers StrictPretrained)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402
from ssa_bench.errors import DataError  # noqa: E402
from ssa_bench.weights import entry_for  # noqa: E402
from ssa_bench.weights.mapping import CheckpointMismatchError  # noqa: E402

register_all_modules()


@pytest.fixture(autouse=True)
def _quiet_init_log():
    # mmengine logs every parameter's init at INFO after a top-level init_weights (1830 lines for
    # HRNet-W48); in a run it goes to the log file, here it would only slow the tests down
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def _value(index: int, dtype=torch.float32):
    # integers for BatchNorm's counters (int64), non-integers elsewhere so a default init cannot match
    return index % 997 if not dtype.is_floating_point else float(index % 997) + 0.5


def _tensor(index: int, shape, dtype=torch.float32) -> torch.Tensor:
    return torch.full((), _value(index, dtype), dtype=dtype).expand(tuple(shape))


def _backbone(name: str):
    return MODELS.build(baseline_recipe(name, 150).model["backbone"])


def _extras(name: str, backbone) -> dict[str, tuple]:
    """Keys the published file has besides the backbone's (shapes as in the original models)."""
    if name == "fcn_r101":
        return {"fc.weight": (1000, 2048), "fc.bias": (1000,)}
    if name == "ocrnet_hr48":
        return {"incre_modules.0.0.conv1.weight": (32, 48, 1, 1), "incre_modules.0.0.bn1.num_batches_tracked": (),
                "downsamp_modules.0.0.weight": (256, 128, 3, 3), "final_layer.0.weight": (2048, 1024, 1, 1),
                "classifier.weight": (1000, 2048), "classifier.bias": (1000,)}
    if name.startswith("upernet_swin"):
        width = backbone.num_features[-1]
        extras = {"norm.weight": (width,), "norm.bias": (width,)}
        # the original Swin stored the shifted-window mask of every odd block while the 224 input's
        # stage was larger than the 7x7 window (stages 0-2)
        for stage_index, stage in enumerate(backbone.stages[:3]):
            windows = (56 // 2 ** stage_index // 7) ** 2
            for block_index in range(1, len(stage.blocks), 2):
                extras[f"stages.{stage_index}.blocks.{block_index}.attn_mask"] = (windows, 49, 49)
        return extras
    return {}


def _published_layout(name: str, backbone) -> tuple[dict, dict]:
    """(checkpoint as saved, {backbone key: value expected after loading})."""
    mapping = entry_for(name).mapping
    state, expected = {}, {}
    for index, (key, value) in enumerate(backbone.state_dict().items()):
        if mapping.is_fresh(key):
            continue
        if key.endswith("num_batches_tracked") and name == "fcn_r101":
            continue                        # an older file without BatchNorm's counters
        state[key] = _tensor(index, value.shape, value.dtype)
        expected[key] = _value(index, value.dtype)
    for offset, (key, shape) in enumerate(_extras(name, backbone).items()):
        state[key] = _tensor(offset, shape)
    if name in ("segnext_t", "fcn_r101"):
        return {"state_dict": state, "meta": {"epoch": 300, "mmcls_version": "0.25.0"}}, expected
    return state, expected


def _holds(tensor: torch.Tensor, value) -> bool:
    # every synthetic tensor is one number repeated: its first and last elements show the copy
    flat = tensor.reshape(-1)
    return flat.numel() == 0 or bool((flat[0] == value) and (flat[-1] == value))


class Holder(BaseModule):
    """The smallest model the initialiser can sit on: a segmentor with nothing but its backbone."""

    def __init__(self, backbone, init_cfg) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = backbone


MMSEG_BASELINES = ["fcn_r101", "ocrnet_hr48", "upernet_swin_t", "upernet_swin_b", "upernet_swin_l",
                   "segformer_b5", "segnext_t"]


@pytest.mark.parametrize("name", MMSEG_BASELINES)
def test_the_published_key_layout_loads_strictly(name, tmp_path):
    backbone = _backbone(name)
    checkpoint, expected = _published_layout(name, backbone)
    path = tmp_path / entry_for(name).file
    torch.save(checkpoint, path)
    holder = Holder(backbone, dict(type="StrictPretrained", checkpoint=str(path), module="backbone",
                                   mapping=entry_for(name).mapping.to_dict(), name=name))
    holder.init_weights()
    loaded = backbone.state_dict()
    wrong = [k for k, v in expected.items() if not _holds(loaded[k], v)]
    assert not wrong, f"{len(wrong)} tensors not loaded (or re-initialised afterwards), e.g. {wrong[:3]}"
    assert backbone.is_init
    if name.startswith("upernet_swin"):                 # the declared new layers keep their own init
        assert torch.all(backbone.norm0.weight == 1) and torch.all(backbone.norm3.bias == 0)
    del backbone, holder, loaded, checkpoint


@pytest.fixture(scope="module")
def mscan_checkpoint(tmp_path_factory):
    backbone = _backbone("segnext_t")
    checkpoint, _ = _published_layout("segnext_t", backbone)
    return checkpoint, tmp_path_factory.mktemp("mscan")


def _load_broken(checkpoint: dict, directory, break_it) -> str:
    state = dict(checkpoint["state_dict"])
    break_it(state)
    path = directory / "broken.pth"
    torch.save({"state_dict": state}, path)
    holder = Holder(_backbone("segnext_t"), dict(type="StrictPretrained", checkpoint=str(path), module="backbone",
                                                mapping=entry_for("segnext_t").mapping.to_dict(), name="segnext_t"))
    with pytest.raises(CheckpointMismatchError) as error:
        holder.init_weights()
    text = str(error.value)
    assert "\n" not in text and str(path) in text and "segnext_t (MSCAN)" in text
    return text


def test_one_missing_key_fails(mscan_checkpoint):
    checkpoint, directory = mscan_checkpoint
    text = _load_broken(checkpoint, directory, lambda state: state.pop("block2.0.mlp.fc1.weight"))
    assert "1 backbone keys missing from the checkpoint (block2.0.mlp.fc1.weight)" in text


def test_one_unexpected_key_fails(mscan_checkpoint):
    checkpoint, directory = mscan_checkpoint
    text = _load_broken(checkpoint, directory, lambda state: state.update({"block9.0.weight": torch.zeros(3)}))
    assert "1 unexpected checkpoint keys (block9.0.weight)" in text


def test_one_wrong_shape_fails(mscan_checkpoint):
    checkpoint, directory = mscan_checkpoint

    def widen(state):
        state["norm4.weight"] = torch.zeros(257)

    text = _load_broken(checkpoint, directory, widen)
    assert "1 shape mismatches (norm4.weight: checkpoint (257,) vs backbone (256,))" in text


def test_the_recipe_puts_the_strict_initialiser_on_the_segmentor(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path))
    entry = entry_for("segnext_t")
    backbone = _backbone("segnext_t")
    checkpoint, expected = _published_layout("segnext_t", backbone)
    torch.save(checkpoint, tmp_path / entry.file)
    recipe = baseline_recipe("segnext_t", 150, pretrained=entry.ref)
    assert "init_cfg" not in recipe.model["backbone"] and recipe.model["pretrained"] is None
    assert recipe.model["init_cfg"]["type"] == "StrictPretrained"
    assert recipe.model["init_cfg"]["checkpoint"] == str(tmp_path / entry.file)
    assert "ssa_bench.weights.strict" in recipe.imports
    model = MODELS.build(recipe.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert all(_holds(loaded[k], v) for k, v in expected.items())
    head = model.decode_head.conv_seg.weight.detach()
    assert head.abs().sum() > 0 and math.isfinite(float(head.sum()))      # the head got its own init


def test_a_missing_file_fails_at_initialisation_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path))
    entry = entry_for("segnext_t")
    recipe = baseline_recipe("segnext_t", 150, pretrained=entry.ref)   # composing needs no file
    model = MODELS.build(recipe.model)
    with pytest.raises(DataError) as missing:
        model.init_weights()
    text = str(missing.value)
    assert "ssa-bench weights fetch segnext_t" in text and str(tmp_path / entry.file) in text and "\n" not in text
    holder = Holder(_backbone("segnext_t"), baseline_recipe("segnext_t", 150, pretrained=str(tmp_path / "x.pth"))
                    .model["init_cfg"])
    with pytest.raises(DataError, match="x.pth of baseline 'segnext_t' does not exist"):
        holder.init_weights()


def test_an_explicit_path_uses_the_baselines_mapping(tmp_path):
    backbone = _backbone("fcn_r101")
    checkpoint, expected = _published_layout("fcn_r101", backbone)
    path = tmp_path / "my_resnet101.pth"
    torch.save(checkpoint, path)
    recipe = baseline_recipe("fcn_r101", 150, pretrained=str(path))
    assert recipe.model["init_cfg"]["mapping"]["drop"] == [r"^fc\."]
    holder = Holder(backbone, recipe.model["init_cfg"])
    holder.init_weights()
    assert _holds(backbone.state_dict()["layer4.2.conv3.weight"], expected["layer4.2.conv3.weight"])
