"""Result records -> one pandas DataFrame row per run.

Reads `<results_root>/runs/<id>/record.json` (the layout in docs/ARCHITECTURE.md) directly rather
than through the store object, so 10,000 records gather in well under two seconds: one file read and
one `json.loads` per distinct run id, columns collected as plain lists and handed to pandas once. A
run without a record has not finished; its row carries its state (pending, queued, running, failed)
and empty metrics -- a number is never made up.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ssa_bench.configs.protocol import eval_mode, slide_window

# Metric columns, named as a spec's `report.columns` names them.
METRICS = ("gflops", "gflops_full", "params_m", "latency_ms", "mIoU", "mAcc", "aAcc")
# Metrics where higher is better and the gain over the baseline row is the paper's green arrow.
ACCURACY_METRICS = ("mIoU", "mAcc", "aAcc")

RUN_COLUMNS = ("id", "label", "group", "section", "column", "seed", "state", "row_index",
               "paper_baseline", "paper_dataset", "baseline", "dataset", "eval_mode", "eval_window")
DETAIL_COLUMNS = ("latency_device", "latency_device_name", "latency_threads", "latency_input_size",
                  "train_wall_time_s", "train_iters", "train_device", "finished_at", "git_commit")
COLUMNS = RUN_COLUMNS + METRICS + DETAIL_COLUMNS


def results_root(store_or_root) -> Path:
    """A Store (anything with `.root`) or a path -> the results root."""
    if isinstance(store_or_root, (str, os.PathLike)):
        return Path(store_or_root)
    root = getattr(store_or_root, "root", None)
    if root is None:
        raise TypeError(f"expected a results root path or a Store, got {type(store_or_root).__name__}")
    return Path(root)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def flatten_record(record: dict) -> dict:
    """The record's metrics and the details a report needs, as flat columns."""
    metrics = record.get("metrics") or {}
    flops = record.get("flops") or {}
    latency = record.get("latency") or {}
    train = record.get("train") or {}
    size = latency.get("input_size")
    return {
        "mIoU": _number(metrics.get("mIoU")),
        "mAcc": _number(metrics.get("mAcc")),
        "aAcc": _number(metrics.get("aAcc")),
        "gflops": _number(flops.get("paper")),
        "gflops_full": _number(flops.get("full")),
        "params_m": _number(record.get("params_m")),
        "latency_ms": _number(latency.get("median_ms")),
        "latency_device": latency.get("device"),
        "latency_device_name": latency.get("device_name"),
        "latency_threads": latency.get("threads"),
        "latency_input_size": "x".join(str(s) for s in size) if size else None,
        "train_wall_time_s": _number(train.get("wall_time_s")),
        "train_iters": train.get("iters"),
        "train_device": train.get("device"),
        "finished_at": record.get("finished_at"),
        "git_commit": (record.get("env") or {}).get("git_commit"),
    }


def _empty_details() -> dict:
    return {name: None for name in METRICS + DETAIL_COLUMNS}


def _read_run(run_dir: Path) -> tuple[str, dict]:
    """(state, flat metrics) of one run; a record means done, whatever state.json says."""
    try:
        record = _read_json(run_dir / "record.json")
    except (json.JSONDecodeError, UnicodeDecodeError):
        # Records are written atomically, so this is damage from outside; show it, do not crash.
        return "unreadable", _empty_details()
    if record is not None:
        return "done", flatten_record(record)
    try:
        state = (_read_json(run_dir / "state.json") or {}).get("state", "pending")
    except (json.JSONDecodeError, UnicodeDecodeError):
        state = "unknown"
    return state, _empty_details()


def _window_text(config: dict) -> str | None:
    try:
        window = slide_window(config)
    except (KeyError, TypeError, ValueError):
        return None
    if window is None:
        return None
    (h, w), (sh, sw) = window
    return f"{h}x{w}/{sh}" if sh == sw else f"{h}x{w}/{sh}x{sw}"


def gather(store_or_root, runs) -> pd.DataFrame:
    """One row per run (in the order given) with its labels, state and every metric column."""
    runs_dir = results_root(store_or_root) / "runs"
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    seen: dict[str, tuple[str, dict]] = {}
    for run in runs:
        if run.id not in seen:
            seen[run.id] = _read_run(runs_dir / run.id)
        state, details = seen[run.id]
        config = getattr(run, "config", None) or {}
        label = run.label
        values = {
            "id": run.id, "label": label, "group": getattr(run, "group", None) or label,
            "section": getattr(run, "section", None), "column": getattr(run, "column", None),
            "seed": getattr(run, "seed", config.get("seed")), "state": state,
            "row_index": getattr(run, "row_index", None),
            "paper_baseline": getattr(run, "paper_baseline", None) or config.get("baseline"),
            "paper_dataset": getattr(run, "paper_dataset", None) or config.get("dataset"),
            "baseline": config.get("baseline"), "dataset": config.get("dataset"),
            # how the run is tested (ssa_bench/configs/protocol.py): single-scale or multi-scale+flip,
            # and the dataset's sliding window ("480x480/320") where it prescribes one
            "eval_mode": eval_mode(config) if config else None,
            "eval_window": _window_text(config) if config else None,
        }
        for name in RUN_COLUMNS:
            columns[name].append(values[name])
        for name in METRICS + DETAIL_COLUMNS:
            columns[name].append(details[name])
    frame = pd.DataFrame(columns, columns=list(COLUMNS))
    for name in METRICS:
        frame[name] = frame[name].astype("float64")
    return frame
