"""One check for a single value at a dotted key, whatever door it came through.

A value may be written in a row (``rows[2].train.lr``), as an axis or zip value (``axes.seed[1]``),
or on the command line (``--set train.lr=...``). Each door calls :func:`check_value` with the key
path it should be reported at, so a bad value is named where the user wrote it. Types come from
the tables of :mod:`ssa_bench.vocabulary.spec_keys`; ranges are here. Whole blocks (``train: {...}``)
are checked key by key the same way.
"""
from __future__ import annotations

import math
from typing import Any

from ssa_bench.errors import SpecError
from ssa_bench.vocabulary import spec_keys as schema

# Row keys whose value is a block of named keys, with the table of those keys.
NESTED = {"train": schema.TRAIN_KEYS, "measure": schema.MEASURE_KEYS, "slurm": schema.SLURM_KEYS,
          "evaluate": schema.EVALUATE_KEYS}
MAX_SEED = 2**32 - 1           # numpy's and torch's seed range
MAX_LABEL = 200                # characters of a row label or section name (table cells)

# dotted key -> (lowest allowed, what to write): integer counts and sizes.
_AT_LEAST = {
    "train.max_iters": (1, "a positive number of iterations"),
    "train.batch_size": (1, "a positive batch size"),
    "train.val_interval": (1, "a positive interval"),
    "train.checkpoint_interval": (1, "a positive interval"),
    "train.num_workers": (0, "0 (load in the main process) or more workers"),
    "measure.latency_warmup": (0, "0 or more warm-up iterations"),
    "measure.latency_iters": (1, "at least 1 timed iteration"),
    "measure.threads": (1, "at least 1 thread"),
    "slurm.gpus": (0, "0 or more GPUs"),
    "slurm.nodes": (1, "at least 1 node"),
    "slurm.cpus_per_gpu": (1, "at least 1 CPU per GPU"),
}
_SIZES = ("train.crop_size", "measure.input_size")
# dotted key -> highest allowed: a count this large is a typo (1e15 iterations, a batch of 1e8)
# that would only show inside a queued job, as a time limit or an out-of-memory error.
_AT_MOST = {
    "train.max_iters": 10_000_000, "train.val_interval": 10_000_000, "train.checkpoint_interval": 10_000_000,
    "train.batch_size": 4096, "train.num_workers": 256,
    "measure.latency_warmup": 100_000, "measure.latency_iters": 100_000, "measure.threads": 1024,
    "slurm.gpus": 4096, "slurm.nodes": 1024, "slurm.cpus_per_gpu": 1024,
}


def _fail(message: str, file: str | None, where: str, fix: str) -> SpecError:
    return SpecError(message, file=file, key=where, fix=fix)


def _type_error(value: Any, expected, file, where) -> None:
    schema.check_type(value, expected, file, where)


def check_value(key: str, value: Any, file: str | None, where: str) -> None:
    """Raise SpecError (reported at ``where``) when ``value`` is not valid at dotted ``key``."""
    parts = key.split(".")
    head = parts[0]
    if head == "cfg":
        _check_cfg(parts, value, file, where)
        return
    if head not in schema.ROW_KEYS:
        allowed = list(schema.ROW_KEYS)
        raise _fail(f"unknown key '{head}'{schema.unicode_note(head)}", file, where,
                    f"{suggest(head)}allowed: {', '.join(allowed)}")
    if head in NESTED:
        table = NESTED[head]
        if len(parts) == 1:
            _type_error(value, dict, file, where)
            for sub, item in value.items():
                check_value(f"{head}.{sub}", item, file, f"{where}.{sub}")
            return
        sub = parts[1]
        if len(parts) > 2 or sub not in table:
            raise _fail(f"unknown key '{key}'{schema.unicode_note(sub)}", file, where,
                        f"{suggest(sub, head)}{head} keys: {', '.join(table)}")
        _type_error(value, table[sub], file, where)
        _check_range(key, value, file, where)
        return
    if head in ("ssa", "classifier") and len(parts) > 1:
        return          # a settings key: resolved (and checked) with its block
    _type_error(value, schema.ROW_KEYS[head], file, where)
    if head == "seed" and not 0 <= value <= MAX_SEED:
        raise _fail(f"seed must be in [0, {MAX_SEED}], got {value}", file, where, "give a non-negative seed")
    if head in ("label", "baseline", "dataset") and not value.strip():
        raise _fail(f"empty {head}", file, where, f"write a {head} name")
    if head in ("label", "section") and len(value) > MAX_LABEL:
        raise _fail(f"a {head} of {len(value):,} characters (more than {MAX_LABEL})", file, where,
                    f"a {head} is a table's row name: write a short one, e.g. + SEPA")


def _check_range(key: str, value: Any, file, where: str) -> None:
    if value is None:
        return
    if key in _SIZES:
        schema.check_size(value, file, where)
    elif key in _AT_LEAST:
        low, what = _AT_LEAST[key]
        if value < low:
            raise _fail(f"{key.split('.')[-1]} must be at least {low}, got {value}", file, where, f"give {what}")
        if key in _AT_MOST and value > _AT_MOST[key]:
            raise _fail(f"{key.split('.')[-1]} of {value} is more than {_AT_MOST[key]:,}", file, where, f"give {what}")
    elif key == "train.lr" and not (math.isfinite(value) and value > 0):
        raise _fail(f"lr must be a positive finite number, got {value}", file, where,
                    "give e.g. 6e-5, or null for the baseline's own learning rate")
    elif key == "train.device" and value not in schema.TRAIN_DEVICES:
        raise _fail(f"unknown device '{value}'", file, where, f"use one of: {', '.join(schema.TRAIN_DEVICES)}")
    elif key == "train.log_backends":
        _check_log_backends(value, file, where)
    elif key == "evaluate.test_mode" and value not in schema.EVALUATE_TEST_MODES:
        raise _fail(f"unknown test mode '{value}'", file, where,
                    f"use one of: {', '.join(schema.EVALUATE_TEST_MODES)}")
    elif key == "evaluate.checkpoint" and value not in schema.EVALUATE_CHECKPOINTS:
        raise _fail(f"unknown checkpoint choice '{value}'", file, where,
                    f"use one of: {', '.join(schema.EVALUATE_CHECKPOINTS)}")


def _check_log_backends(value: list, file, where: str) -> None:
    allowed = ", ".join(schema.LOG_BACKENDS)
    for name in value:
        if name not in schema.LOG_BACKENDS:
            raise _fail(f"unknown log backend {name!r}", file, where,
                        f"{schema.closest(str(name), schema.LOG_BACKENDS)}use a list of: {allowed} "
                        "(e.g. [tensorboard, wandb]; [] logs to local files only)")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise _fail(f"log backend '{repeated[0]}' is listed twice", file, where, "list each backend once")


def _check_cfg(parts: list[str], value: Any, file, where: str) -> None:
    if len(parts) > 1:
        if not all(part.strip() for part in parts[1:]):
            raise _fail("empty part in an mmseg config key", file, where, "write e.g. cfg.model.decode_head.channels")
        return
    _type_error(value, dict, file, where)
    for name in value:
        if not isinstance(name, str) or not name.strip() or not all(p.strip() for p in name.split(".")):
            raise _fail(f"bad mmseg config key {name!r}", file, f"{where}.{name}",
                        "write a dotted mmseg key, e.g. model.decode_head.channels: 256")


def every_key() -> list[str]:
    """Every dotted row key, for 'did you mean' across levels (max_iters -> train.max_iters)."""
    keys = [k for k in schema.ROW_KEYS]
    keys += [f"{head}.{sub}" for head, table in NESTED.items() for sub in table]
    return keys


def suggest(word: str, head: str | None = None) -> str:
    """'did you mean ...? ' for a mistyped key, looking in its block and then in every block."""
    if head is not None:
        hint = schema.closest(word, NESTED.get(head, {}))
        if hint:
            return hint.replace("'", f"'{head}.", 1)
    nested = [k for k in every_key() if "." in k and k.split(".")[1] == word]
    if nested:
        return f"did you mean '{nested[0]}'? "
    by_leaf = {k.split(".")[-1]: k for k in every_key()}
    match = schema.closest(word, by_leaf)
    if match:
        leaf = match.split("'")[1]
        return f"did you mean '{by_leaf[leaf]}'? "
    return ""
