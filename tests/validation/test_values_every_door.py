"""Root cause 1: values from --set and axes/zip skipped the spec's type checks.

One check per value now runs for every door; a bad value is reported where it was written:
``rows[0].train.lr``, ``axes.seed[1]``, ``--set train.lr``.
"""
from __future__ import annotations

import pytest

GOOD_BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"
ONE_ROW = "rows: [{label: a}]\n"

SPEC = GOOD_BASE + ONE_ROW

SET_CASES = [
    ("train.max_iters=lots", "--set train.max_iters", "expected an integer"),
    ("train.lr=fast", "--set train.lr", "expected a number"),
    ("seed=abc", "--set seed", "expected an integer"),
    ("seed=1.5", "--set seed", "expected an integer"),
    ("seed=true", "--set seed", "expected an integer"),
    ("train=5", "--set train", "expected a mapping"),
    ("ssa=3", "--set ssa", "expected a mapping"),
    ("measure=[1]", "--set measure", "expected a mapping"),
    ("evaluate=yes", "--set evaluate", "expected a mapping"),
    ("train.batch_size=two", "--set train.batch_size", "expected an integer"),
    ("train.crop_size=512", "--set train.crop_size", "expected a list"),
    ("train.crop_size=[512]", "--set train.crop_size", "[height, width]"),
    ("train.device=7", "--set train.device", "expected a string"),
    ("train.device=tpu", "--set train.device", "unknown device 'tpu'"),
    ("measure.threads=many", "--set measure.threads", "expected an integer"),
    ("measure.input_size=[0, 512]", "--set measure.input_size", "[height, width]"),
    ("evaluate.aug_test=maybe", "--set evaluate.aug_test", "true or false"),
    ("evaluate.test_mode=sliding", "--set evaluate.test_mode", "unknown test mode"),
    ("baseline=[a]", "--set baseline", "expected a string"),
    ("dataset=3", "--set dataset", "expected a string"),
    ("cfg=5", "--set cfg", "--set cfg needs the mmseg key"),
    ("slurm.gpus=four", "--set slurm.gpus", "expected an integer"),
    # a SLURM time limit is checked when the spec is planned, as the cluster profile checks it
    # (ssa_bench/vocabulary/slurm_keys.py); a bare number is minutes there, so 5 is valid
    ("slurm.time=[5]", "--set slurm.time", "expected a string or an integer"),
    ("slurm.time=25:99", "--set slurm.time", "not a SLURM time limit"),
    ("slurm.time=soon", "--set slurm.time", "not a SLURM time limit"),
    ("slurm.mem_per_gpu=lots", "--set slurm.mem_per_gpu", "not a memory size"),
    ("ssa.pe=rope", "--set ssa.pe", "unknown pe 'rope'"),
    ("ssa.w_g=.nan", "--set ssa.w_g", "finite"),
    ("ssa.enabeld=true", "--set ssa.enabeld", "unknown SSA setting"),
    ("ssa.edge_size=big", "--set ssa.edge_size", "expected an integer"),
]


@pytest.mark.parametrize("override,key,message", SET_CASES, ids=[c[0] for c in SET_CASES])
def test_set_value_is_checked_like_the_spec(refuse, override, key, message):
    path = refuse.spec(SPEC)
    refuse([str(path), "--set", override], key, message)


TYPO_CASES = [
    ("train.max_iter=100", "did you mean 'train.max_iters'"),
    ("max_iters=100", "did you mean 'train.max_iters'"),
    ("lr=0.1", "did you mean 'train.lr'"),
    ("batch_size=4", "did you mean 'train.batch_size'"),
    ("threads=2", "did you mean 'measure.threads'"),
    ("train.batchsize=4", "did you mean 'train.batch_size'"),
    ("measure.thread=2", "did you mean 'measure.threads'"),
    ("evaluate.augtest=true", "did you mean 'evaluate.aug_test'"),
    ("datset=ade20k", "did you mean 'dataset'"),
    ("baseline_name=x", "did you mean 'baseline'"),
    ("train.max_iters.x=1", "unknown key 'train.max_iters.x'"),
    ("base.dataset=x", "write --set dataset=..."),
    ("base.train.lr=1", "write --set train.lr=..."),
    ("rows.label=x", "cannot be set from the command line"),
    ("axes.seed=[1]", "cannot be set from the command line"),
    ("=5", "--set needs a key"),
    ("train..lr=1", "--set needs a key"),
    ("noequals", "--set needs KEY=VALUE"),
]


@pytest.mark.parametrize("override,message", TYPO_CASES, ids=[c[0] for c in TYPO_CASES])
def test_set_typo_is_refused_with_a_suggestion(refuse, override, message):
    path = refuse.spec(SPEC)
    refuse([str(path), "--set", override], "--set", message)


AXIS_CASES = [
    ("seed: [0.5, 1.5]", "axes.seed[0]", "expected an integer"),
    ("seed: [0, 1.5]", "axes.seed[1]", "expected an integer"),
    ("seed: [0, -3]", "axes.seed[1]", "seed must be in"),
    ("seed: [4294967296]", "axes.seed[0]", "seed must be in"),
    ("ssa: [1, 2]", "axes.ssa[0]", "expected a mapping"),
    ("train.max_iters: [fast]", "axes.train.max_iters[0]", "expected an integer"),
    ("train.max_iters: [100, 0]", "axes.train.max_iters[1]", "must be at least 1"),
    ("train.lr: [0.1, -0.1]", "axes.train.lr[1]", "positive finite"),
    ("train.lr: [.inf]", "axes.train.lr[0]", "positive finite"),
    ("train.lr: [.nan]", "axes.train.lr[0]", "positive finite"),
    ("train.crop_size: [[512, 512], [0, 0]]", "axes.train.crop_size[1]", "[height, width]"),
    ("train.num_workers: [-2]", "axes.train.num_workers[0]", "at least 0"),
    ("measure.threads: [0]", "axes.measure.threads[0]", "at least 1"),
    ("measure.latency_iters: [-5]", "axes.measure.latency_iters[0]", "at least 1"),
    ("dataset: [ade20k, 7]", "axes.dataset[1]", "expected a string"),
    ("baseline: ['']", "axes.baseline[0]", "empty baseline"),
    ("ssa.edge_size: [3, fast]", "axes.ssa.edge_size[1]", ""),
    ("ssa.w_g: [.nan]", "axes.ssa.w_g[0]", "finite"),
    ("ssa.w_rd: [-.inf]", "axes.ssa.w_rd[0]", "finite"),
    ("ssa.pe: [rope]", "axes.ssa.pe[0]", "unknown pe 'rope'"),
    ("evaluate.test_mode: [whole, zoom]", "axes.evaluate.test_mode[1]", "unknown test mode"),
]


@pytest.mark.parametrize("axis,key,message", AXIS_CASES, ids=[c[0] for c in AXIS_CASES])
def test_axis_value_is_reported_at_its_index(refuse, axis, key, message):
    line = refuse.bad_spec(SPEC + f"axes: {{{axis}}}\n", key, message)
    assert "rows[0]" not in line


@pytest.mark.parametrize("axis,key,message", AXIS_CASES[:8], ids=[c[0] for c in AXIS_CASES[:8]])
def test_zip_value_is_reported_at_its_index(refuse, axis, key, message):
    refuse.bad_spec(SPEC + f"zip: {{{axis}}}\n", key.replace("axes.", "zip."), message)


def test_seed_axis_is_not_silently_truncated():
    """The bug: 0.5 and 1.5 became seeds 0 and 1. Now the loader refuses, in-process."""
    from ssa_bench.errors import SpecError
    from ssa_bench.matrix.spec_checks import check_axes

    with pytest.raises(SpecError, match=r"axes.seed\[0\]"):
        check_axes({"seed": [0.5, 1.5]}, "f.yaml", "axes")
