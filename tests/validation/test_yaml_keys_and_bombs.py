"""Root causes 4 and 8: duplicate YAML keys (last one silently won) and alias bombs (out of memory
while hashing the run id). Both are refused while the file is read, with line numbers or the limit."""
from __future__ import annotations

import time

import pytest

from ssa_bench.validation.yaml_file import MAX_EXPANDED_NODES

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"

DUPLICATES = [
    (BASE + "rows: [{label: a}]\nrows: [{label: b}]\n", "'rows' is written twice (lines 2 and 3)"),
    ("base: {baseline: seaformer_l, dataset: ade20k}\nbase: {dataset: ade20k}\nrows: [{label: a}]\n",
     "'base' is written twice (lines 1 and 2)"),
    (BASE + "rows:\n  - label: a\n    ssa:\n      pe: cpvt\n      pe: sinusoidal\n", "'pe' is written twice (lines 5 and 6)"),
    (BASE + "rows:\n  - label: a\n    label: b\n", "'label' is written twice (lines 3 and 4)"),
    (BASE + "rows: [{label: a}]\naxes:\n  seed: [1]\n  seed: [2]\n", "'seed' is written twice (lines 4 and 5)"),
    (BASE + "rows: [{label: a, train: {lr: 0.1, lr: 0.2}}]\n", "'lr' is written twice (lines 2 and 2)"),
]


@pytest.mark.parametrize("text,message", DUPLICATES, ids=range(len(DUPLICATES)))
def test_duplicate_key_names_both_lines(refuse, text, message):
    refuse.bad_spec(text, message)


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        prev = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([prev] * 10)}]")
    return "\n".join(lines)


@pytest.mark.parametrize("levels", [7, 9, 12])
def test_alias_bomb_in_cfg_is_refused_quickly(refuse, levels):
    text = (BASE + "rows:\n  - label: a\n    cfg:\n      model.x: &bomb\n"
            + "".join(f"        {line}\n" for line in _bomb(levels).splitlines()) + "      model.y: *bomb\n")
    start = time.process_time()
    refuse.bad_spec(text, "(file)", f"more than {MAX_EXPANDED_NODES:,} nodes")
    assert time.process_time() - start < 2.0


def test_moderate_aliases_are_fine(tmp_path):
    from ssa_bench.matrix import load_spec

    path = tmp_path / "alias.yaml"
    path.write_text("base: &b {baseline: seaformer_l, dataset: ade20k}\nrows:\n  - {label: a, cfg: &c {x.y: 1}}\n"
                    "  - {label: b, cfg: *c, seed: 1}\n")
    assert len(load_spec(str(path)).runs) == 2


def test_merge_keys_are_not_duplicates(tmp_path):
    from ssa_bench.matrix import load_spec

    path = tmp_path / "merge.yaml"
    path.write_text("base: {baseline: seaformer_l, dataset: ade20k, train: {<<: {max_iters: 10}, lr: 0.1}}\n"
                    "rows: [{label: a}]\n")
    assert load_spec(str(path)).runs[0].config["train"]["max_iters"] == 10
