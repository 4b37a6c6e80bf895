"""Result records -> one pandas DataFrame row per run.

Reads each run's record through the store's validated reader (``Store.verdict``), so 10,000 records gather in about two seconds: one or two file reads and one `json.loads`
per distinct run id, columns collected as plain lists and handed to pandas once. A run without a
valid record has not finished; its row carries its state (pending, queued, running, failed, damaged)
and empty metrics -- a number is never made up.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ssa_bench.vocabulary.protocol import eval_mode, slide_window
from ssa_bench.vocabulary.metrics import METRICS
from ssa_bench.store import Store

RUN_COLUMNS = ("id", "label", "group", "section", "column", "seed", "state", "row_index",
               "paper_baseline", "paper_dataset", "baseline", "dataset", "eval_mode", "eval_window")
DETAIL_COLUMNS = ("latency_device", "latency_device_name", "latency_threads", "latency_input_size",
                  "train_wall_time_s", "train_iters", "train_device", "train_batch_note", "finished_at",
                  "git_commit")
COLUMNS = RUN_COLUMNS + METRICS + DETAIL_COLUMNS


def results_root(store_or_root) -> Path:
    """A Store (anything with `.root`) or a path -> the results root."""
    if isinstance(store_or_root, (str, os.PathLike)):
        return Path(store_or_root)
    if isinstance(store_or_root, Store):
        return Path(store_or_root.root)
    raise TypeError(f"expected a results root path or a Store, got {type(store_or_root).__name__}")


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
        "train_batch_note": (train.get("batch_split") or {}).get("note"),
        "finished_at": record.get("finished_at"),
        "git_commit": (record.get("env") or {}).get("git_commit"),
    }


def _empty_details() -> dict:
    return {name: None for name in METRICS + DETAIL_COLUMNS}


def _read_run(store: Store, run_id: str) -> tuple[str, dict]:
    """(state, flat metrics) of one run, as the store sees it: a valid record means done, whatever
    state.json says; a damaged record is 'damaged' (shown, not fatal)."""
    state, record = store.verdict(run_id)
    return state, (flatten_record(record) if record is not None else _empty_details())


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
    store = Store(results_root(store_or_root))
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    seen: dict[str, tuple[str, dict]] = {}
    for run in runs:
        if run.id not in seen:
            seen[run.id] = _read_run(store, run.id)
        state, details = seen[run.id]
        config = run.config or {}
        label = run.label
        values = {
            "id": run.id, "label": label, "group": run.group or label,
            "section": run.section, "column": run.column, "seed": run.seed, "state": state,
            "row_index": run.row_index,
            "paper_baseline": run.paper_baseline or config.get("baseline"),
            "paper_dataset": run.paper_dataset or config.get("dataset"),
            "baseline": config.get("baseline"), "dataset": config.get("dataset"),
            # how the run is tested (ssa_bench/vocabulary/protocol.py): single-scale or multi-scale+flip,
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
