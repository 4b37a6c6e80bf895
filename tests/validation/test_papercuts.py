"""Root cause 10: papercuts -- an inline data set's resize scale, list-valued `scale` overrides for
mmcv, the cpu-demo caption of a real data set, the --help text, `data check` at 80 columns."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.validation.conftest import run_cli

INLINE = ("datasets:\n  mine: {{root: /tmp/mine, classes: [a, b]{extra}}}\n"
          "base: {{baseline: segnext_t, dataset: mine, train: {{pretrained: none}}}}\nrows: [{{label: a}}]\n")


def _load(tmp_path, text, **kwargs):
    from ssa_bench.matrix import load_spec

    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_spec(str(path), **kwargs)


def test_inline_dataset_scale_reaches_the_run_config(tmp_path):
    run = _load(tmp_path, INLINE.format(extra=", scale: [1024, 256]")).runs[0]
    assert run.config["dataset_def"]["scale"] == [1024, 256]


def test_inline_dataset_without_scale_keeps_its_id(tmp_path):
    """`scale` is added only when set: the config (and id) of an inline data set without it is as before."""
    run = _load(tmp_path, INLINE.format(extra="")).runs[0]
    assert "scale" not in run.config["dataset_def"]


@pytest.mark.parametrize("datasets,synthetic", [(["demo_shapes"], True), (["mine"], False),
                                                (["demo_shapes", "mine"], False)])
def test_cpu_demo_caption_says_synthetic_only_for_generated_data(datasets, synthetic):
    from ssa_bench.report.caption import _profile_sentence

    table = SimpleNamespace(profile="cpu-demo", ours_baselines=["segformer_mini"], ours_datasets=datasets)
    assert ("synthetic data" in _profile_sentence(table)) is synthetic


def test_help_is_for_users(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    assert "Reproduce the SSA paper's tables" in out
    assert "parses arguments" not in out and "Heavy imports" not in out


def test_data_check_keeps_paths_whole_at_80_columns(capsys, monkeypatch):
    from ssa_bench import data

    long_path = "/very/long/shared/cluster/storage/" + "x" * 60 + "/ADEChallengeData2016"
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(data, "check", lambda: [
        {"name": "ade20k", "found": False, "path": long_path, "fix": "run `ssa-bench data prepare ade20k`"},
        {"name": "demo_shapes", "found": True, "path": "/data/demo_shapes", "fix": ""}])
    code, out, _ = run_cli(["data", "check"], capsys)
    assert code == 0
    assert any(line.startswith("ade20k") and long_path in line for line in out.splitlines())
    assert "ssa-bench data prepare ade20k" in out


def _resize_scales(cfg) -> list:
    steps = list(cfg.train_dataloader.dataset.pipeline) + list(cfg.val_dataloader.dataset.pipeline)
    return [step.get("scale") for step in steps if step["type"] in ("Resize", "RandomResize")]


def test_inline_scale_and_cfg_scale_override_reach_mmcv_as_tuples(tmp_path):
    from ssa_bench.configs import build_mmseg_config

    run = _load(tmp_path, INLINE.format(extra=", scale: [1024, 256]")).runs[0]
    scales = _resize_scales(build_mmseg_config(run.config, str(tmp_path / "work")))
    assert scales and all(tuple(s) == (1024, 256) and isinstance(s, tuple) for s in scales)
    # a raw mmseg override of a transform's scale, written as a YAML list, arrives as a tuple
    config = dict(run.config, cfg={"resize_for_test.scale": [640, 160]})
    cfg = build_mmseg_config(config, str(tmp_path / "work2"))
    assert cfg.resize_for_test.scale == (640, 160) and isinstance(cfg.resize_for_test.scale, tuple)


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_run_refuses_a_missing_tracker_before_anything_runs(refuse, monkeypatch, tmp_path, dry_run):
    # wandb is not installed in the test environment: the pre-run check names it before any
    # worker would die with an ImportError in mid-training
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))
    path = refuse.spec("base: {baseline: segformer_mini, dataset: demo_shapes}\nrows: [{label: a}]\n")
    refuse([str(path), "--profile", "cpu-demo", "--set", "train.log_backends=[tensorboard, wandb]",
            *(["--dry-run"] if dry_run else [])],
           "train.log_backends", "needs the wandb package", "pip install wandb")
