"""The one-line refusals name the file, the key and the fix (docs/mutation.md: mutants that dropped
one of the three survived, because no test read that part of the line)."""
from __future__ import annotations

import pytest

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"


def test_missing_spec_names_the_spec_argument_and_the_fix(refuse, tmp_path):
    missing = str(tmp_path / "no_such.yaml")
    line = refuse([missing], command="plan")
    assert f"{missing}: SPEC: spec file not found" in line, line
    assert "give a path to a YAML file" in line


def test_too_many_classes_says_why_255(refuse):
    classes = ", ".join(f"c{i}" for i in range(256))
    line = refuse.bad_spec(f"datasets: {{mine: {{root: /tmp/x, classes: [{classes}]}}}}\n"
                           "base: {baseline: seaformer_l, dataset: mine}\n", "datasets.mine.classes",
                           "256 classes is more than 255", command="plan")
    assert "label 255 means 'ignore'" in line and "at most 255 classes" in line


def test_empty_exclusion_says_what_to_write(refuse):
    refuse.bad_spec(BASE + "rows: [{label: A}]\nexclude: [{}]\n", "exclude[0]", "would drop every row",
                    "give the keys a dropped row must match", command="plan")


@pytest.mark.parametrize("item", ["train.max_iters", "=20"])
def test_malformed_set_names_the_set_option(refuse, item):
    path = refuse.spec(BASE + "rows: [{label: A}]\n")
    line = refuse([str(path), "--set", item], command="plan")
    assert line.startswith("ssa-bench: error: --set: ") and item in line, line


def test_empty_part_of_a_cfg_key_is_a_one_line_refusal_at_that_key(refuse):
    refuse.bad_spec(BASE + "rows: [{label: A, cfg.model..channels: 8}]\n", "rows[0].cfg.model..channels",
                    "empty part in an mmseg config key", "write e.g. cfg.model.decode_head.channels",
                    command="plan")


def test_include_row_needs_a_label(refuse):
    refuse.bad_spec(BASE + "rows: [{label: A}]\ninclude: [{train: {max_iters: 10}}]\n",
                    "include[0].label", "a row needs a label", command="plan")


def test_name_of_the_wrong_type_is_refused_at_name(refuse):
    refuse.bad_spec(BASE + "name: [a, b]\nrows: [{label: A}]\n", ": name: ", command="plan")


def test_bad_classifier_of_a_paper_only_row_names_the_row(refuse):
    refuse.bad_spec(BASE + "paper_table: 3\nrows: [{label: A}, {label: DNC, paper_only: true, "
                    "classifier: {type: nosuch}}]\n", "rows[1].classifier", command="plan")


def test_unknown_paper_table_lists_the_known_ones(refuse):
    refuse.bad_spec(BASE + "paper_table: 42\n", ": paper_table: unknown paper table '42'",
                    "use one of: table", command="plan")


def test_paper_only_row_that_is_neither_name_nor_mapping_needs_a_label(refuse):
    refuse.bad_spec(BASE + "paper_table: 3\nreport: {paper_only_rows: [3]}\n", "report.paper_only_rows[0]",
                    "a paper-only row needs a label", command="plan")


def test_unknown_intervals_mode_names_the_file_and_key(refuse):
    refuse.bad_spec(BASE + "report: {intervals: sometimes}\n", ": report.intervals: ", command="plan")
