"""What load_spec makes of a spec, detail by detail (docs/mutation.md: each test here kills
mutants of matrix/ that the grammar fixtures let through)."""
from __future__ import annotations

import os
import time

import pytest

from ssa_bench.errors import SpecError
from ssa_bench.matrix import load_spec
from ssa_bench.matrix.loader import REPO_EXPERIMENTS
from ssa_bench.vocabulary.authors_runs import intervals


def _spec(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_spec(str(path))


def test_paper_only_row_is_listed_once_and_never_crossed_with_axes(tmp_path):
    spec = _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k}\npaper_table: 3\n"
                 "rows: [{label: Baseline}, {label: DNC, paper_only: true}]\n"
                 "axes: {seed: [0, 1, 2]}\n")
    assert [row.label for row in spec.rows if row.paper_only] == ["DNC"]
    assert len(spec.runs) == 3 and {run.label for run in spec.runs} == {"Baseline (seed=0)", "Baseline (seed=1)",
                                                                           "Baseline (seed=2)"}


def test_classifier_type_ssa_beside_an_enabled_ssa_block_is_one_classifier(tmp_path):
    spec = _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k}\n"
                 "rows: [{label: SSA, classifier: {type: ssa}, ssa: {enabled: true}}]\n")
    (run,) = spec.runs
    assert run.config["ssa"]["enabled"] is True and "classifier" not in run.config


def test_zipped_axes_count_towards_the_run_limit(tmp_path):
    # 250 product values x 500 zipped values = 125,000 runs > MAX_RUNS: refused before expansion.
    product = ", ".join(str(i) for i in range(1, 251))
    zipped = ", ".join(str(i) for i in range(1, 501))
    path = tmp_path / "big.yaml"
    path.write_text("base: {baseline: seaformer_l, dataset: ade20k}\n"
                    f"axes: {{train.max_iters: [{product}]}}\nzip: {{seed: [{zipped}], "
                    f"train.batch_size: [{zipped}]}}\n")
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert caught.value.key == "axes" and "125,000 runs" in caught.value.message
    assert time.monotonic() - started < 5      # refused before expanding, not after


def test_catalog_dataset_has_no_inline_definition_in_the_run_config(tmp_path):
    # dataset_def is part of the hashed config: None (not "" or {}) keeps every catalog run's id.
    spec = _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k}\n")
    assert spec.runs[0].config["dataset_def"] is None


def test_inline_dataset_schedule_is_its_own(tmp_path):
    spec = _spec(tmp_path, "datasets: {mine: {root: /tmp/mine, classes: [a, b], max_iters: 1234}}\n"
                 "base: {baseline: seaformer_l, dataset: mine}\n")
    train = spec.runs[0].config["train"]
    assert train["max_iters"] == 1234 and train["val_interval"] == 123


def test_ssa_rows_take_the_authors_ssa_evaluation_interval(tmp_path):
    spec = _spec(tmp_path, "base: {baseline: vit_adapter_l, dataset: ade20k}\n"
                 "rows: [{label: Baseline}, {label: SSA, ssa: {enabled: true}}]\n")
    by_label = {run.label: run.config["train"]["val_interval"] for run in spec.runs}
    assert by_label["SSA"] == intervals("vit_adapter_l", "ade20k", True)[0]
    assert by_label["SSA"] != by_label["Baseline"]


def test_learning_rate_is_a_float_whatever_its_yaml_type(tmp_path):
    as_int = _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k, train: {lr: 1}}\n", "a.yaml")
    as_float = _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k, train: {lr: 1.0}}\n", "b.yaml")
    assert type(as_int.runs[0].config["train"]["lr"]) is float
    assert as_int.runs[0].id == as_float.runs[0].id


def test_spec_name_comes_from_name_key_else_the_file(tmp_path):
    assert _spec(tmp_path, "name: rerun3\nbase: {baseline: seaformer_l, dataset: ade20k}\n").name == "rerun3"
    assert _spec(tmp_path, "base: {baseline: seaformer_l, dataset: ade20k}\n", "t3.yaml").name == "t3"


def test_spec_found_under_experiments_keeps_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec("tables/table3.yaml")
    assert spec.path == os.path.relpath(REPO_EXPERIMENTS / "tables" / "table3.yaml")
    assert not os.path.isabs(spec.path) and spec.runs[0].spec_name == spec.path
