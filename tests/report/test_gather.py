"""gather: records -> one DataFrame row per run; unfinished runs keep their state and no numbers."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest
from tests.report.report_fixtures import planned_run, write_record, write_state

from ssa_bench.report.aggregate import aggregate_seeds, cell_key
from ssa_bench.store import Store
from ssa_bench.report.gather import COLUMNS, METRICS, gather


def test_one_row_per_run_with_flattened_metrics(tmp_path):
    write_record(tmp_path, "aaa", miou=42.5, gflops=6.4, latency_ms=29.0, mAcc=55.0, aAcc=81.0)
    runs = [planned_run("aaa", "Baseline", seed=3, section="S", column="ade20k")]
    frame = gather(tmp_path, runs)
    assert list(frame.columns) == list(COLUMNS)
    row = frame.iloc[0]
    assert (row["id"], row["label"], row["group"], row["section"], row["column"], row["seed"], row["state"]) == \
        ("aaa", "Baseline", "Baseline", "S", "ade20k", 3, "done")
    assert (row["mIoU"], row["mAcc"], row["aAcc"]) == (42.5, 55.0, 81.0)
    assert (row["gflops"], row["gflops_full"], row["params_m"], row["latency_ms"]) == (6.4, 7.4, 14.0, 29.0)
    assert (row["latency_device"], row["latency_threads"], row["latency_input_size"]) == ("cpu", 2, "512x512")


def test_unfinished_runs_show_their_state_and_no_numbers(tmp_path):
    write_record(tmp_path, "done1", miou=40.0)
    write_state(tmp_path, "fail1", "failed")
    write_state(tmp_path, "run1", "running")
    runs = [planned_run("done1", "a"), planned_run("fail1", "b"), planned_run("run1", "c"), planned_run("never", "d")]
    frame = gather(tmp_path, runs)
    assert frame["state"].tolist() == ["done", "failed", "running", "pending"]
    assert frame["mIoU"].iloc[0] == 40.0
    assert frame[list(METRICS)].iloc[1:].isna().all().all()


def test_a_damaged_record_is_shown_not_fatal(tmp_path):
    (tmp_path / "runs" / "bad").mkdir(parents=True)
    (tmp_path / "runs" / "bad" / "record.json").write_text('{"metrics": {"mIoU": 4')
    frame = gather(tmp_path, [planned_run("bad", "x")])
    assert frame["state"].tolist() == ["damaged"]
    assert math.isnan(frame["mIoU"].iloc[0])


def test_same_run_under_two_labels_is_read_once_and_listed_twice(tmp_path, monkeypatch):
    write_record(tmp_path, "shared", miou=45.0)
    reads = []
    import ssa_bench.report.gather as module
    original = module._read_run
    monkeypatch.setattr(module, "_read_run", lambda store, run_id: reads.append(run_id) or original(store, run_id))
    frame = gather(tmp_path, [planned_run("shared", "+ SEPA + SPPA"), planned_run("shared", "Baseline + SEPA + SPPA")])
    assert reads == ["shared"]
    assert frame["label"].tolist() == ["+ SEPA + SPPA", "Baseline + SEPA + SPPA"]
    assert frame["mIoU"].tolist() == [45.0, 45.0]


def test_accepts_a_store(tmp_path):
    write_record(tmp_path, "aaa", miou=1.0)
    frame = gather(Store(tmp_path), [planned_run("aaa", "x")])
    assert frame["mIoU"].tolist() == [1.0]
    with pytest.raises(TypeError):
        gather(SimpleNamespace(root=tmp_path), [])          # a Store or a path, nothing else


def test_missing_metric_values_stay_missing(tmp_path):
    write_record(tmp_path, "nomiou", miou=None)
    frame = gather(tmp_path, [planned_run("nomiou", "x")])
    assert frame["state"].iloc[0] == "done" and pd.isna(frame["mIoU"].iloc[0])


def test_seeds_aggregate_to_mean_std_and_count(tmp_path):
    for seed, miou in enumerate([40.0, 42.0, 44.0]):
        write_record(tmp_path, f"s{seed}", miou=miou, seed=seed)
    write_state(tmp_path, "s3", "failed")
    runs = [planned_run(f"s{seed}", "SSA", seed=seed, section="A", column="ade20k") for seed in range(4)]
    # the same run listed twice must not count as a second seed
    runs.append(planned_run("s0", "SSA", seed=0, section="A", column="ade20k"))
    stats = aggregate_seeds(gather(tmp_path, runs), ["mIoU", "gflops"])
    got = stats[cell_key("A", "SSA", "ade20k")]["mIoU"]
    assert (got.mean, got.n, got.n_expected) == (42.0, 3, 4)
    assert got.std == pytest.approx(2.0)


def test_a_single_seed_has_no_std(tmp_path):
    write_record(tmp_path, "one", miou=40.0)
    stats = aggregate_seeds(gather(tmp_path, [planned_run("one", "x")]), ["mIoU"])
    got = stats[cell_key(None, "x", None)]["mIoU"]
    assert (got.mean, got.std, got.n, got.n_expected) == (40.0, None, 1, 1)


# -- found by mutation testing (tools/mutation.py report) -----------------------------------------
def test_the_runs_config_and_training_facts_reach_the_frame(tmp_path):
    write_record(tmp_path, "aaa", miou=42.5)
    run = planned_run("aaa", "Baseline", paper_baseline="", config={"baseline": "fcn_r101", "dataset": "coco_stuff10k"})
    row = gather(tmp_path, [run]).iloc[0]
    assert (row["baseline"], row["dataset"], row["train_device"]) == ("fcn_r101", "coco_stuff10k", "cpu")
    assert row["paper_baseline"] == "fcn_r101"                 # no paper baseline named: the run's own


def test_two_seeds_already_have_a_spread(tmp_path):
    for seed, miou in enumerate((40.0, 42.0)):
        write_record(tmp_path, f"s{seed}", miou=miou, seed=seed)
    frame = gather(tmp_path, [planned_run(f"s{seed}", "SSA", seed=seed) for seed in range(2)])
    (cells,) = aggregate_seeds(frame, ["mIoU"]).values()
    assert (cells["mIoU"].mean, cells["mIoU"].n) == (41.0, 2)
    assert cells["mIoU"].std == pytest.approx(math.sqrt(2.0))
