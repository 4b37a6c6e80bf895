"""The `classifier:` key of a row (issue 16): validated by each type's settings module, errors at
``rows[i].classifier.<key>``; ``type: ssa`` is the ``ssa:`` block (same run id); no block, no key."""
from __future__ import annotations

import pytest

from ssa_bench.classifier_settings import CLASSIFIER_TYPES

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"
OTHER_TYPES = sorted(kind for kind in CLASSIFIER_TYPES if kind != "ssa")


def _runs(tmp_path, rows: str):
    from ssa_bench.matrix import load_spec

    path = tmp_path / "c.yaml"
    path.write_text(BASE + rows)
    return load_spec(str(path)).runs


@pytest.mark.parametrize("kind", sorted(CLASSIFIER_TYPES))
def test_unknown_setting_is_named(refuse, kind):
    refuse.bad_spec(BASE + f"rows: [{{label: a, classifier: {{type: {kind}, bogus_knob: 1}}}}]\n",
                    "rows[0].classifier.bogus_knob", "bogus_knob")


CASES = [
    ("classifier: {type: svm}", "rows[0].classifier.type", "unknown classifier type 'svm'"),
    ("classifier: {w_g: 1.0}", "rows[0].classifier.type", "needs a 'type'"),
    ("classifier: ssa", "rows[0].classifier", "expected a mapping"),
    ("classifier: {type: ssa, w_g: .nan}", "rows[0].classifier.w_g", "finite"),
    ("classifier: {type: ssa, pe: rope}", "rows[0].classifier.pe", "unknown pe 'rope'"),
]


@pytest.mark.parametrize("row,key,message", CASES, ids=[c[0] for c in CASES])
def test_bad_classifier_block(refuse, row, key, message):
    refuse.bad_spec(BASE + f"rows: [{{label: a, {row}}}]\n", key, message)


@pytest.mark.parametrize("kind", OTHER_TYPES)
def test_other_type_beside_enabled_ssa_is_refused(refuse, kind):
    refuse.bad_spec(BASE + f"rows: [{{label: a, classifier: {{type: {kind}}}, ssa: {{enabled: true}}}}]\n",
                    "rows[0].classifier", "two classifiers")


def test_type_ssa_is_the_ssa_block_with_the_same_id(tmp_path):
    by_block, by_classifier = _runs(tmp_path, "rows: [{label: a, ssa: {enabled: true, pe: sinusoidal}}, "
                                    "{label: b, classifier: {type: ssa, pe: sinusoidal}}]\n")
    assert by_block.id == by_classifier.id
    assert "classifier" not in by_classifier.config


def test_run_without_classifier_has_no_classifier_key(tmp_path):
    (run,) = _runs(tmp_path, "rows: [{label: a}]\n")
    assert "classifier" not in run.config


@pytest.mark.parametrize("kind", OTHER_TYPES)
def test_other_type_gives_a_resolved_classifier_block(tmp_path, kind):
    (plain, other) = _runs(tmp_path, f"rows: [{{label: a}}, {{label: b, classifier: {{type: {kind}}}}}]\n")
    assert other.config["classifier"]["type"] == kind
    assert len(other.config["classifier"]) > 1          # every setting resolved to its default
    assert plain.id != other.id
