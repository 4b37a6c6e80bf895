"""``Run``: one table cell to fill, from the spec's matrix to the report -- the one type every stage shares;
``plan(spec)``: a spec's runs.

A run's id is the first 12 hex digits of sha256 over the canonical JSON of its resolved config.
Labels, sections and columns are not hashed, so reordering a YAML file changes no id, and two
tables asking for the same training (Table 3's last row is Table 4's last row) share one run
directory: a spec is a view over the store, not its owner.

A switch added to the config after runs were recorded would change every id and orphan every
result made before it existed, although a run that leaves it at its neutral default trains and
evaluates exactly as before. Such keys are listed in :data:`ID_NEUTRAL_DEFAULTS` and left out of
the hash while they hold that value; the config itself (and the record) keeps every default.

Keys that only say where a run's curves are logged (:data:`ID_EXCLUDED_TRAIN_KEYS`:
``train.log_backends``, the mmengine visualizer backends) are left out of the hash whatever their
value: TensorBoard, Weights & Biases or MLflow watch the same training, so a run asked for with
another backend is the same run, its results are shared, and switching tracking on never orphans
a result. (A run that starts training later logs where its newest request says: the store writes
the newest backends into run.json.)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

ID_LENGTH = 12

# Keys added after the first records, at the value that reproduces the behaviour before them.
ID_NEUTRAL_DEFAULTS: dict[str, object] = {
    # single-scale, whole image except ViT-Adapter-L: what every run did before the switches
    # ... and the checkpoint the authors keep (evaluate.checkpoint), added later still
    "evaluate": {"aug_test": False, "test_mode": "authors", "checkpoint": "authors"},
}


# train.* keys that never change what is trained or measured: out of the hash, whatever their value.
ID_EXCLUDED_TRAIN_KEYS = ("log_backends",)


def _neutral(key: str, value) -> bool:
    neutral = ID_NEUTRAL_DEFAULTS[key]
    if isinstance(neutral, dict) and isinstance(value, dict):
        # a config written before a later key of the block existed has it at its neutral value
        return {**neutral, **value} == neutral and set(value) <= set(neutral)
    return value == neutral


def hashed_view(config: dict) -> dict:
    """The config as its id sees it: neutral defaults of later keys and logging backends left out."""
    view = {key: value for key, value in config.items()
            if not (key in ID_NEUTRAL_DEFAULTS and _neutral(key, value))}
    if isinstance(view.get("train"), dict):
        view["train"] = {key: value for key, value in view["train"].items() if key not in ID_EXCLUDED_TRAIN_KEYS}
    return view


def run_id(config: dict) -> str:
    canonical = json.dumps(hashed_view(config), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]


@dataclass
class Run:
    """Every attribute is always there (report/ and executors/ read them without getattr)."""
    id: str                        # run_id(config)
    label: str                     # the table row (with axis values appended when not pivoted)
    group: str                     # rows aggregated over seeds: the label
    section: str | None            # row block (e.g. the baseline's title), or None
    column: str | None             # column group (e.g. the dataset), or None
    seed: int
    row_index: int                 # position of its row in the expanded matrix
    config: dict                   # the resolved run config (hashed into id)
    spec_name: str                 # the spec file's path, for messages
    paper_baseline: str            # baseline and dataset as the spec wrote them (before a profile
    paper_dataset: str             # mapped them), to find the paper's numbers
    slurm: dict | None = None      # the row's slurm: block (resources), or None
    origin: str = ""               # key path of its row in the spec: rows[2], include[0], base


def plan(spec) -> list[Run]:
    """The spec's runs, in the matrix's order (the loader gave each its id); a copy, so a caller may
    sort or filter it without changing the spec."""
    return list(spec.runs)
