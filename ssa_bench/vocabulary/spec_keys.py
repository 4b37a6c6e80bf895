"""The spec grammar as data: which keys exist where, and the type of each value.

Validation walks a spec against these tables and raises ``SpecError`` at the first bad value,
naming the file, the key path (``rows[3].train.max_iters``) and the fix. Kept as plain tables
(not a schema library) so the error messages say exactly what a researcher should type.
"""
from __future__ import annotations

import difflib
import unicodedata
from typing import Any

from ssa_bench.errors import SpecError

# Top level of a spec file.
TOP_KEYS = {
    "name": "a short name (default: the file name), used for report file names",
    "title": "the table's title",
    "description": "free text",
    "paper_table": "the paper's table this spec reproduces (table1 ... table8), for paper | ours | delta",
    "base": "settings every row starts from (baseline, dataset, ssa, train, measure, evaluate, cfg, seed, slurm)",
    "rows": "named rows: a list of {label: ..., <overrides>}",
    "axes": "key -> list of values, crossed with the rows (product)",
    "zip": "key -> list of values, all the same length, stepped together",
    "include": "extra rows, each {label: ..., <overrides>}",
    "exclude": "rows to drop: each a mapping of keys (label, dataset, ...) that must all match",
    "seeds": "list of integer seeds each row is repeated over",
    "columns": "the key whose values become column groups (e.g. dataset)",
    "sections": "the key whose values become row blocks (e.g. baseline)",
    "datasets": "inline datasets in ADE20K layout: name -> {root, classes, reduce_zero_label}",
    "report": "how the table is reported: columns, paper_table, caption, baseline_row, paper_only_rows",
}

# What a row (base, rows[i], include[i]) may set.
ROW_KEYS = {
    "label": str, "section": str, "paper_only": bool,
    "baseline": str, "dataset": str, "ssa": dict, "classifier": dict, "train": dict, "measure": dict, "cfg": dict,
    "seed": int, "slurm": dict, "evaluate": dict,
}

TRAIN_KEYS = {
    "max_iters": int, "batch_size": int, "crop_size": list, "val_interval": int,
    "checkpoint_interval": int, "lr": (float, type(None)), "num_workers": int,
    # pretrained: catalog | none | catalog:NAME | a path | {baseline or default: one of those}
    # (ssa_bench/weights/catalog.py; null = the profile's default)
    "device": str, "pretrained": (str, dict, type(None)),
    # mmengine visualizer backends the run logs its curves to (ssa_bench/configs/tracking.py);
    # not part of the run id: they change where curves go, not what is trained
    "log_backends": list,
}
TRAIN_DEVICES = ("auto", "cpu", "cuda")
LOG_BACKENDS = ("tensorboard", "wandb", "mlflow")
DEFAULT_LOG_BACKENDS = ["tensorboard"]
# aug_test: multi-scale (0.5-1.75) + flip test as the ViT-Adapter authors; false (default) = single
# scale, as the paper tests (Sec. 4.2). ssa_bench/vocabulary/protocol.py
# checkpoint: the checkpoint the evaluate stage tests -- authors (default: the SSA authors' choice
# for the baseline, ssa_bench/vocabulary/authors_runs.py), last, or best (highest validation mIoU)
EVALUATE_KEYS = {"aug_test": bool, "test_mode": str, "checkpoint": str}
EVALUATE_TEST_MODES = ("authors", "slide", "whole")
EVALUATE_CHECKPOINTS = ("authors", "last", "best")
MEASURE_KEYS = {"input_size": list, "latency_warmup": (int, type(None)),
                "latency_iters": (int, type(None)), "threads": int}
SLURM_KEYS = {"gpus": int, "nodes": int, "cpus_per_gpu": int, "mem_per_gpu": str, "time": str,
              "partition": str, "constraint": str, "qos": str, "account": str, "extra": dict}
DATASET_KEYS = {"root": str, "classes": list, "reduce_zero_label": bool, "img_suffix": str,
                "seg_map_suffix": str, "crop_size": list, "max_iters": int,
                # the resize scale of the train/test pipelines (ADE20K's is [2048, 512])
                "scale": list}
REPORT_KEYS = {"columns": list, "paper_table": (str, int), "caption": str, "baseline_row": str,
               "paper_only_rows": list, "decimals": dict, "rank_by": str,
               "intervals": (str, bool)}      # YAML reads a bare `off` as false

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              dict: "a mapping", list: "a list", type(None): "null"}


def closest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'? " if match else ""


def unicode_note(key: str) -> str:
    """'' for an ASCII key; else which characters are not ASCII (a Cyrillic 'а' looks like 'a')."""
    odd = [c for c in key if ord(c) > 127]
    if not odd:
        return ""
    names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'UNKNOWN')}" for c in dict.fromkeys(odd))
    return f" (it contains {names}; retype it in plain ASCII)"


def check_keys(mapping: dict, allowed, file: str, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SpecError(f"unknown key '{key}'{unicode_note(str(key))}", file=file, key=path,
                            fix=f"{closest(str(key), allowed)}allowed here: {', '.join(allowed)}")


def type_ok(value: Any, expected) -> bool:
    expected = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return isinstance(value, expected)


def check_type(value: Any, expected, file: str, key: str) -> None:
    if not type_ok(value, expected):
        names = " or ".join(TYPE_NAMES.get(t, t.__name__)
                            for t in (expected if isinstance(expected, tuple) else (expected,)))
        fix = f"write {names} here"
        if isinstance(value, str) and float in (expected if isinstance(expected, tuple) else (expected,)):
            try:
                number = float(value)
            except ValueError:
                pass
            else:   # YAML 1.1 reads 1e-4 (no dot in the mantissa) as text
                fix = f"YAML reads {value} as text: write it with a dot, e.g. {number:.1e}"
        raise SpecError(f"expected {names}, got {type(value).__name__} {value!r}", file=file, key=key, fix=fix)


def check_block(block: Any, keys: dict, file: str, where: str) -> None:
    check_type(block, dict, file, where)
    check_keys(block, keys, file, where)
    for key, value in block.items():
        check_type(value, keys[key], file, f"{where}.{key}")


# The largest side of a crop, an input or a resize scale: 16k pixels (a 1e6-pixel side is a typo that
# would only surface as an out-of-memory error inside a queued job).
MAX_SIDE = 16384


def check_size(value: Any, file: str, key: str) -> None:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise SpecError(f"expected [height, width] of two positive integers, got {value!r}", file=file,
                        key=key, fix="write e.g. [512, 512]")
    if max(value) > MAX_SIDE:
        raise SpecError(f"a side of {max(value)} pixels is more than {MAX_SIDE}", file=file, key=key,
                        fix="write the size in pixels, e.g. [512, 512]")
