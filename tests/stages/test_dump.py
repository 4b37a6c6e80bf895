"""The dump stage: predictions for every run, SSA's features and prototypes for SSA runs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.stages.stage_helpers import run_config


@pytest.mark.slow
@pytest.mark.parametrize("ssa", [True, False])
def test_dump(tmp_path, monkeypatch, demo_data, ssa):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import dataset_root, ensure_datasets
    from ssa_bench.stages.dump import dump_stage
    from ssa_bench.stages.train import train_stage

    config = run_config(ssa=ssa, max_iters=4, checkpoint_interval=4, val_interval=4)
    ensure_datasets([config])
    train_stage(config, str(tmp_path))
    result = dump_stage(config, str(tmp_path))
    assert result["n_images"] == 4
    assert result["files"] == (["dump/predictions.npz", "dump/ssa_analysis.npz"] if ssa
                               else ["dump/predictions.npz"])
    predictions = np.load(tmp_path / "dump" / "predictions.npz")
    root = dataset_root("demo_shapes")
    expected = sorted(p.name for p in (root / "images" / "validation").glob("*.jpg"))[:4]
    assert list(predictions["names"]) == expected
    assert predictions["images"].shape == (4, 64, 64, 3) and predictions["images"].dtype == np.uint8
    assert predictions["pred"].shape == predictions["gt"].shape == (4, 64, 64)
    assert predictions["pred"].max() < 8
    on_disk = np.asarray(Image.open(root / "annotations" / "validation" / expected[0].replace(".jpg", ".png")))
    gt = predictions["gt"][0]
    assert (gt[on_disk == 0] == 255).all() and (gt[on_disk > 0] == on_disk[on_disk > 0] - 1).all()
    assert (predictions["images"][0] == np.asarray(Image.open(root / "images" / "validation" / expected[0]))).all()
    # The predictions are the trained model's: mmseg's own inference API on the same checkpoint
    # and images gives the same label maps.
    from mmseg.apis import inference_model, init_model

    from ssa_bench.configs.compose import build_mmseg_config

    cfg = build_mmseg_config(config, str(tmp_path / "work_dir"))
    cfg.test_pipeline = [step for step in cfg.test_dataloader.dataset.pipeline
                         if step["type"] != "LoadAnnotations"]
    model = init_model(cfg, str(tmp_path / result["checkpoint"]), device="cpu")  # relative to the run
    for index, name in enumerate(expected):
        got = inference_model(model, str(root / "images" / "validation" / name))
        assert (got.pred_sem_seg.data[0].numpy() == predictions["pred"][index]).all(), name
    if ssa:
        analysis = np.load(tmp_path / "dump" / "ssa_analysis.npz")
        assert list(analysis["names"]) == expected
        for key in ("features", "prototypes", "semantic_prototypes", "spatial_prototypes",
                    "position_basis", "label", "logits", "teacher_logits"):
            assert key in analysis.files, key
        n, d = analysis["features"].shape[:2]
        assert n == 4 and analysis["prototypes"].shape == (8, d)
        assert analysis["semantic_prototypes"].shape == (4, 8, d)
