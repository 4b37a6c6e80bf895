"""Malformed specs: each a SpecError (exit 2) whose one line names the file, the key and the fix."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ssa_bench.errors import SpecError, UserError
from ssa_bench.matrix import load_spec

GOOD_BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"

CASES = {
    "yaml_syntax": ("rows: [{label: a}\nbase: {", "malformed YAML at line", "(file)"),
    "empty_file": ("", "the spec file is empty", "(file)"),
    "not_a_mapping": ("- a\n- b\n", "a spec is a mapping", "(file)"),
    "unknown_top_key": (GOOD_BASE + "rowz: []\n", "unknown key 'rowz'", "rowz"),
    "typo_suggestion": (GOOD_BASE + "rows: [{label: a, ssa: {enabeld: true}}]\n", "unknown SSA setting 'enabeld'", "rows[0].ssa.enabeld"),
    "unknown_baseline": ("base: {baseline: seaformer_xl, dataset: ade20k}\nrows: [{label: a}]\n",
                         "unknown baseline 'seaformer_xl'", "rows[0].baseline"),
    "unknown_dataset": ("base: {baseline: seaformer_l, dataset: ade21k}\nrows: [{label: a}]\n",
                        "unknown dataset 'ade21k'", "rows[0].dataset"),
    "wrong_type": (GOOD_BASE + "rows: [{label: a, train: {max_iters: lots}}]\n", "expected an integer",
                   "rows[0].train.max_iters"),
    "row_without_label": (GOOD_BASE + "rows: [{ssa: {enabled: true}}]\n", "a row needs a label", "rows[0].label"),
    "duplicate_rows": (GOOD_BASE + "rows: [{label: a}, {label: a, seed: 0}]\n", "duplicate row 'a'", "rows[1]"),
    "empty_expansion": (GOOD_BASE + "rows: [{label: a}]\nexclude: [{label: a}]\n", "expands to no runs", "rows"),
    "exclude_matches_nothing": (GOOD_BASE + "rows: [{label: a}]\nexclude: [{label: b}]\n",
                                "exclude rule matches no row", "exclude[0]"),
    "bad_ssa_value": (GOOD_BASE + "rows: [{label: a, ssa: {enabled: true, pe: rope}}]\n", "", "rows[0].ssa.pe"),
    "zip_lengths": (GOOD_BASE + "rows: [{label: a}]\nzip: {ssa.edge_size: [3, 4], seed: [1]}\n",
                    "zip axes have different lengths", "zip"),
    "bad_axis_key": (GOOD_BASE + "rows: [{label: a}]\naxes: {train.iters: [1, 2]}\n", "unknown axis key", "axes.train.iters"),
    "empty_axis": (GOOD_BASE + "rows: [{label: a}]\naxes: {dataset: []}\n", "non-empty list", "axes.dataset"),
    "bad_seeds": (GOOD_BASE + "rows: [{label: a}]\nseeds: [0, 0]\n", "seeds repeat", "seeds"),
    "bad_crop": (GOOD_BASE + "rows: [{label: a, train: {crop_size: [512]}}]\n", "[height, width]",
                 "rows[0].train.crop_size"),
    "inline_dataset_without_classes": ("datasets: {mine: {root: /x}}\nbase: {baseline: segnext_t, dataset: mine}\n"
                                       "rows: [{label: a}]\n", "needs 'classes'", "datasets.mine.classes"),
    "bad_device": (GOOD_BASE + "rows: [{label: a, train: {device: tpu}}]\n", "unknown device", "rows[0].train.device"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_spec(tmp_path, case):
    text, message, key = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    error = caught.value
    assert message in error.message
    assert error.key == key
    assert error.file and error.file.endswith(f"{case}.yaml")
    line = error.one_line()
    assert "\n" not in line and error.fix and key in line


@pytest.mark.parametrize("override, message", [
    ("train.max_iters", "--set needs KEY=VALUE"),
    ("trian.max_iters=3", "unknown key 'trian.max_iters'"),
    ("dataset=nowhere", "unknown dataset 'nowhere'"),
    ("ssa.pe=rope", ""),
])
def test_bad_set_override(override, message):
    with pytest.raises(UserError) as caught:
        load_spec("tables/table3.yaml", overrides=[override])
    assert message in caught.value.message


def test_missing_file_and_unknown_profile():
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec("tables/table99.yaml")
    with pytest.raises(SpecError, match="unknown profile"):
        load_spec("tables/table3.yaml", profile="gpu-fast")


def test_cli_exits_2_with_one_line_and_runs_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(GOOD_BASE + "rows: [{label: a, ssa: {enabeld: true}}]\n"))
    done = subprocess.run([sys.executable, "-m", "ssa_bench.cli", "run", str(bad), "--results-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "rows[0].ssa.enabeld" in lines[0] and "bad.yaml" in lines[0]
    assert not (tmp_path / "r" / "runs").exists()
