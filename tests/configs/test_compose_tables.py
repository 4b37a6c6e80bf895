"""Run config -> mmseg Config for the rows of the matrix files (paper scale, demo, inline data, multi-GPU)."""
from __future__ import annotations

import pytest

from ssa_bench.configs import build_mmseg_config
from ssa_bench.errors import UserError
from ssa_bench.matrix import load_spec, plan


def configs(spec="tables/table3.yaml", profile="paper", overrides=()):
    return {r.label: r.config for r in plan(load_spec(spec, profile=profile, overrides=list(overrides)))}


def _step(pipeline, kind):
    return next(step for step in pipeline if step["type"] == kind)


def test_paper_scale_seaformer_on_ade20k(tmp_path):
    cfg = build_mmseg_config(configs()["SSA (Ours)"], str(tmp_path))
    assert cfg.train_dataloader.batch_size == 16
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert _step(pipeline, "RandomCrop")["crop_size"] == (512, 512)
    assert _step(pipeline, "RandomResize")["scale"] == (2048, 512)
    assert _step(pipeline, "RandomResize")["ratio_range"] == (0.5, 2.0)
    assert cfg.train_cfg.max_iters == 160_000 and cfg.param_scheduler[-1]["end"] == 160_001
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(2.5e-4)
    assert cfg.model.decode_head.type == "SSAHead"
    assert "ssa_bench.models.ssa" in cfg.custom_imports.imports
    assert cfg.train_dataloader.dataset.data_root.endswith("ade/ADEChallengeData2016")
    assert cfg.resume is True and cfg.launcher == "none"


def test_baseline_row_keeps_the_plain_head(tmp_path):
    cfg = build_mmseg_config(configs()["Baseline"], str(tmp_path))
    assert cfg.model.decode_head.type != "SSAHead"
    assert "ssa_bench.models.ssa" not in cfg.custom_imports.imports


def test_pascal_context_crop_and_scale(tmp_path):
    config = configs(overrides=["dataset=pascal_context59"])["Baseline"]
    cfg = build_mmseg_config(config, str(tmp_path))
    assert _step(cfg.train_dataloader.dataset.pipeline, "RandomCrop")["crop_size"] == (480, 480)
    assert _step(cfg.train_dataloader.dataset.pipeline, "RandomResize")["scale"] == (520, 520)
    assert cfg.model.decode_head.num_classes == 59
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(2.5e-4)


def test_cpu_demo_and_overrides(tmp_path):
    config = configs(profile="cpu-demo", overrides=["cfg.model.decode_head.dropout_ratio=0.0",
                                                    "train.lr=0.002"])["+ SEPA"]
    cfg = build_mmseg_config(config, str(tmp_path))
    assert cfg.train_dataloader.dataset.type == "DemoShapesDataset"
    assert cfg.train_dataloader.batch_size == 8 and cfg.train_dataloader.num_workers == 0
    assert cfg.model.data_preprocessor.size == (64, 64)
    assert cfg.model.decode_head.head.dropout_ratio == 0.0 or cfg.model.decode_head.dropout_ratio == 0.0
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(0.002)
    assert cfg.model.decode_head.ssa["sppa"] is False


def test_inline_dataset(tmp_path):
    config = configs("tests/matrix/fixtures/inline_dataset.yaml")["Baseline"]
    cfg = build_mmseg_config(config, str(tmp_path))
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == "BaseSegDataset" and dataset.metainfo["classes"] == ("road", "car", "person")
    assert dataset.data_root == "/data/my_roads" and dataset.reduce_zero_label is False
    assert _step(dataset.pipeline, "LoadAnnotations")["reduce_zero_label"] is False


def test_multi_gpu_splits_the_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_LAUNCHER", "slurm")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    cfg = build_mmseg_config(configs()["Baseline"], str(tmp_path))
    assert cfg.train_dataloader.batch_size == 4 and cfg.launcher == "slurm"
    monkeypatch.setenv("SLURM_NTASKS", "3")
    with pytest.raises(UserError, match="does not split evenly over 3 GPUs"):
        build_mmseg_config(configs()["Baseline"], str(tmp_path))
