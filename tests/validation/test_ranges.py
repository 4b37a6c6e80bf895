"""Root cause 2: range checks were missing or ran inside the worker, after the run started.

Each value out of range is refused when the spec is planned, at the key it was written under.
"""
from __future__ import annotations

import pytest

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"

ROW_CASES = [
    ("seed: -1", "rows[0].seed", "seed must be in"),
    ("seed: 99999999999", "rows[0].seed", "seed must be in"),
    ("train: {max_iters: 0}", "rows[0].train.max_iters", "at least 1"),
    ("train: {max_iters: -5}", "rows[0].train.max_iters", "at least 1"),
    ("train: {batch_size: 0}", "rows[0].train.batch_size", "at least 1"),
    ("train: {val_interval: -1}", "rows[0].train.val_interval", "at least 1"),
    ("train: {checkpoint_interval: 0}", "rows[0].train.checkpoint_interval", "at least 1"),
    ("train: {num_workers: -2}", "rows[0].train.num_workers", "at least 0"),
    ("train: {lr: -0.01}", "rows[0].train.lr", "positive finite"),
    ("train: {lr: 0}", "rows[0].train.lr", "positive finite"),
    ("train: {lr: .inf}", "rows[0].train.lr", "positive finite"),
    ("train: {lr: .nan}", "rows[0].train.lr", "positive finite"),
    ("train: {crop_size: [0, 0]}", "rows[0].train.crop_size", "[height, width]"),
    ("train: {crop_size: [512, -1]}", "rows[0].train.crop_size", "[height, width]"),
    ("train: {crop_size: [512, 512, 3]}", "rows[0].train.crop_size", "[height, width]"),
    ("measure: {threads: 0}", "rows[0].measure.threads", "at least 1"),
    ("measure: {latency_iters: -5}", "rows[0].measure.latency_iters", "at least 1"),
    ("measure: {latency_iters: 0}", "rows[0].measure.latency_iters", "at least 1"),
    ("measure: {latency_warmup: -1}", "rows[0].measure.latency_warmup", "at least 0"),
    ("measure: {input_size: [64]}", "rows[0].measure.input_size", "[height, width]"),
    ("ssa: {enabled: true, w_g: .nan}", "rows[0].ssa.w_g", "finite"),
    ("ssa: {enabled: true, w_rd: .inf}", "rows[0].ssa.w_rd", "finite"),
    ("ssa: {enabled: true, w_sd: -.inf}", "rows[0].ssa.w_sd", "finite"),
    ("ssa: {enabled: true, w_pd: .nan}", "rows[0].ssa.w_pd", "finite"),
    ("cfg: {'': 3}", "rows[0].cfg.", "bad mmseg config key"),
    ("cfg: {'model..x': 3}", "rows[0].cfg.model..x", "bad mmseg config key"),
    ("slurm: {nodes: 0}", "rows[0].slurm.nodes", "at least 1"),
    ("slurm: {cpus_per_gpu: 0}", "rows[0].slurm.cpus_per_gpu", "at least 1"),
    ("slurm: {gpus: -1}", "rows[0].slurm.gpus", "at least 0"),
    ("train: {pretrained: ''}", "rows[0].train.pretrained", "empty checkpoint path"),
]


@pytest.mark.parametrize("row,key,message", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_value_out_of_range(refuse, row, key, message):
    refuse.bad_spec(BASE + f"rows: [{{label: a, {row}}}]\n", key, message)


@pytest.mark.parametrize("row,key,message", ROW_CASES[:10], ids=[c[0] for c in ROW_CASES[:10]])
def test_base_value_out_of_range(refuse, row, key, message):
    refuse.bad_spec("base: {baseline: seaformer_l, dataset: ade20k, " + row + "}\nrows: [{label: a}]\n",
                    key.replace("rows[0]", "base"), message)


INLINE = "datasets:\n  mine: {{root: /tmp/none, classes: [a, b], {extra}}}\nbase: {{baseline: segnext_t, dataset: mine}}\nrows: [{{label: a}}]\n"

DATASET_CASES = [
    ("crop_size: [0, 0]", "datasets.mine.crop_size", "[height, width]"),
    ("crop_size: [512]", "datasets.mine.crop_size", "[height, width]"),
    ("max_iters: -5", "datasets.mine.max_iters", "at least 1"),
    ("max_iters: 0", "datasets.mine.max_iters", "at least 1"),
    ("scale: [2048]", "datasets.mine.scale", "[height, width]"),
    ("scale: [0, 512]", "datasets.mine.scale", "[height, width]"),
    ("reduce_zero_label: 1", "datasets.mine.reduce_zero_label", "true or false"),
    ("colour: red", "datasets.mine.colour", "unknown key 'colour'"),
]


@pytest.mark.parametrize("extra,key,message", DATASET_CASES, ids=[c[0] for c in DATASET_CASES])
def test_inline_dataset_value_out_of_range(refuse, extra, key, message):
    refuse.bad_spec(INLINE.format(extra=extra), key, message)


def test_inline_dataset_with_empty_root(refuse):
    refuse.bad_spec("datasets:\n  mine: {root: '  ', classes: [a]}\nbase: {baseline: segnext_t, dataset: mine}\n"
                    "rows: [{label: a}]\n", "datasets.mine.root", "empty dataset root")


def _run_refused(tmp_path, capsys, spec_text: str, *expected: str) -> None:
    """`run` refuses before any run starts (its summary line may precede the error line)."""
    from tests.validation.conftest import nothing_written, run_cli

    spec = tmp_path / "s.yaml"
    spec.write_text(spec_text)
    results = tmp_path / "results"
    code, _, err = run_cli(["run", str(spec), "--results-dir", str(results)], capsys)
    assert code == 2, err
    error_lines = [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]
    assert len(error_lines) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in error_lines[0]
    assert nothing_written(results)


def test_inline_dataset_root_with_folders_but_no_images(tmp_path, capsys):
    root = tmp_path / "mine"
    for part in ("images/training", "images/validation", "annotations/training", "annotations/validation"):
        (root / part).mkdir(parents=True)
    _run_refused(tmp_path, capsys, f"datasets:\n  mine: {{root: {root}, classes: [a, b]}}\n"
                 "base: {baseline: segnext_t, dataset: mine, train: {pretrained: none}}\nrows: [{label: a}]\n",
                 "dataset 'mine'", "images/training images (*.jpg)")


def test_missing_pretrained_file(tmp_path, capsys):
    missing = tmp_path / "nope.pth"
    _run_refused(tmp_path, capsys, "base: {baseline: segnext_t, dataset: demo_shapes, "
                 f"train: {{pretrained: {missing}}}}}\nrows: [{{label: a}}]\n", "train.pretrained", str(missing))
