"""`ssa-bench preflight SPEC`: one training step and one evaluation forward of each distinct model on
the CPU, with the JSON it prints (issue 23 item 3). The projection's arithmetic is checked on its
own; the commands run real models (the demo model at its real size, SegNeXt-T at a quarter crop)."""
from __future__ import annotations

import json

import pytest

from ssa_bench.cli import main
from ssa_bench.stages.preflight import model_key, project, scaled_crop

MODEL_FIELDS = ("device", "memory_measure", "peak_memory_mb", "step_s", "eval_forward_s", "params_m",
                "batch_per_device", "crop_size", "eval_size", "synthetic", "data_note", "val_images", "checkpoint",
                "runs", "error")
RUN_FIELDS = ("id", "label", "model", "max_iters", "world_size", "projected_s", "projected_h", "train_s", "eval_s",
              "attempts", "requeues", "fits", "time_limit_s")


@pytest.fixture
def env(tmp_path, monkeypatch, from_repo_root):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SSA_BENCH_CLUSTER", raising=False)
    return tmp_path


def _preflight(capsys, *argv) -> tuple[int, dict, str]:
    code = main(["preflight", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


# -- arithmetic --------------------------------------------------------------------------------

def test_the_projection_counts_steps_evaluations_and_requeues():
    config = {"train": {"max_iters": 1000, "val_interval": 250}, "measure": {"latency_warmup": 5, "latency_iters": 15}}
    # 1000 steps of 2 s; 4 validations + the evaluate stage over 100 images on 4 GPUs, 0.5 s each;
    # 20 latency forwards of 0.5 s
    projection = project(config, 2.0, 0.5, 100, 4)
    assert projection.train_s == 2000 and projection.evaluations == 5
    assert projection.eval_s == 0.5 * (100 * 5 / 4 + 20) and projection.attempts is None and projection.fits
    limited = project(config, 2.0, 0.5, 100, 4, limit_s=1000, max_requeues=1)
    assert (limited.attempts, limited.requeues, limited.fits) == (3, 2, False)
    assert project(config, 2.0, 0.5, 100, 4, limit_s=3000, max_requeues=0).requeues == 0


def test_scaled_crops_stay_multiples_of_32():
    assert scaled_crop([512, 512], 1) == [512, 512]
    assert scaled_crop([512, 512], 0.25) == [128, 128]
    assert scaled_crop([480, 480], 0.25) == [128, 128]
    assert scaled_crop([64, 64], 0.25) == [64, 64]


def test_runs_that_differ_in_schedule_or_seed_share_a_model():
    base = {"baseline": "segnext_t", "dataset": "ade20k", "ssa": {"enabled": False}, "seed": 0,
            "train": {"max_iters": 160000, "crop_size": [512, 512], "batch_size": 16, "lr": None, "pretrained": None}}
    other = {**base, "seed": 1, "train": {**base["train"], "max_iters": 80000, "lr": 0.1}}
    assert model_key(base, 4) == model_key(other, 4)
    assert model_key(base, 4) != model_key(base, 2)
    assert model_key(base, 4) != model_key({**base, "ssa": {"enabled": True}}, 4)
    assert model_key(base, 4) != model_key({**base, "dataset": "coco_stuff10k"}, 4)


# -- the command ---------------------------------------------------------------------------------

def test_cpu_demo_table3_reports_every_model(env, capsys, demo_data, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    code, result, _ = _preflight(capsys, "tables/table3.yaml", "--profile", "cpu-demo", "--steps", "1",
                                 "--results-dir", str(env / "r"))
    assert code == 0 and result["problems"] == []
    assert len(result["models"]) == 7 and len(result["runs"]) == 7
    for model in result["models"]:
        for field in MODEL_FIELDS:
            assert field in model, field
        assert model["device"] == "cpu" and "peak RSS" in model["memory_measure"]
        assert model["peak_memory_mb"] > 50 and model["step_s"] > 0 and model["eval_forward_s"] > 0
        assert 0 < model["baseline_mb"] <= model["peak_memory_mb"]          # the process before this model
        assert model["synthetic"] is False and model["val_images"] == 80        # the generated demo data
        assert model["checkpoint"]["state"] == "none" and model["crop_size"] == [64, 64]
    for run in result["runs"]:
        for field in RUN_FIELDS:
            assert field in run, field
        assert run["world_size"] == 1 and run["time_limit_s"] is None and run["max_iters"] == 2000
        assert run["projected_h"] > 0 and run["requeues"] is None
    assert result["cluster"] is None                       # the demo trains on the CPU, here
    total = sum(run["projected_s"] for run in result["runs"]) / 3600
    assert abs(result["table"]["projected_h"] - total) < 1e-2


def test_a_paper_model_at_a_quarter_crop_with_its_checkpoint_absent(env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "no-data"))
    spec = tmp_path / "segnext.yaml"
    spec.write_text("name: segnext\nbase: {baseline: segnext_t, dataset: ade20k}\nrows:\n  - label: Baseline\n"
                    "    ssa: {enabled: false}\n")
    code, result, err = _preflight(capsys, str(spec), "--scale", "0.25", "--steps", "1",
                                   "--results-dir", str(env / "r"))
    assert code == 0, err
    (model,) = result["models"]
    # the paper's batch 16 over example-gpu's 4 GPUs per run: 4 per device, at a quarter of 512
    assert model["batch_per_device"] == 4 and model["crop_size"] == [128, 128] and model["scale"] == 0.25
    assert model["checkpoint"]["state"] == "absent" and model["checkpoint"]["path"].endswith(".pth")
    assert model["synthetic"] is True and "dataset 'ade20k' not found" in model["data_note"]
    assert model["val_images"] == 2000 and model["eval_size"][0] == 128
    assert model["params_m"] > 4 and model["peak_memory_mb"] > 100
    (run,) = result["runs"]
    assert run["world_size"] == 4 and run["max_iters"] == 160000
    assert run["time_limit_s"] == 1440 * 60 - 300 and run["attempts"] >= 1
    assert result["cluster"]["name"] == "example-gpu"
    if run["requeues"]:
        assert run["id"] in result["table"]["needing_requeues"]
    # the text form says what it probed
    assert main(["preflight", str(spec), "--scale", "0.25", "--steps", "1", "--results-dir", str(env / "r")]) == 0
    out = capsys.readouterr().out
    assert "NOT the runs' real shapes" in out and "absent" in out and "random" in out and "synthetic batch" in out


def test_a_run_that_cannot_start_is_one_line_and_exit_2(env, capsys, tmp_path, demo_data, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"$ not a checkpoint")
    spec = tmp_path / "one.yaml"
    # two seeds of one model: probed once, and each run that could not start gets its line
    spec.write_text("name: one\nseeds: [0, 1]\nbase: {baseline: segformer_mini, dataset: demo_shapes,\n"
                    "  train: {max_iters: 10, batch_size: 2, crop_size: [64, 64], val_interval: 5,\n"
                    f"          checkpoint_interval: 5, num_workers: 0, device: cpu, pretrained: '{broken}'}}}}\n"
                    "rows:\n  - label: A\n    ssa: {enabled: false}\n")
    code, result, err = _preflight(capsys, str(spec), "--steps", "1", "--results-dir", str(env / "r"))
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]
    assert len(result["models"]) == 1 and len(result["runs"]) == 2 and len(errors) == 2, errors
    for line, run in zip(errors, result["runs"]):
        # found by the same format check as `run`'s, before the model is built
        assert f"run {run['id']}" in line and str(broken) in line and "not a PyTorch checkpoint" in line
    assert result["models"][0]["error"] and "projected_s" not in result["runs"][0]


def test_cuda_asked_where_there_is_none_is_a_run_that_cannot_start(env, capsys, tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))
    code, result, err = _preflight(capsys, "tables/table3.yaml", "--profile", "cpu-demo", "--set",
                                   "train.device=cuda", "--results-dir", str(env / "r"))
    assert code == 2 and len(result["problems"]) == 7
    assert "train.device: cuda" in err and "no CUDA device" in err


def test_bad_scale_is_exit_2(env, capsys):
    assert main(["preflight", "tables/table3.yaml", "--profile", "cpu-demo", "--scale", "0"]) == 2
    assert "--scale" in capsys.readouterr().err


@pytest.mark.slow
def test_table1_paper_at_reduced_shapes_lists_every_distinct_model(env, capsys, tmp_path, monkeypatch):
    """Every distinct model of Table 1 (9 baselines x {baseline, SSA} x 3 data sets) built, stepped and
    evaluated on the CPU at an eighth of the crop, with memory, step time and projected hours."""
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "no-data"))
    # the CI size: 64x64 crops, two images per GPU (batch 8 over example-gpu's 4; one image of a
    # pooled branch is a single value per channel for BN in one process), one step
    code, result, err = _preflight(capsys, "tables/table1.yaml", "--profile", "paper", "--scale", "0.125",
                                   "--steps", "1", "--set", "train.batch_size=8", "--results-dir", str(env / "r"))
    assert code == 0, err
    assert len(result["runs"]) == 54
    baselines = {model["baseline"] for model in result["models"]}
    assert baselines == {"ocrnet_hr48", "upernet_swin_t", "segformer_b5", "upernet_swin_l", "vit_adapter_l",
                         "afformer_b", "seaformer_b", "segnext_t", "seaformer_l"}
    assert len(result["models"]) == 54                      # classes and crops differ per data set
    for model in result["models"]:
        assert model["error"] is None and model["peak_memory_mb"] > 0 and model["step_s"] > 0
        assert model["crop_size"] == [64, 64] and model["batch_per_device"] == 2
    for run in result["runs"]:
        assert run["projected_h"] > 0 and run["attempts"] >= 1 and run["world_size"] == 4


def test_one_image_per_gpu_with_syncbn_says_why_it_cannot_be_probed(env, capsys, tmp_path, monkeypatch):
    """SeaFormer-B's pooled branch has one value per channel for one image: SyncBN over 4 GPUs sees 4,
    one process sees 1; preflight says so instead of claiming the run would fail."""
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "no-data"))
    spec = tmp_path / "sea.yaml"
    spec.write_text("name: sea\nbase: {baseline: seaformer_b, dataset: ade20k}\nrows:\n  - label: Baseline\n"
                    "    ssa: {enabled: false}\n")
    code, result, err = _preflight(capsys, str(spec), "--scale", "0.125", "--steps", "1", "--set",
                                   "train.batch_size=4", "--results-dir", str(env / "r"))
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]
    assert "cannot be probed at 1 image per device" in line and "--set train.batch_size" in line
