"""Run ids (ssa_bench/matrix/run.py) through load_spec + plan: what enters the hash and what stays out.

Every ``evaluate.*`` key away from its neutral default is another measurement, so another run: if
the block fell out of the hash, an aug-test or best-checkpoint row would share the single-scale
row's directory and report its mIoU. The neutral defaults themselves (``ID_NEUTRAL_DEFAULTS``) and
the logging backends (``ID_EXCLUDED_TRAIN_KEYS``) stay out, or old results would be orphaned.
"""
from __future__ import annotations

import pytest

from ssa_bench.matrix import load_spec, plan
from ssa_bench.matrix.run import ID_NEUTRAL_DEFAULTS

SPEC = """\
name: run_ids
base: {baseline: segformer_mini, dataset: demo_shapes}
rows:
  - {label: Default}
  - {label: Neutral spelled out, evaluate: {aug_test: false, test_mode: authors, checkpoint: authors}}
  - {label: Other backends, train: {log_backends: [tensorboard, mlflow]}}
  - {label: No backends, train: {log_backends: []}}
  - {label: Aug test, evaluate: {aug_test: true}}
  - {label: Slide, evaluate: {test_mode: slide}}
  - {label: Whole, evaluate: {test_mode: whole}}
  - {label: Last checkpoint, evaluate: {checkpoint: last}}
  - {label: Best checkpoint, evaluate: {checkpoint: best}}
"""

ID_NEUTRAL_ROWS = ("Neutral spelled out", "Other backends", "No backends")
EVALUATE_ROWS = ("Aug test", "Slide", "Whole", "Last checkpoint", "Best checkpoint")


@pytest.fixture()
def runs(tmp_path):
    path = tmp_path / "run_ids.yaml"
    path.write_text(SPEC)
    return {run.label: run for run in plan(load_spec(str(path), profile="cpu-demo"))}


def test_every_non_default_evaluate_key_changes_the_run_id(runs):
    ids = {label: runs[label].id for label in ("Default", *EVALUATE_ROWS)}
    assert len(set(ids.values())) == len(ids), ids
    # the spec's value reached the config that was hashed (not just some other difference)
    assert runs["Aug test"].config["evaluate"]["aug_test"] is True
    assert runs["Best checkpoint"].config["evaluate"]["checkpoint"] == "best"


@pytest.mark.parametrize("label", ID_NEUTRAL_ROWS)
def test_neutral_defaults_and_logging_backends_keep_the_run_id(runs, label):
    assert runs[label].id == runs["Default"].id
    # the config itself keeps every key (only the hash leaves them out)
    assert runs[label].config["evaluate"] == ID_NEUTRAL_DEFAULTS["evaluate"]
    assert "log_backends" in runs[label].config["train"]
