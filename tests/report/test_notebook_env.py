"""SSA_BENCH_SET's grammar and the notebooks' run choice (no kernel here; tests/test_notebooks.py
runs the notebooks themselves)."""
from __future__ import annotations

import types

import pytest

from ssa_bench.errors import UserError
from ssa_bench.report.notebook_env import choose_run, split_overrides


@pytest.mark.parametrize("text,expected", [
    (None, []),
    ("", []),
    ("train.max_iters=20;ssa.pe=learnable", ["train.max_iters=20", "ssa.pe=learnable"]),
    ("train.max_iters=20\nssa.pe=learnable\n", ["train.max_iters=20", "ssa.pe=learnable"]),
    (" train.crop_size=[64, 64] ; train.log_backends=[tensorboard, wandb];",
     ["train.crop_size=[64, 64]", "train.log_backends=[tensorboard, wandb]"]),
    ("report.caption='a; b';seeds=[0,1]", ["report.caption='a; b'", "seeds=[0,1]"]),
    ("cfg.x={a: [1; 2]};seed=1", ["cfg.x={a: [1; 2]}", "seed=1"]),
])
def test_split_overrides(text, expected):
    assert split_overrides(text) == expected


@pytest.mark.parametrize("text,message", [
    ("train.max_iters", "is not KEY=VALUE"),
    ("train.max_iters=20,ssa.pe=learnable;ssa", "'ssa' is not KEY=VALUE"),
    ("train.crop_size=[64, 64", "unclosed"),
    ("report.caption='a;b", "unclosed '"),
])
def test_split_overrides_refuses_in_one_line(text, message):
    with pytest.raises(UserError) as caught:
        split_overrides(text)
    line = caught.value.one_line()
    assert line.startswith("SSA_BENCH_SET: ") and message in line and "\n" not in line


def _run(run_id, label, ssa):
    return types.SimpleNamespace(id=run_id, label=label, is_ssa=ssa, ssa={"enabled": ssa})


SPEC = types.SimpleNamespace(path="figtest.yaml", name="figtest", profile="cpu-demo")


def test_choose_run_by_id_or_prefix():
    data = [_run("aaaa11112222", "Baseline", False), _run("bbbb11112222", "SSA (Ours)", True)]
    assert choose_run(data, "bbbb11112222", SPEC, []).label == "SSA (Ours)"
    assert choose_run(data, "bbbb", SPEC, []).label == "SSA (Ours)"
    with pytest.raises(UserError, match="does not use SSA"):
        choose_run(data, "aaaa", SPEC, [])
    with pytest.raises(UserError) as caught:
        choose_run(data, "cccc", SPEC, ["train.max_iters=20"])
    line = caught.value.one_line()
    assert ("SSA_BENCH_RUN=cccc is not a run of figtest.yaml (profile cpu-demo, SSA_BENCH_SET train.max_iters=20)"
            in line)
    assert "aaaa11112222 (Baseline), bbbb11112222 (SSA (Ours))" in line
    with pytest.raises(UserError, match="names several runs"):
        choose_run(data + [_run("bbbb99990000", "other", True)], "bbbb", SPEC, [])


def test_split_overrides_splits_only_at_semicolons_and_newlines():
    """Found by mutation testing: no case had a letter that a wider separator set would split at."""
    assert split_overrides("report.caption=XYZ;seed=1") == ["report.caption=XYZ", "seed=1"]
