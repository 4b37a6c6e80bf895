"""A stand-in for the planner's Spec, real Runs and a writer of result records into a tmp results root.

Records follow docs/ARCHITECTURE.md; the numbers in them are chosen by each test, never read back
from the code under test.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ssa_bench.matrix.run import Run


def planned_run(run_id: str, label: str, *, seed: int = 0, section: str | None = None,
                column: str | None = None, group: str | None = None, paper_baseline: str = "seaformer_l",
                paper_dataset: str = "ade20k", config: dict | None = None, row_index: int = 0) -> Run:
    """A real :class:`Run` with the fields a report test does not care about filled in."""
    return Run(id=run_id, label=label, group=group or label, section=section, column=column, seed=seed,
               row_index=row_index, config=dict(config or {}), spec_name="experiments/tables/fake.yaml",
               paper_baseline=paper_baseline, paper_dataset=paper_dataset)


@dataclass
class FakeSpec:
    name: str
    title: str = ""
    paper_table: object = None
    profile: str = "paper"
    report: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    path: str = "experiments/tables/fake.yaml"
    overrides: list = field(default_factory=list)


def write_record(root: Path, run_id: str, miou: float | None = None, gflops: float = 6.4,
                 latency_ms: float = 30.0, device: str = "cpu", device_name: str = "test-cpu",
                 seed: int = 0, **metrics) -> None:
    run_dir = Path(root) / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "schema": 1, "id": run_id, "config": {"baseline": "seaformer_l", "dataset": "ade20k", "seed": seed},
        "metrics": {"mIoU": miou, "mAcc": metrics.get("mAcc", 50.0), "aAcc": metrics.get("aAcc", 80.0),
                    "per_class_iou": {"wall": 70.0}},
        "curve": [{"iter": 100, "mIoU": miou}],
        "flops": {"paper": gflops, "full": gflops + 1.0, "input_size": [512, 512]},
        "params_m": 14.0,
        "latency": {"median_ms": latency_ms, "p10_ms": latency_ms - 1, "p90_ms": latency_ms + 1,
                    "device": device, "device_name": device_name, "dtype": "float32", "threads": 2,
                    "warmup": 2, "iters": 10, "input_size": [512, 512]},
        "train": {"wall_time_s": 10.0, "iters": 300, "device": "cpu", "world_size": 1, "resumed_from_iter": None},
        "seed": seed,
        "env": {"git_commit": "abc", "versions": {}, "host": "test", "python": "3.11"},
        "finished_at": "2024-01-01T00:00:00",
    }
    (run_dir / "record.json").write_text(json.dumps(record))


def write_state(root: Path, run_id: str, state: str) -> None:
    run_dir = Path(root) / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "state.json").write_text(json.dumps({"state": state}))
