"""Strict loading on small modules (ssa_bench/weights/strict.py): ``load_strictly`` itself, torch's
own account disagreeing with the comparison, the backbone's own init for declared-new tensors, and
the one-line errors naming train.pretrained. The real backbones' layouts: test_strict.py."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from ssa_bench.errors import DataError, UserError
from ssa_bench.weights import strict
from ssa_bench.weights.mapping import CheckpointMismatchError, KeyMapping
from ssa_bench.weights.strict import StrictPretrainedInit, load_strictly, missing_checkpoint_error, read_checkpoint

MISMATCH_FIX = ("this file is not the one the weights catalog describes, or the catalog's key mapping "
                "(ssa_bench/weights/catalog.yaml) does not match the backbone: check the file with "
                "`ssa-bench weights check`, or set train.pretrained: none to train from scratch on purpose")


def _linear_checkpoint(path, weight=1.5, bias=-0.5, extra: dict | None = None):
    state = {"weight": torch.full((2, 2), weight), "bias": torch.full((2,), bias), **(extra or {})}
    torch.save({"state_dict": state}, path)
    return path


def test_load_strictly_loads_every_tensor_through_the_mapping(tmp_path):
    path = _linear_checkpoint(tmp_path / "linear.pth")
    module = nn.Linear(2, 2)
    report = load_strictly(module, path, KeyMapping.from_dict({"unwrap": ["state_dict"]}), "toy (Linear)")
    assert report.ok and report.loaded == 2
    assert torch.equal(module.weight, torch.full((2, 2), 1.5)) and torch.equal(module.bias, torch.full((2,), -0.5))


class _RenamingLinear(nn.Module):
    """Its state_dict says 'lin.w'/'lin.b' where torch's loader looks for 'lin.weight'/'lin.bias' (a
    state_dict hook): the comparison passes, only torch's own account shows nothing was loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self._register_state_dict_hook(self._rename)

    @staticmethod
    def _rename(module, state, prefix, local_metadata):
        state[prefix + "lin.w"] = state.pop(prefix + "lin.weight")
        state[prefix + "lin.b"] = state.pop(prefix + "lin.bias")
        return state


def test_a_load_torch_reports_incomplete_fails_naming_the_file_and_the_key(tmp_path):
    path = tmp_path / "renamed.pth"
    torch.save({"lin.w": torch.ones(2, 2), "lin.b": torch.ones(2)}, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_strictly(_RenamingLinear(), path, KeyMapping(), "toy (RenamingLinear)")
    assert (error.value.file, error.value.key, error.value.fix) == (str(path), "train.pretrained", MISMATCH_FIX)
    assert error.value.message.startswith("checkpoint does not fit toy (RenamingLinear): ")
    assert "2 backbone keys missing from the checkpoint (lin.weight, lin.bias)" in error.value.message


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(2, 2)
        self.adapter = nn.Linear(2, 2)       # new in the segmentation model: not in the checkpoint
        self.init_calls = 0

    def init_weights(self) -> None:
        self.init_calls += 1
        nn.init.constant_(self.adapter.weight, 7.0)


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(strict, "print_log", lambda text, logger=None: lines.append(text))
    return lines


@pytest.fixture
def stem_checkpoint(tmp_path):
    path = tmp_path / "stem.pth"
    torch.save({"stem.weight": torch.full((2, 2), 3.0), "stem.bias": torch.zeros(2)}, path)
    return path


def test_declared_new_tensors_keep_the_backbones_own_init(stem_checkpoint, logged):
    model = _Model()
    StrictPretrainedInit(str(stem_checkpoint), module="backbone", mapping={"fresh": [r"^adapter\."]})(model)
    backbone = model.backbone
    assert backbone.init_calls == 1 and backbone.is_init
    assert torch.equal(backbone.adapter.weight, torch.full((2, 2), 7.0))      # its own init
    assert torch.equal(backbone.stem.weight, torch.full((2, 2), 3.0))         # loaded over it
    assert logged == [f"StrictPretrained: loaded 2 tensors of backbone (_Backbone) from {stem_checkpoint}, "
                      "2 new tensors left to the backbone's init"]


def test_an_initialised_backbone_is_not_initialised_again(stem_checkpoint, logged):
    model = _Model()
    model.backbone.is_init = True
    nn.init.constant_(model.backbone.adapter.weight, 5.0)
    StrictPretrainedInit(str(stem_checkpoint), module="backbone", mapping={"fresh": [r"^adapter\."]})(model)
    assert model.backbone.init_calls == 0
    assert torch.equal(model.backbone.adapter.weight, torch.full((2, 2), 5.0))


def test_a_load_torch_reports_incomplete_at_initialisation_names_the_checkpoint(tmp_path, logged):
    path = tmp_path / "renamed.pth"
    torch.save({"lin.w": torch.ones(2, 2), "lin.b": torch.ones(2)}, path)
    model = nn.Module()
    model.backbone = _RenamingLinear()
    with pytest.raises(CheckpointMismatchError) as error:
        StrictPretrainedInit(str(path), module="backbone", name="toy")(model)
    assert error.value.file == str(path) and "toy (_RenamingLinear)" in error.value.message
    assert logged == []


def test_a_missing_own_checkpoint_is_one_line_naming_the_key():
    error = missing_checkpoint_error("/data/my_swin.pth", "upernet_swin_t")
    assert isinstance(error, DataError)
    assert str(error) == ("train.pretrained: pretrained checkpoint /data/my_swin.pth of baseline 'upernet_swin_t' "
                          "does not exist -- point train.pretrained at an existing file, or none to train from "
                          "scratch on purpose (nothing is downloaded at run time)")


def test_reading_a_checkpoint_names_train_pretrained_in_its_errors(tmp_path):
    with pytest.raises(DataError) as missing:
        read_checkpoint(tmp_path / "absent.pth")
    assert missing.value.key == "train.pretrained"
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {}, "hook": os.getcwd}, unsafe)
    with pytest.raises(UserError) as refused:
        read_checkpoint(unsafe)
    assert refused.value.key == "train.pretrained" and refused.value.file == str(unsafe)
