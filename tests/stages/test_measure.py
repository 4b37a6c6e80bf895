"""The measure stage's record (docs/ARCHITECTURE.md) and the `ssa-bench measure` function."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.efficiency.inference import inference_params  # noqa: E402
from ssa_bench.errors import UserError  # noqa: E402
from ssa_bench.stages import measure as measure_module  # noqa: E402
from ssa_bench.configs import build_model_config  # noqa: E402
from ssa_bench.stages.measure import measure_model, measure_stage  # noqa: E402

LATENCY_KEYS = {"median_ms", "p10_ms", "p90_ms", "device", "device_name", "dtype", "threads",
                "warmup", "iters", "input_size"}


def _run_config(**overrides) -> dict:
    config = {
        "baseline": "segformer_mini", "dataset": "demo_shapes", "dataset_def": None,
        "ssa": {"enabled": False},
        "train": {"max_iters": 10, "batch_size": 2, "crop_size": [64, 64], "val_interval": 10,
                  "checkpoint_interval": 10, "lr": None, "num_workers": 0, "device": "cpu"},
        "measure": {"input_size": [64, 48], "latency_warmup": 1, "latency_iters": 3,
                    "threads": 1},
        "cfg": {}, "seed": 0,
    }
    config.update(overrides)
    return config


def _check_record(record: dict, input_size: list[int]) -> None:
    assert set(record) == {"flops", "params_m", "latency"}
    assert set(record["flops"]) == {"paper", "full", "input_size"}
    assert record["flops"]["input_size"] == input_size
    assert 0 < record["flops"]["paper"] <= record["flops"]["full"] * 1.2
    assert isinstance(record["params_m"], float) and record["params_m"] > 0
    assert set(record["latency"]) == LATENCY_KEYS
    assert record["latency"]["input_size"] == input_size
    assert record["latency"]["device"] == "cpu" and record["latency"]["threads"] == 1


def test_measure_stage_record_without_checkpoint(tmp_path):
    record = measure_stage(_run_config(), str(tmp_path))
    _check_record(record, [64, 48])
    assert (record["latency"]["warmup"], record["latency"]["iters"]) == (1, 3)


def test_counts_agree_with_torchs_own_flop_counter(tmp_path):
    # An independent count: torch's FlopCounterMode (conv and matmul multiply-adds, x2). The
    # "full" count adds norms and upsampling on top (a few %), the paper's hook count leaves the
    # attention matmuls out (a few %); a counter off by any real factor falls outside.
    from torch.utils.flop_counter import FlopCounterMode

    from ssa_bench.efficiency.inference import (InferenceGraph, inference_params,
                                                prepare_for_inference)

    config = _run_config()
    record = measure_stage(config, str(tmp_path))
    model = prepare_for_inference(measure_module.build_segmentor(
        *build_model_config(config)))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        InferenceGraph(model, (64, 48)).eval()(torch.randn(1, 3, 64, 48))
    multiply_adds = counter.get_total_flops() / 2 / 1e9
    assert 1.0 <= record["flops"]["full"] / multiply_adds <= 1.15
    assert 0.85 <= record["flops"]["paper"] / multiply_adds <= 1.0
    assert record["params_m"] == pytest.approx(inference_params(model) / 1e6, abs=1e-4)


def test_measure_stage_loads_the_trained_checkpoint(tmp_path, monkeypatch):
    # Save a real checkpoint of the same model, point mmengine's `last_checkpoint` at it.
    config = _run_config()
    model_cfg, imports = build_model_config(config)
    model = measure_module.build_segmentor(model_cfg, imports)
    work_dir = tmp_path / "work_dir"
    work_dir.mkdir()
    checkpoint = work_dir / "iter_10.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"iter": 10}}, checkpoint)
    (work_dir / "last_checkpoint").write_text(str(checkpoint))

    import mmengine.runner

    loaded = []
    real = mmengine.runner.load_checkpoint

    def spy(module, filename, *args, **kwargs):
        loaded.append(filename)
        return real(module, filename, *args, **kwargs)

    monkeypatch.setattr(mmengine.runner, "load_checkpoint", spy)
    record = measure_stage(config, str(tmp_path))
    assert loaded == [str(checkpoint)]
    _check_record(record, [64, 48])




def test_params_exclude_auxiliary_head_and_teacher():
    class Segmentor(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(10, 10)                      # 110
            self.decode_head = nn.Module()
            self.decode_head.conv_seg = nn.Linear(10, 2)           # 22
            self.decode_head.teacher_branch = nn.Linear(10, 10)    # excluded
            self.auxiliary_head = nn.Linear(10, 10)                # excluded
            self.shared = self.backbone                            # counted once

    assert inference_params(Segmentor()) == 110 + 22


def test_measure_model_for_the_cli():
    result = measure_model("seaformer_b", dataset="pascal_context59", warmup=0, iters=1,
                           threads=1)
    assert result["input_size"] == [480, 480]
    assert set(result["gflops"]) == {"paper", "full"}
    # SeaFormer-B on PASCAL-Context (59 classes, 480x480): 1.6 GFLOPs in the paper's Table 1
    assert result["gflops"]["paper"] == pytest.approx(1.6, rel=0.05)
    assert result["params_m"] > 8
    assert result["latency_ms"] == result["latency"]["median_ms"] > 0
    assert result["device"] == "cpu" and result["latency"]["threads"] == 1


def test_measure_model_rejects_unknown_names():
    with pytest.raises(UserError, match="unknown baseline"):
        measure_model("nope")
    with pytest.raises(UserError, match="unknown dataset"):
        measure_model("seaformer_b", dataset="nope")


def test_ssa_adds_little_and_no_teacher_at_inference():
    base = measure_model("seaformer_b", warmup=0, iters=1, threads=1)
    with_ssa = measure_model("seaformer_b", ssa=True, warmup=0, iters=1, threads=1)
    extra = with_ssa["gflops"]["paper"] - base["gflops"]["paper"]
    assert 0 < extra < 0.5                       # the paper: about +0.1 G
    assert with_ssa["gflops"]["full"] > base["gflops"]["full"]
    assert with_ssa["params_m"] > base["params_m"]
    # The default is the head every profile trains: the released preset (issue 22).
    assert with_ssa["variant"] == "released"


def test_measure_stage_measures_the_model_the_run_trains(tmp_path):
    # The run's model overrides reach the measured model (one builder for training and measuring).
    narrow = measure_stage(_run_config(cfg={"model.decode_head.channels": 32}), str(tmp_path / "narrow"))
    plain = measure_stage(_run_config(), str(tmp_path / "plain"))
    assert narrow["params_m"] < plain["params_m"]
    assert narrow["flops"]["paper"] < plain["flops"]["paper"]
