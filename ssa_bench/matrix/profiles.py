"""Profiles: how a spec written at the paper's scale is run.

``paper`` keeps the spec's baselines and datasets and fills every training default from the paper
(the dataset's crop size and schedule, batch 16). ``cpu-demo`` maps any table onto the embedded
demo data and a small SegFormer so the same YAML runs in minutes on a laptop CPU; every SSA switch
of the spec is kept, so the demo table has the paper's rows.
"""
from __future__ import annotations

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.vocabulary.authors_runs import intervals
from ssa_bench.vocabulary.profiles import CPU_DEMO, PAPER_BATCH_SIZE
from ssa_bench.vocabulary.spec_keys import DEFAULT_LOG_BACKENDS



def train_defaults(dataset: str, dataset_def: dict | None, baseline: str | None = None,
                   ssa: bool = False) -> dict:
    """The paper-scale schedule of a dataset (inline datasets: 512 crops, 80k iterations).

    Evaluation and checkpoint intervals are the SSA authors' for the baseline on that data set
    (``configs/authors_runs.py``), else a tenth of the run."""
    if dataset_def is None:
        info = DATASETS[dataset]
        crop, max_iters = list(info.crop_size), info.max_iters
    else:
        crop = list(dataset_def.get("crop_size") or [512, 512])
        max_iters = int(dataset_def.get("max_iters") or 80_000)
    interval = max(1, max_iters // 10)
    authors = intervals(baseline, dataset, ssa) if baseline and dataset_def is None else None
    val_interval, checkpoint_interval = authors or (interval, interval)
    return {"max_iters": max_iters, "batch_size": PAPER_BATCH_SIZE, "crop_size": crop,
            "val_interval": val_interval, "checkpoint_interval": checkpoint_interval, "lr": None,
            "num_workers": 4, "device": "auto", "pretrained": None,
            "log_backends": list(DEFAULT_LOG_BACKENDS)}


def measure_defaults(crop_size: list) -> dict:
    # The paper measures FLOPs at the crop size (512x512, 480x480 for PASCAL-Context).
    return {"input_size": list(crop_size), "latency_warmup": None, "latency_iters": None, "threads": 1}


def apply_profile(row: dict, profile: str) -> dict:
    """The row with the profile's mapping applied (a new dict; `row` is not changed)."""
    if profile == "paper":
        return row
    out = dict(row)
    out["baseline"] = CPU_DEMO["baseline"]
    info = DATASETS.get(out.get("dataset"))
    if info is not None and info.generated:
        # A row written for demo data (a study) keeps its schedule; the profile fills the rest.
        out["train"] = {**CPU_DEMO["train"], **(row.get("train") or {})}
    else:
        if info is not None:
            out["dataset"] = CPU_DEMO["dataset"]
        out["train"] = {**(row.get("train") or {}), **CPU_DEMO["train"]}
    out["measure"] = {**(row.get("measure") or {}), **CPU_DEMO["measure"]}
    return out
