"""Issue 22 changed the default SSA preset from ``paper`` to ``released``. A spec row that names no
variant now asks for another training, so it must get another run id: a result recorded under the
old default must never be reported as the new default's. Ids hash the *resolved* settings (every
field, not the block as written), which is what makes this hold.

"Under the old default" is emulated by resolving every block with ``variant: paper`` filled in
where the block names none, exactly what ``resolve_settings`` did before the change.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from ssa_bench.classifier_settings import ssa as ssa_settings
from ssa_bench.matrix import load_spec, plan, resolve
from ssa_bench.report.gather import gather
from tests.report.report_fixtures import write_record

SPEC = """\
name: default_variant
base: {baseline: segformer_mini, dataset: demo_shapes}
rows:
  - {label: Baseline, ssa: {enabled: false}}
  - {label: SSA, ssa: {enabled: true}}
  - {label: SSA (paper), ssa: {enabled: true, variant: paper}}
"""


def _ids(path) -> dict[str, str]:
    return {run.label: run.id for run in plan(load_spec(str(path), profile="cpu-demo"))}


@pytest.fixture()
def spec_file(tmp_path):
    path = tmp_path / "default_variant.yaml"
    path.write_text(SPEC)
    return path


@contextmanager
def old_default(monkeypatch):
    """Resolve as before issue 22: a block without ``variant`` gets the ``paper`` preset."""
    real = ssa_settings.resolve_settings
    with monkeypatch.context() as patch:
        patch.setattr(resolve, "resolve_settings",
                      lambda block: real({"variant": "paper", **(block or {})}))
        patch.setattr(resolve, "_RESOLVED_SSA", {})     # not the new default's memo
        yield


def test_the_new_default_row_gets_a_new_id_and_the_old_results_stay_with_paper(spec_file, monkeypatch,
                                                                              tmp_path):
    new = _ids(spec_file)
    with old_default(monkeypatch):
        old = _ids(spec_file)

    # The row that names no variant is another training now: another id.
    assert old["SSA"] != new["SSA"]
    # What that row trained before is what `variant: paper` asks for now: its results are found.
    assert old["SSA"] == new["SSA (paper)"] == old["SSA (paper)"]
    # Runs without SSA did not change, nor did their ids.
    assert old["Baseline"] == new["Baseline"]

    # A result recorded under the old default is not the new default's row's result.
    results = tmp_path / "results"
    write_record(results, old["SSA"], miou=33.3)
    write_record(results, old["Baseline"], miou=30.0)
    runs = plan(load_spec(str(spec_file), profile="cpu-demo"))
    assert {run.label: run.id for run in runs} == new
    frame = gather(results, runs).set_index("label")
    assert frame.loc["SSA", "state"] == "pending" and frame["mIoU"].isna()["SSA"]
    assert frame.loc["SSA (paper)", "state"] == "done"
    assert frame.loc["SSA (paper)", "mIoU"] == pytest.approx(33.3)
    assert frame.loc["Baseline", "mIoU"] == pytest.approx(30.0)


def test_the_run_config_carries_every_resolved_setting(spec_file):
    """Not just the variant's name: every field, so a preset whose values change changes ids."""
    runs = {run.label: run for run in plan(load_spec(str(spec_file), profile="cpu-demo"))}
    fields = set(ssa_settings.SSASettings.field_names())
    for run in runs.values():
        assert set(run.config["ssa"]) == fields, run.label
    assert runs["SSA"].config["ssa"] == ssa_settings.resolve_settings({"enabled": True}).to_dict()
