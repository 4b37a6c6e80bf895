"""The commands of ../shared/CONTRACT.md, called as a user calls them (in-process through
``ssa_bench.cli.main``), on their normal path: what each prints and writes, and its exit code.
Their bad-input paths are in tests/validation/."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssa_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
TABLE3 = ["Baseline", "+ SEPA", "+ SPPA", "+ SEPA + SPPA", "+ SEPA + Lg + Lsd", "+ SPPA + Lg + Lpd",
          "SSA (Ours)"]

# Two runs of the demo model, a handful of iterations each: the whole pipeline in seconds.
TINY_SPEC = """\
name: tiny
title: "A two-row demo"
base:
  baseline: segformer_mini
  dataset: demo_shapes
  train: {max_iters: 4, batch_size: 2, crop_size: [64, 64], val_interval: 4,
          checkpoint_interval: 4, num_workers: 0, device: cpu, pretrained: none}
  measure: {input_size: [64, 64], latency_warmup: 1, latency_iters: 2, threads: 1}
rows:
  - label: Baseline
    ssa: {enabled: false}
  - label: SSA
    ssa: {enabled: true, variant: released}
report:
  columns: [mIoU, gflops]
  baseline_row: Baseline
"""


@pytest.fixture(autouse=True)
def _from_repo_root(from_repo_root):
    """Spec paths like tables/table3.yaml resolve under experiments/ of the repository."""


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_plan_json_has_stable_ids_and_the_table_rows(tmp_path, capsys):
    first = _json(capsys, ["plan", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    again = _json(capsys, ["plan", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    assert [row["label"] for row in first] == TABLE3
    assert [row["id"] for row in first] == [row["id"] for row in again]
    demo = _json(capsys, ["plan", "tables/table3.yaml", "--profile", "cpu-demo", "--json",
                          "--results-dir", str(tmp_path)])
    assert not {row["id"] for row in demo} & {row["id"] for row in first}
    shorter = _json(capsys, ["plan", "tables/table3.yaml", "--profile", "cpu-demo", "--json",
                             "--set", "train.max_iters=10", "--results-dir", str(tmp_path)])
    assert not {row["id"] for row in shorter} & {row["id"] for row in demo}


def test_status_json_of_a_fresh_results_dir_is_all_pending(tmp_path, capsys):
    rows = _json(capsys, ["status", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    assert [row["label"] for row in rows] == TABLE3
    assert {row["state"] for row in rows} == {"pending"}


def test_run_dry_run_starts_nothing(tmp_path, capsys):
    assert main(["run", "tables/table3.yaml", "--profile", "cpu-demo", "--dry-run",
                 "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "7" in out
    assert not list(tmp_path.glob("runs/*/record.json"))


def test_data_check_names_every_dataset(capsys):
    main(["data", "check"])
    out = capsys.readouterr().out
    for name in ("ade20k", "coco_stuff10k", "pascal_context59", "demo_shapes"):
        assert name in out


def test_weights_list_names_every_paper_baseline_whole_on_a_narrow_terminal(monkeypatch):
    import io

    from rich.console import Console

    from ssa_bench import commands

    screen = io.StringIO()
    monkeypatch.setattr(commands, "_out", Console(file=screen, width=60))
    assert main(["weights", "list"]) == 0
    for name in ("seaformer_b", "afformer_b", "vit_adapter_l", "segformer_b5", "upernet_swin_l"):
        assert name in screen.getvalue()


def test_measure_json_has_the_contract_keys(capsys):
    record = _json(capsys, ["measure", "segformer_mini", "--dataset", "demo_shapes", "--json"])
    assert set(record["gflops"]) >= {"paper", "full"}
    assert 0 < record["gflops"]["paper"] <= record["gflops"]["full"]
    assert record["params_m"] > 0 and record["latency_ms"] > 0 and record["device"] == "cpu"
    with_ssa = _json(capsys, ["measure", "segformer_mini", "--dataset", "demo_shapes", "--ssa",
                              "--json"])
    assert with_ssa["params_m"] > record["params_m"]


@pytest.mark.slow
def test_run_status_report_figures_of_a_tiny_spec(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    results = tmp_path / "results"
    argv = ["--results-dir", str(results)]
    assert main(["run", str(spec), *argv]) == 0
    capsys.readouterr()
    rows = _json(capsys, ["status", str(spec), "--json", *argv])
    assert {row["state"] for row in rows} == {"done"}
    records = {row["label"]: json.loads(next(results.glob(f"runs/{row['id']}/record.json"))
                                        .read_text()) for row in rows}
    # A second run of the same command has nothing left to do.
    assert main(["run", str(spec), *argv]) == 0
    assert "2 already done" in capsys.readouterr().err
    out = tmp_path / "report"
    assert main(["report", str(spec), "--format", "csv", "--out", str(out), *argv]) == 0
    capsys.readouterr()
    import pandas as pd

    frame = pd.read_csv(next(out.glob("*.csv")))
    miou = frame[frame["metric"] == "mIoU"].set_index("label")["ours"]
    for label, record in records.items():
        assert miou[label] == pytest.approx(record["metrics"]["mIoU"], abs=0.01)
    assert main(["figures", str(spec), "--out", str(tmp_path / "figures"), *argv]) == 0
    assert list((tmp_path / "figures").glob("*.pdf")) or list((tmp_path / "figures").glob("*.png"))
