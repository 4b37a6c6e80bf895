"""The spec grammar as data: which keys exist where, and what each value may hold.

Each key's rule (type, range, choices) is a :class:`~ssa_bench.validation.rules.Field` written
once here; every door a value comes through -- a row, an axis value, ``--set``, an inline dataset
-- is checked against these tables by the one engine (``ssa_bench.validation.rules``), which raises
``SpecError`` at the first bad value naming the file, the key path (``rows[3].train.max_iters``)
and the fix. Why an engine of our own and not a schema library: ``ssa_bench/validation/rules.py``.
"""
from __future__ import annotations

from typing import Any

from ssa_bench.errors import SpecError
from ssa_bench.validation import rules
from ssa_bench.validation.rules import Field, closest, type_ok, unicode_note  # noqa: F401 (the spec door)
from ssa_bench.vocabulary import protocol
from ssa_bench.vocabulary.slurm_keys import ROW_KEYS as SLURM_KEYS

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

TRAIN_DEVICES = ("auto", "cpu", "cuda")
LOG_BACKENDS = ("tensorboard", "wandb", "mlflow")
DEFAULT_LOG_BACKENDS = ["tensorboard"]
# aug_test: multi-scale (0.5-1.75) + flip test as the ViT-Adapter authors; false (default) = single
# scale, as the paper tests (Sec. 4.2). The test modes and the checkpoint choices (authors, the
# default: the SSA authors' choice for the baseline; last; best validation mIoU) are the test
# protocol's facts, kept in ssa_bench/vocabulary/protocol.py.
EVALUATE_TEST_MODES = protocol.TEST_MODES
EVALUATE_CHECKPOINTS = protocol.CHECKPOINT_CHOICES

# Upper bounds: a count this large is a typo (1e15 iterations, a batch of 1e8) that would only show
# inside a queued job, as a time limit or an out-of-memory error.
MAX_ITERS = Field(int, at_least=1, at_most=10_000_000, what="a positive number of iterations")
INTERVAL = Field(int, at_least=1, at_most=10_000_000, what="a positive interval")
SIZE = Field(list, size=True)

TRAIN_KEYS = {
    "max_iters": MAX_ITERS,
    "batch_size": Field(int, at_least=1, at_most=4096, what="a positive batch size"),
    "crop_size": SIZE,
    "val_interval": INTERVAL,
    "checkpoint_interval": INTERVAL,
    "lr": Field((float, type(None)), above=0, finite=True,
                what="a positive finite number, e.g. 6e-5, or null for the baseline's own learning rate"),
    "num_workers": Field(int, at_least=0, at_most=256, what="0 (load in the main process) or more workers"),
    "device": Field(str, choices=TRAIN_DEVICES, noun="device"),
    # pretrained: catalog | none | catalog:NAME | a path | {baseline or default: one of those}
    # (ssa_bench/weights/catalog.py checks it; null = the profile's default)
    "pretrained": (str, dict, type(None)),
    # mmengine visualizer backends the run logs its curves to (ssa_bench/configs/tracking.py);
    # not part of the run id: they change where curves go, not what is trained
    "log_backends": Field(list, choices=LOG_BACKENDS, noun="log backend", unique=True,
                          note="(a list, e.g. [tensorboard, wandb]; [] logs to local files only)"),
}
EVALUATE_KEYS = {
    "aug_test": bool,
    "test_mode": Field(str, choices=EVALUATE_TEST_MODES, noun="test mode",
                       note="(authors = as the SSA authors' configs: whole image, ViT-Adapter-L slides)"),
    "checkpoint": Field(str, choices=EVALUATE_CHECKPOINTS, noun="checkpoint choice"),
}
MEASURE_KEYS = {
    "input_size": SIZE,
    "latency_warmup": Field((int, type(None)), at_least=0, at_most=100_000, what="0 or more warm-up iterations"),
    "latency_iters": Field((int, type(None)), at_least=1, at_most=100_000, what="at least 1 timed iteration"),
    "threads": Field(int, at_least=1, at_most=1024, what="at least 1 thread"),
}
# Row keys whose value is a block of named keys, with the table of those keys.
NESTED = {"train": TRAIN_KEYS, "measure": MEASURE_KEYS, "slurm": SLURM_KEYS, "evaluate": EVALUATE_KEYS}

DATASET_KEYS = {"root": str, "classes": list, "reduce_zero_label": bool, "img_suffix": str,
                "seg_map_suffix": str, "crop_size": SIZE, "max_iters": MAX_ITERS,
                # the resize scale of the train/test pipelines (ADE20K's is [2048, 512])
                "scale": SIZE}
REPORT_KEYS = {"columns": list, "paper_table": (str, int), "caption": str, "baseline_row": str,
               "paper_only_rows": list, "decimals": dict, "rank_by": str,
               "intervals": (str, bool)}      # YAML reads a bare `off` as false


# -- the spec's door to the engine: its errors are SpecErrors naming the spec file -------------

def check_keys(mapping: dict, allowed, file: str, where: str) -> None:
    with rules.reported_as(SpecError, file):
        rules.check_keys(mapping, allowed, where)


def check_type(value: Any, expected, file: str | None, key: str) -> None:
    with rules.reported_as(SpecError, file):
        rules.check_type(value, expected, key)


def check_block(block: Any, keys: dict, file: str, where: str) -> None:
    with rules.reported_as(SpecError, file):
        rules.check_block(block, keys, where)


def check_field(value: Any, rule, file: str | None, key: str) -> None:
    with rules.reported_as(SpecError, file):
        rules.check_field(value, rule, key)
