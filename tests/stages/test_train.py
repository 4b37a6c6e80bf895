"""The train stage: a real (tiny) mmengine training on the demo data, its curve, progress, resume."""
from __future__ import annotations

import json
import os

import pytest

from ssa_bench.stages.runner import checkpoint_iter, latest_checkpoint, read_curve
from tests.stages.stage_helpers import run_config


def test_checkpoint_iter():
    assert checkpoint_iter("/x/work_dir/iter_120.pth") == 120
    assert checkpoint_iter(None) is None and checkpoint_iter("/x/epoch_3.pth") is None


def test_read_curve_merges_restarts(tmp_path):
    # One vis_data per Runner start: a resumed run's curve is the union, the later start wins.
    for stamp, lines in [("20240101_000000", [{"mIoU": 1.0, "step": 10}, {"loss": 3.0, "step": 11},
                                              {"mIoU": 2.0, "step": 20}]),
                         ("20240101_000100", [{"mIoU": 2.5, "step": 20}, {"mIoU": 4.0, "step": 30}])]:
        folder = tmp_path / stamp / "vis_data"
        folder.mkdir(parents=True)
        (folder / "scalars.json").write_text("".join(json.dumps(line) + "\n" for line in lines) + "{broken")
    assert read_curve(str(tmp_path)) == [{"iter": 10, "mIoU": 1.0}, {"iter": 20, "mIoU": 2.5},
                                         {"iter": 30, "mIoU": 4.0}]
    assert read_curve(str(tmp_path / "nothing")) == []


def test_latest_checkpoint_follows_pointer(tmp_path):
    assert latest_checkpoint(str(tmp_path / "missing")) is None
    for name in ("iter_10.pth", "iter_20.pth"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "iter_10.pth"))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "iter_10.pth")


@pytest.mark.slow
def test_train_then_resume(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.train import train_stage

    config = run_config(ssa=True)
    ensure_datasets([config])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = train_stage(config, str(run_dir))
    assert result["iters"] == 20 and result["resumed_from_iter"] is None
    assert result["device"] == "cpu" and result["world_size"] == 1 and result["wall_time_s"] > 0
    assert [point["iter"] for point in result["curve"]] == [10, 20]
    assert all(0 <= point["mIoU"] <= 100 for point in result["curve"])
    work = run_dir / "work_dir"
    assert (work / "iter_20.pth").exists()
    progress = json.loads((run_dir / "progress.json").read_text())
    assert progress["stage"] == "train" and progress["iter"] == 20 and progress["max_iters"] == 20

    # A job killed after its first checkpoint: only iter_10 is there. Training again continues
    # from iteration 10 instead of starting over.
    os.unlink(work / "iter_20.pth")
    (work / "last_checkpoint").write_text(str(work / "iter_10.pth"))
    again = train_stage(config, str(run_dir))
    assert again["resumed_from_iter"] == 10 and again["iters"] == 20
    logs = sorted(work.glob("*/*.log"))
    assert "resumed" in logs[-1].read_text().lower()
    assert [point["iter"] for point in again["curve"]] == [10, 20]

    # A job killed after its last checkpoint but before the validation that follows it: iter_20
    # is there, the curve's point at 20 is not. The resumed attempt has nothing left to train and
    # validates before it stops, so the curve still ends at max_iters.
    for scalars in work.glob("*/vis_data/scalars.json"):
        lines = scalars.read_text().splitlines(keepends=True)
        scalars.write_text("".join(line for line in lines
                                   if not ('"mIoU"' in line and json.loads(line)["step"] == 20)))
    assert [point["iter"] for point in read_curve(str(work))] == [10]
    final = train_stage(config, str(run_dir))
    assert final["resumed_from_iter"] == 20 and final["iters"] == 20
    assert [point["iter"] for point in final["curve"]] == [10, 20]
    starts = sorted(work.glob("*/vis_data/scalars.json"))
    assert [json.loads(line)["step"] for line in starts[-1].read_text().splitlines()
            if '"mIoU"' in line] == [20]      # only the lost validation ran again


@pytest.mark.slow
def test_a_torn_checkpoint_is_skipped_and_training_goes_on_from_the_previous_one(tmp_path, monkeypatch, demo_data,
                                                                                capfd):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.train import train_stage
    from ssa_bench.store import checkpoints

    config = run_config()
    ensure_datasets([config])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = train_stage(config, str(run_dir))
    work = run_dir / "work_dir"
    # Every checkpoint committed whole: a note beside it, no temp file, the pointer relative.
    assert first["checkpoint"] == os.path.join("work_dir", "iter_20.pth") and first["skipped_checkpoints"] == []
    assert (work / "last_checkpoint").read_text() == "iter_20.pth"
    assert all(checkpoints.problem(str(work / name)) is None for name in ("iter_10.pth", "iter_20.pth"))
    assert not [name for name in os.listdir(work) if name.startswith(".")]

    # Killed while iter_20 was being written in place (today's mmengine): a third of it is there.
    os.truncate(work / "iter_20.pth", os.path.getsize(work / "iter_20.pth") // 3)
    capfd.readouterr()
    again = train_stage(config, str(run_dir))
    log = capfd.readouterr().err
    assert again["resumed_from_iter"] == 10 and again["iters"] == 20
    assert [item["name"] for item in again["skipped_checkpoints"]] == ["iter_20.pth"]
    assert "iter_20.pth" in log and "resuming from iter_10.pth" in log
    assert (work / "damaged" / "iter_20.pth").exists()
    assert checkpoints.problem(str(work / "iter_20.pth")) is None        # trained and written again

    # Nothing intact at all: training starts over, and says so.
    for name in ("iter_10.pth", "iter_20.pth"):
        os.truncate(work / name, 10)
    capfd.readouterr()
    over = train_stage(config, str(run_dir))
    assert over["resumed_from_iter"] is None and over["iters"] == 20
    assert "starts over from iteration 0" in capfd.readouterr().err
    assert [item["name"] for item in over["skipped_checkpoints"]] == ["iter_20.pth", "iter_20.pth", "iter_10.pth"]


@pytest.mark.slow
def test_checkpoints_past_max_keep_go_with_their_notes(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.train import train_stage

    config = run_config(max_iters=30, val_interval=30)
    ensure_datasets([config])
    train_stage(config, str(tmp_path))
    work = tmp_path / "work_dir"
    assert sorted(name for name in os.listdir(work) if name.startswith(("iter_", ".iter_"))) == [
        "iter_20.pth", "iter_20.pth.json", "iter_30.pth", "iter_30.pth.json"]
