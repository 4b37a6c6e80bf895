"""Damage in a results store is never passed over in silence (issue 23, measured case 7): a damaged
state.json beside a valid record (the run is done) is mentioned by `plan` and `status`, and a figure
drawn from the runs that have records says which run's record was damaged and left out."""
from __future__ import annotations

import json
import re
import textwrap

import pytest
from tests.report.report_fixtures import write_record

from tests.validation.conftest import run_cli

SPEC = textwrap.dedent("""\
    name: damage
    base: {baseline: segformer_mini, dataset: demo_shapes}
    rows: [{label: A, seed: 0}, {label: B, seed: 1}]
    """)


@pytest.fixture
def store_with_damage(tmp_path):
    from ssa_bench.matrix import load_spec, plan

    spec = tmp_path / "damage.yaml"
    spec.write_text(SPEC)
    runs = plan(load_spec(str(spec), profile="cpu-demo"))
    results = tmp_path / "results"
    done, broken = runs[0].id, runs[1].id
    write_record(results, done, miou=41.0)
    (results / "runs" / done / "state.json").write_text('{"state": "do')          # cut off mid-write
    write_record(results, broken, miou=40.0)
    (results / "runs" / broken / "record.json").write_text('{"metrics": ')       # cut off mid-write
    return spec, results, done, broken


@pytest.mark.parametrize("command", ["plan", "status"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_damaged_state_file_beside_a_valid_record_is_mentioned(store_with_damage, capsys, command, as_json):
    spec, results, done, _ = store_with_damage
    argv = [command, str(spec), "--profile", "cpu-demo", "--results-dir", str(results)] + (["--json"] * as_json)
    code, out, err = run_cli(argv, capsys)
    assert code == 0
    state_file = str(results / "runs" / done / "state.json")
    if as_json:
        rows = json.loads(out)                                  # stdout stays one JSON document
        assert next(r for r in rows if r["id"] == done)["state"] == "done"
    # a terminal table folds long cells over several lines: compare without borders and spaces
    flat = re.sub(r"[\s│]", "", out + err)
    assert state_file.replace(" ", "") in flat and "notvalidJSON" in flat, out + err


def test_figures_say_which_damaged_record_they_left_out(store_with_damage, capsys):
    spec, results, _, broken = store_with_damage
    code, _, err = run_cli(["figures", str(spec), "--profile", "cpu-demo", "--results-dir", str(results),
                            "--out", str(spec.parent / "figures")], capsys)
    assert code == 0                                      # the curves of run A are drawn
    assert list((spec.parent / "figures").glob("fig5_curves*"))
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any(str(results / "runs" / broken / "record.json") in line and "not valid JSON" in line
               for line in warnings), err
