"""A checkpoint whose pickle would run code never runs it, wherever ssa-bench reads a checkpoint.

Each test writes a real ``.pth`` holding an object whose ``__reduce__`` calls ``os.system('touch
MARKER')`` and hands it to one of the ways a run reads a checkpoint: ``train.pretrained`` (the
``StrictPretrained`` initialiser a run attaches), a run folder's resume checkpoint
(``last_checkpoint``, read by mmengine's ``Runner.resume``), the initialiser called directly, and
mmengine's own loaders. The marker must stay absent and the error must be one line naming the file
and the type. These tests use only entry points that existed before the safe loader, so they run
(and fail: the payload runs) against the code that set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.
"""
from __future__ import annotations

import os
import shutil

import pytest
import torch

from ssa_bench.compat import patch_openmmlab
from ssa_bench.errors import UserError
from tests.stages.stage_helpers import run_config
from tests.weights.conftest import TWO_ITERS

patch_openmmlab()


class Payload:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _payload_checkpoint(path, marker, base: dict | None = None, **save) -> str:
    checkpoint = dict(base or {"state_dict": {"weight": torch.zeros(2)}})
    checkpoint["meta_extra"] = Payload(marker)
    torch.save(checkpoint, path, **save)
    return str(path)


def _assert_refused(error: UserError, path, marker) -> None:
    text = str(error)
    assert not marker.exists(), "the pickle payload ran"
    assert "\n" not in text and str(path) in text and "posix.system" in text, text
    assert "SSA_BENCH_TRUST_CHECKPOINTS" in text


@pytest.mark.slow
@pytest.mark.parametrize("force_unsafe_env", [False, True], ids=["plain", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1"])
def test_a_payload_as_train_pretrained_never_runs(tmp_path, monkeypatch, demo_data, force_unsafe_env):
    # the variable torch reads to switch its default to the full unpickler must not switch ours
    if force_unsafe_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.train import train_stage

    marker = tmp_path / "MARKER"
    evil = _payload_checkpoint(tmp_path / "pretrained.pth", marker)
    config = run_config(pretrained=evil, **TWO_ITERS)
    ensure_datasets([config])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(UserError) as refused:
        train_stage(config, str(run_dir))
    _assert_refused(refused.value, evil, marker)
    assert "train.pretrained" in str(refused.value)
    assert not list((run_dir / "work_dir").glob("*.pth"))          # nothing trained


@pytest.mark.slow
@pytest.mark.parametrize("note", ["kept", "removed"])
def test_a_payload_in_the_resume_checkpoint_never_runs(trained_run, tmp_path, monkeypatch, demo_data, note):
    """The newest checkpoint of a run replaced by one carrying a payload. With its integrity note
    kept (size and sha256 written when the store committed the original), the file no longer
    matches it and is set aside as damaged before anything reads it; with the note removed (a
    checkpoint written before notes existed), it reaches the safe loader, which refuses it."""
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.stages.train import train_stage

    config, trained = trained_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    work = run_dir / "work_dir"
    real = torch.load(work / "iter_2.pth", map_location="cpu", weights_only=False)   # ours: trusted here
    marker = tmp_path / "MARKER"
    evil = _payload_checkpoint(work / "iter_2.pth", marker, base=real)
    longer = {**config, "train": {**config["train"], "max_iters": 4}}
    if note == "removed":
        (work / "iter_2.pth.json").unlink()
        with pytest.raises(UserError) as refused:
            train_stage(longer, str(run_dir))
        _assert_refused(refused.value, evil, marker)
        assert not (work / "iter_4.pth").exists()
    else:
        assert (work / "iter_2.pth.json").exists()
        result = train_stage(longer, str(run_dir))
        assert not marker.exists(), "the pickle payload ran"
        assert result["resumed_from_iter"] is None and (work / "damaged" / "iter_2.pth").exists()


def test_a_payload_through_the_strict_initialiser_never_runs(tmp_path):
    from torch import nn

    import ssa_bench.weights.strict as strict

    marker = tmp_path / "MARKER"
    evil = _payload_checkpoint(tmp_path / "backbone.pth", marker, base={"weight": torch.zeros(2, 2)})
    model = nn.Module()
    model.backbone = nn.Linear(2, 2, bias=False)
    with pytest.raises(UserError) as refused:
        strict.StrictPretrainedInit(checkpoint=evil, module="backbone")(model)
    _assert_refused(refused.value, evil, marker)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_a_payload_through_mmengines_loaders_never_runs(tmp_path, legacy):
    # load_checkpoint (measure, init_cfg Pretrained), _load_checkpoint (Runner.load_checkpoint,
    # resume, load_from) and CheckpointLoader (mmseg's Swin/ViT init) share one local loader
    from mmengine.model.weight_init import PretrainedInit
    from mmengine.runner import CheckpointLoader, load_checkpoint
    from mmengine.runner.checkpoint import _load_checkpoint
    from torch import nn

    marker = tmp_path / "MARKER"
    evil = _payload_checkpoint(tmp_path / "any.pth", marker, _use_new_zipfile_serialization=not legacy)
    calls = [lambda: load_checkpoint(nn.Linear(2, 2), evil, map_location="cpu", logger="silent"),
             lambda: _load_checkpoint(evil, map_location="cpu"),
             lambda: CheckpointLoader.load_checkpoint(evil, map_location="cpu", logger="silent"),
             lambda: PretrainedInit(checkpoint=evil)(nn.Linear(2, 2))]
    for call in calls:
        with pytest.raises(UserError) as refused:
            call()
        _assert_refused(refused.value, evil, marker)
