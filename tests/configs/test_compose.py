"""build_mmseg_config: the composed mmseg/mmengine config of a run (no training here)."""
from __future__ import annotations

import copy

import pytest

from ssa_bench.configs import build_mmseg_config
from ssa_bench.errors import UserError
from ssa_bench.classifier_settings.ssa import SSASettings

SSA_ON = SSASettings.from_spec({"enabled": True, "variant": "paper"}).to_dict()


def run_config(baseline="segformer_mini", dataset="demo_shapes", **train):
    return {
        "baseline": baseline, "dataset": dataset, "dataset_def": None,
        "ssa": {"enabled": False},
        "train": {"max_iters": 300, "batch_size": 8, "crop_size": [64, 64], "val_interval": 100,
                  "checkpoint_interval": 100, "lr": None, "num_workers": 0, "device": "cpu",
                  "pretrained": None, **train},
        "measure": {"input_size": [64, 64], "latency_warmup": 2, "latency_iters": 10, "threads": 1},
        "cfg": {}, "seed": 3,
    }


@pytest.fixture(autouse=True)
def single_process(monkeypatch, tmp_path):
    for var in ("SSA_BENCH_LAUNCHER", "WORLD_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))


def steps(pipeline, kind):
    return [step for step in pipeline if step["type"] == kind]


def test_demo_config(tmp_path):
    cfg = build_mmseg_config(run_config(), str(tmp_path / "work"))
    assert cfg.work_dir == str(tmp_path / "work")
    assert cfg.train_dataloader.batch_size == 8
    train = cfg.train_dataloader.dataset
    assert train.type == "DemoShapesDataset" and train.data_root == str(tmp_path / "data" / "demo_shapes")
    assert train.data_prefix.img_path == "images/training"
    assert cfg.val_dataloader.dataset.data_prefix.img_path == "images/validation"
    (crop,) = steps(train.pipeline, "RandomCrop")
    assert tuple(crop.crop_size) == (64, 64) and crop.cat_max_ratio == 0.75
    (resize,) = steps(train.pipeline, "RandomResize")
    assert tuple(resize.ratio_range) == (0.5, 2.0) and max(resize.scale) <= 256
    assert steps(train.pipeline, "RandomFlip") and steps(train.pipeline, "PhotoMetricDistortion")
    assert tuple(cfg.model.data_preprocessor.size) == (64, 64)
    assert cfg.model.decode_head.num_classes == 8
    assert cfg.train_cfg == dict(type="IterBasedTrainLoop", max_iters=300, val_interval=100)
    assert cfg.param_scheduler[-1].end == 301       # mmengine: the end value at step end - 1 (test_poly_span.py)
    assert cfg.val_evaluator.iou_metrics == ["mIoU"]
    assert cfg.randomness.seed == 3 and cfg.launcher == "none"
    checkpoint = cfg.default_hooks.checkpoint
    assert checkpoint.interval == 100 and checkpoint.save_last and checkpoint.max_keep_ckpts in (1, 2)
    assert cfg.default_hooks.logger.type == "LoggerHook"
    assert cfg.visualizer.vis_backends[0].type == "LocalVisBackend"
    imports = cfg.custom_imports.imports
    assert "ssa_bench.data.mmseg_datasets" in imports and "ssa_bench.models.ssa" not in imports
    assert cfg.model.decode_head.type != "SSAHead"


def test_ssa_wraps_the_head(tmp_path):
    config = run_config()
    config["ssa"] = SSA_ON
    cfg = build_mmseg_config(config, str(tmp_path))
    assert cfg.model.decode_head.type == "SSAHead"
    assert cfg.model.decode_head.head.num_classes == 8
    assert "ssa_bench.models.ssa" in cfg.custom_imports.imports


@pytest.mark.parametrize("baseline,dataset,crop,scale,classes", [
    ("seaformer_l", "ade20k", (512, 512), (2048, 512), 150),
    ("ocrnet_hr48", "pascal_context59", (480, 480), (520, 520), 59),
    ("segnext_t", "coco_stuff10k", (512, 512), (2048, 512), 171),
    ("upernet_swin_t", "ade20k", (512, 512), (2048, 512), 150),
])
def test_paper_baselines(tmp_path, baseline, dataset, crop, scale, classes):
    config = run_config(baseline, dataset, max_iters=160_000, batch_size=16, crop_size=list(crop),
                        val_interval=16_000, checkpoint_interval=16_000, num_workers=4, device="auto")
    config["ssa"] = SSA_ON
    cfg = build_mmseg_config(config, str(tmp_path))
    train = cfg.train_dataloader.dataset
    assert tuple(steps(train.pipeline, "RandomCrop")[0].crop_size) == crop
    assert tuple(steps(train.pipeline, "RandomResize")[0].scale) == scale
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.param_scheduler[-1].end == 160_001   # mmengine: the end value at step end - 1 (test_poly_span.py)
    heads = cfg.model.decode_head
    last = heads[-1] if isinstance(heads, list) else heads
    assert last.type == "SSAHead" and last.head.num_classes == classes
    if dataset == "ade20k":
        assert train.type == "ADE20KDataset"


def test_batch_split_over_world_size(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_LAUNCHER", "slurm")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    cfg = build_mmseg_config(run_config(batch_size=16), str(tmp_path))
    assert cfg.train_dataloader.batch_size == 4 and cfg.launcher == "slurm"
    with pytest.raises(UserError, match="train.batch_size"):
        build_mmseg_config(run_config(batch_size=6), str(tmp_path))


def test_lr_override_and_raw_cfg(tmp_path):
    config = run_config(lr=0.123)
    config["cfg"] = {"model.decode_head.channels": 32, "train_dataloader.num_workers": 1}
    cfg = build_mmseg_config(config, str(tmp_path))
    assert cfg.optim_wrapper.optimizer.lr == 0.123
    assert cfg.model.decode_head.channels == 32 and cfg.train_dataloader.num_workers == 1


def test_inline_dataset(tmp_path):
    config = run_config(dataset="mine")
    config["dataset_def"] = {"root": str(tmp_path / "mine"), "classes": ["sky", "road", "car"],
                             "reduce_zero_label": False, "img_suffix": ".png", "seg_map_suffix": ".png"}
    cfg = build_mmseg_config(config, str(tmp_path))
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        dataset = loader.dataset
        assert dataset.type == "BaseSegDataset" and dataset.data_root == str(tmp_path / "mine")
        assert tuple(dataset.metainfo.classes) == ("sky", "road", "car")
        assert dataset.reduce_zero_label is False and dataset.img_suffix == ".png"
        assert steps(dataset.pipeline, "LoadAnnotations")[0].reduce_zero_label is False
    assert cfg.model.decode_head.num_classes == 3


def test_pretrained_checkpoint(tmp_path):
    weights = tmp_path / "backbone.pth"
    weights.write_bytes(b"x")
    cfg = build_mmseg_config(run_config(pretrained=str(weights)), str(tmp_path))
    assert cfg.model.init_cfg.type == "StrictPretrained" and cfg.model.init_cfg.checkpoint == str(weights)
    assert "ssa_bench.weights.strict" in cfg.custom_imports.imports


def test_config_is_not_mutated(tmp_path):
    config = run_config()
    config["ssa"] = SSA_ON
    before = copy.deepcopy(config)
    build_mmseg_config(config, str(tmp_path))
    assert config == before
