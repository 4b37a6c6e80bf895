"""The safe loader's allowlist is what real files need, no more; its scan refuses without running.

The allowlist (ssa_bench/compat/safe_load.py) is checked against a checkpoint the product's own
Runner wrote (a real tiny run) and against a timm-style classification checkpoint; each entry is
shown to be needed by taking it out. The scan is checked on every format torch reads (zip, legacy
pickle, legacy tar) and on pickles that hide a global's name behind the memo.
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import pickle
import shutil
import tarfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from ssa_bench.compat import safe_load
from ssa_bench.compat.safe_load import (ALLOWED_GLOBALS, TRUST_ENV, check_checkpoint_is_safe,
                                        load_checkpoint_file, trusted_loads)
from ssa_bench.errors import DataError, UserError

MMENGINE_ENTRIES = {name for name, why in ALLOWED_GLOBALS.items() if why.startswith("mmengine training checkpoint")}


def _one_line_naming(error: Exception, path, *words) -> str:
    text = str(error)
    assert "\n" not in text and str(path) in text, text
    for word in words:
        assert word in text, text
    return text


def _non_torch_globals(path) -> set[str]:
    return {name for name in safe_load._scan(path) if not safe_load._torch_allows(name)}


# -- real files ---------------------------------------------------------------------------------

def test_a_real_training_checkpoint_needs_exactly_the_mmengine_entries(trained_run, monkeypatch):
    _, run_dir = trained_run
    path = run_dir / "work_dir" / "iter_2.pth"
    # what the Runner wrote refers to these globals beyond torch's own, and nothing else
    assert _non_torch_globals(path) == MMENGINE_ENTRIES
    checkpoint = load_checkpoint_file(path)
    assert checkpoint["meta"]["iter"] == 2 and any(k.startswith("backbone.") for k in checkpoint["state_dict"])
    buffer = checkpoint["message_hub"]["log_scalars"]["train/loss"]
    assert type(buffer).__name__ == "HistoryBuffer" and np.isfinite(buffer.mean())
    assert isinstance(buffer.data[0], np.ndarray)
    # each entry is needed: without it the file is refused, naming it
    for name in sorted(MMENGINE_ENTRIES):
        monkeypatch.delitem(ALLOWED_GLOBALS, name)
        with pytest.raises(UserError) as refused:
            check_checkpoint_is_safe(path)
        _one_line_naming(refused.value, path, name, TRUST_ENV)
        monkeypatch.undo()


def test_a_timm_classification_checkpoint_with_its_args_namespace_loads(tmp_path, monkeypatch):
    # what timm's CheckpointSaver writes (SeaFormer's and AFFormer's training scripts save the same
    # way): the state dict, its EMA copy, the epoch, the metric, and the argparse namespace
    state = OrderedDict([("stem.weight", torch.randn(4, 3, 3, 3)), ("stem.bn.num_batches_tracked", torch.tensor(7))])
    path = tmp_path / "SeaFormer_B.pth"
    torch.save({"epoch": 299, "arch": "seaformer_base", "state_dict": state, "state_dict_ema": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}, "version": 2,
                "args": argparse.Namespace(model="seaformer_base", lr=1e-3, sched="cosine", mixup=0.8,
                                           input_size=(3, 224, 224), aa=None, pin_mem=True),
                "metric": 76.0}, path)
    assert _non_torch_globals(path) == {"argparse.Namespace"}
    checkpoint = load_checkpoint_file(path)
    assert checkpoint["args"].model == "seaformer_base" and torch.equal(checkpoint["state_dict_ema"]["stem.weight"],
                                                                       state["stem.weight"])
    monkeypatch.delitem(ALLOWED_GLOBALS, "argparse.Namespace")
    with pytest.raises(UserError, match="argparse.Namespace"):
        check_checkpoint_is_safe(path)


def test_numpy_scalars_and_arrays_load_but_object_arrays_do_not(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {"seed": np.int64(3), "lr": np.float32(0.5),
                                                             "hist": np.arange(6, dtype=np.int32).reshape(2, 3)}}, path)
    meta = load_checkpoint_file(path)["meta"]
    assert meta["seed"] == 3 and meta["lr"] == np.float32(0.5) and meta["hist"].sum() == 15
    objects = tmp_path / "objects.pth"
    torch.save({"x": np.array([1, "two"], dtype=object)}, objects)
    # its names are all allowed, so the scan passes; torch's restricted unpickler then refuses
    # the object dtype (unpickling an object array would rebuild arbitrary items)
    check_checkpoint_is_safe(objects)
    with pytest.raises(UserError) as refused:
        load_checkpoint_file(objects)
    _one_line_naming(refused.value, objects, "ObjectDType")


def test_getattr_is_allowed_for_history_buffer_methods_only(tmp_path):
    class Reach:
        def __reduce__(self):
            return getattr, (argparse.Namespace, "__init__")

    path = tmp_path / "reach.pth"
    torch.save({"x": Reach()}, path)
    check_checkpoint_is_safe(path)          # names only: builtins.getattr and argparse.Namespace
    with pytest.raises(UserError) as refused:
        load_checkpoint_file(path)
    _one_line_naming(refused.value, path, "only HistoryBuffer's statistics methods")


# -- the scan, on every format --------------------------------------------------------------------

class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("save", [dict(), dict(_use_new_zipfile_serialization=False), dict(pickle_protocol=4)],
                         ids=["zip", "legacy-pickle", "protocol-4-STACK_GLOBAL"])
def test_the_scan_names_the_payload_in_every_format(tmp_path, save):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "x": Payload(marker)}, path, **save)
    with pytest.raises(UserError) as refused:
        check_checkpoint_is_safe(path, key="train.pretrained")
    _one_line_naming(refused.value, path, "posix.system", "train.pretrained")
    with pytest.raises(UserError):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_a_name_hidden_behind_the_memo_is_still_read(tmp_path):
    marker = tmp_path / "MARKER"
    # PROTO 4; push 'posix', memoize; push 'system', memoize; pop both; get them back from the
    # memo; STACK_GLOBAL; call it with one string argument
    command = f"touch {marker}".encode()
    data = (b"\x80\x04" + b"\x8c\x05posix\x94" + b"\x8c\x06system\x94" + b"00" + b"h\x00h\x01\x93"
            + b"\x8c" + bytes([len(command)]) + command + b"\x85R.")
    path = tmp_path / "hidden.pth"
    path.write_bytes(data)
    with pytest.raises(UserError, match="posix.system"):
        check_checkpoint_is_safe(path)
    assert not marker.exists()
    pickle.loads(data)               # the bytes are a working payload: the scan is what stopped it
    assert marker.exists()


def test_the_legacy_tar_format_is_refused_by_name(tmp_path):
    path = tmp_path / "old.pth"
    with tarfile.open(path, "w") as archive:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            info = tarfile.TarInfo(name)
            payload = pickle.dumps({"protocol_version": 1001})
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    with pytest.raises(UserError) as refused:
        check_checkpoint_is_safe(path)
    _one_line_naming(refused.value, path, "legacy .tar format", TRUST_ENV)


def test_damaged_and_foreign_files_are_data_errors(tmp_path):
    torch.save({"state_dict": {f"w{i}": torch.ones(64) for i in range(8)}}, tmp_path / "whole.pth")
    real = (tmp_path / "whole.pth").read_bytes()
    cases = {"html.pth": b"<html>quota exceeded</html>", "dollar.pth": b"$\x00\x01junk",
             "torn.pth": real[: len(real) // 2], "cut_pickle.pth": pickle.dumps({"a": [1, 2, 3]}, protocol=2)[:-6]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError) as bad:
            check_checkpoint_is_safe(path)
        _one_line_naming(bad.value, path)
    with pytest.raises(DataError, match="does not exist"):
        check_checkpoint_is_safe(tmp_path / "absent.pth", key="train.pretrained")


def test_the_scan_needs_no_torch_for_common_files():
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "torch.save({'state_dict': {'w': torch.ones(2, dtype=torch.float16), 'n': torch.tensor(3)}}, sys.argv[1])\n")
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"scan_{os.getpid()}.pth")
    subprocess.run([sys.executable, "-c", code, out], check=True)
    try:
        check = ("import sys\nfrom ssa_bench.compat.safe_load import check_checkpoint_is_safe\n"
                 "check_checkpoint_is_safe(sys.argv[1])\nassert 'torch' not in sys.modules\n")
        subprocess.run([sys.executable, "-c", check, out], check=True)
    finally:
        os.unlink(out)


# -- trust by name ------------------------------------------------------------------------------

def _state_with_a_date(path):
    state = OrderedDict(w=torch.ones(2))
    state.saved_on = datetime.date(2024, 1, 1)      # an ordinary type the allowlist does not hold
    torch.save(state, path)
    return str(path)


def test_a_file_trusted_by_name_loads_fully_and_is_remembered(tmp_path, monkeypatch):
    path = _state_with_a_date(tmp_path / "mine.pth")
    other = shutil.copy(path, tmp_path / "other.pth")
    with pytest.raises(UserError, match="datetime.date"):
        load_checkpoint_file(path)
    monkeypatch.setenv(TRUST_ENV, os.pathsep.join([str(tmp_path / "unrelated.pth"), path]))
    check_checkpoint_is_safe(path)
    before = len(trusted_loads())
    assert load_checkpoint_file(path).saved_on == datetime.date(2024, 1, 1)
    assert trusted_loads()[before:] == [os.path.realpath(path)]
    with pytest.raises(UserError, match="datetime.date"):      # the same bytes under another name
        load_checkpoint_file(other)
    # torch's own switch to force its restricted loader wins over the trust, and says so
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UserError) as forced:
        load_checkpoint_file(path)
    _one_line_naming(forced.value, path, "TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    assert trusted_loads()[before:] == [os.path.realpath(path)]


@pytest.mark.slow
def test_a_run_records_the_trusted_checkpoint_it_loaded(trained_run, tmp_path, monkeypatch, demo_data):
    from ssa_bench.store import Store
    from ssa_bench.worker import execute_run
    from tests.stages.stage_helpers import add_run, run_config
    from tests.weights.conftest import TWO_ITERS

    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    _, trained = trained_run
    # the demo backbone's own weights, as train.pretrained, with one object the allowlist lacks
    weights = torch.load(trained / "work_dir" / "iter_2.pth", map_location="cpu", weights_only=False)["state_dict"]
    state = OrderedDict((k[len("backbone."):], v) for k, v in weights.items() if k.startswith("backbone."))
    state.saved_on = datetime.date(2024, 1, 1)
    pretrained = tmp_path / "backbone.pth"
    torch.save(state, pretrained)
    monkeypatch.setenv(TRUST_ENV, str(pretrained))
    store = Store(str(tmp_path / "results"))
    run_id = add_run(store, run_config(pretrained=str(pretrained), **TWO_ITERS))
    record = execute_run(store.root, run_id, stages=("train", "evaluate", "measure"))
    assert record["trusted_checkpoints"] == [os.path.realpath(pretrained)]
    assert store.read_stage(run_id, "train")["trusted_checkpoints"] == [os.path.realpath(pretrained)]
    assert "trusted_checkpoints" not in store.read_stage(run_id, "evaluate")
