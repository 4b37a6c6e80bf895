"""The data side of the figures, without drawing (found by mutation testing, tools/mutation.py
report): which numbers a figure takes, which rows it leaves out, which names it prints, and that
the notebook's errors name the variable to change."""
from __future__ import annotations

import types

import pytest

from ssa_bench.errors import UserError
from ssa_bench.report.figures.forest import forest_rows
from ssa_bench.report.figures.inputs import Missing
from ssa_bench.report.figures.loss_terms import short_name
from ssa_bench.report.figures.schedule_gain import schedule_table
from ssa_bench.report.notebook_env import ENV_RUN, ENV_SPEC, choose_run


def test_schedule_gains_are_per_seed_against_the_first_baseline_row():
    results = [("Baseline", False, 1000, 0, 40.0), ("Baseline", False, 1000, 1, 42.0),
               ("Baseline B", False, 1000, 0, 10.0),
               ("SSA", True, 1000, 0, 41.5), ("SSA", True, 1000, 1, 44.0), ("SSA", True, 1000, 2, 50.0),
               ("SSA", True, 2000, 0, 45.0)]
    miou, gains, baseline = schedule_table(results)
    assert baseline == "Baseline"
    assert miou["SSA"][1000] == [41.5, 44.0, 50.0] and miou["Baseline"][1000] == [40.0, 42.0]
    # seed 2 and 2000 iterations have no baseline run of their own: no gain for them
    assert {label: dict(by_iters) for label, by_iters in gains.items()} == {
        "Baseline B": {1000: [-30.0]}, "SSA": {1000: [1.5, 2.0]}}
    with pytest.raises(Missing, match="no baseline row"):
        schedule_table([("SSA", True, 1000, 0, 41.5)])


def _cell(gain):
    return types.SimpleNamespace(gain=gain, gain_low=None if gain is None else gain - 1,
                                 gain_high=None if gain is None else gain + 1, gain_p=0.01)


def _row(label, gain, section=None, baseline=False, paper_only=False):
    return types.SimpleNamespace(label=label, section=section, is_baseline=baseline, paper_only=paper_only,
                                 cells=[_cell(gain), _cell(gain)])


def test_forest_rows_keep_measured_gains_of_non_baseline_rows_per_accuracy_column():
    table = types.SimpleNamespace(
        columns=[types.SimpleNamespace(metric="mIoU", group_title="ADE20K"),
                 types.SimpleNamespace(metric="params_m", group_title=None)],
        rows=[_row("Baseline", 0.0, baseline=True), _row("SSA", 1.5, section="Ours"),
              _row("Paper only", 2.0, paper_only=True), _row("No evidence", None), _row("Plain", -0.5)])
    assert forest_rows(table) == [("ADE20K mIoU", [("Ours / SSA", 1.5, 0.5, 2.5, 0.01),
                                                   ("Plain", -0.5, -1.5, 0.5, 0.01)])]
    table.columns[0].group_title = None
    assert forest_rows(table)[0][0] == "mIoU"


@pytest.mark.parametrize("term,name", [("loss", "total"), ("decode.loss_ssa_rd", "ssa_rd"),
                                       ("aux.loss_ce", "aux ce"), ("loss_ce", "ce"),
                                       ("aux.sub.loss_dice", "aux.sub dice")])
def test_loss_term_names_on_the_figure(term, name):
    assert short_name(term) == name


def _run(run_id, label, ssa):
    return types.SimpleNamespace(id=run_id, label=label, is_ssa=ssa, ssa={"enabled": ssa})


SPEC = types.SimpleNamespace(path="figtest.yaml", name="figtest", profile="cpu-demo")


def test_the_notebooks_run_errors_name_the_variable_and_the_choices():
    data = [_run("aaaa11112222", "Baseline", False), _run("bbbb11112222", "SSA (Ours)", True)]
    with pytest.raises(UserError) as caught:
        choose_run(data[:1], None, SPEC, [])
    assert caught.value.key == ENV_SPEC and "SSA_BENCH_RUN" in caught.value.fix
    with pytest.raises(UserError) as caught:
        choose_run(data, "aaaa", SPEC, [])
    assert caught.value.key == ENV_RUN and caught.value.fix == "name an SSA run: bbbb11112222 (SSA (Ours))"
