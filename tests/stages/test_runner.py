"""What the stages share (stages/runner.py): finding the run's checkpoint, registering modules."""
from __future__ import annotations

import os
import sys

from ssa_bench.stages.runner import checkpoint_iter, import_modules, latest_checkpoint


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(str(tmp_path / "not_trained_yet")) is None
    assert latest_checkpoint(str(tmp_path)) is None
    older, newer = tmp_path / "iter_5.pth", tmp_path / "iter_10.pth"
    older.write_bytes(b"x")
    newer.write_bytes(b"x")
    os.utime(older, (1, 1))
    assert latest_checkpoint(str(tmp_path)) == str(newer)
    (tmp_path / "last_checkpoint").write_text("iter_5.pth")      # relative pointer
    assert latest_checkpoint(str(tmp_path)) == str(older)
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "gone.pth"))
    assert latest_checkpoint(str(tmp_path)) == str(newer)         # stale pointer: newest file
    assert checkpoint_iter(latest_checkpoint(str(tmp_path))) == 10
    assert checkpoint_iter(None) is None


def test_import_modules_registers_mmseg_and_imports_ours(tmp_path, monkeypatch):
    # A module that registers a model on import, as ours do (classifiers, backbone ports, hooks).
    (tmp_path / "ssa_bench_test_plugin.py").write_text(
        "from torch import nn\n"
        "from mmseg.registry import MODELS\n\n\n"
        "@MODELS.register_module(force=True)\n"
        "class SSABenchTestPlugin(nn.Module):\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ssa_bench_test_plugin", raising=False)
    import_modules(["ssa_bench_test_plugin"], init_default_scope=True)
    from mmseg.registry import MODELS

    assert MODELS.get("SSABenchTestPlugin") is sys.modules["ssa_bench_test_plugin"].SSABenchTestPlugin
    assert MODELS.get("EncoderDecoder") is not None          # mmseg's own, registered too
