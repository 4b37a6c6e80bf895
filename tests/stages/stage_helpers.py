"""Hand-built run configs and tiny trained runs for the stage and worker tests (no spec loader)."""
from __future__ import annotations

import copy
import hashlib
import json
import types

from ssa_bench.classifier_settings.ssa import DISABLED_BLOCK, SSASettings
from ssa_bench.store import Store

# Small enough to train in a few seconds on one CPU thread, long enough for two validations.
TINY_TRAIN = {"max_iters": 20, "batch_size": 2, "crop_size": [64, 64], "val_interval": 10,
              "checkpoint_interval": 10, "lr": None, "num_workers": 0, "device": "cpu", "pretrained": None}


def run_config(ssa: bool = False, seed: int = 0, **train) -> dict:
    return {
        "baseline": "segformer_mini", "dataset": "demo_shapes", "dataset_def": None,
        # SSA runs here name their preset (the stage tests were written on `paper`); runs without
        # SSA carry the block the spec loader gives them.
        "ssa": SSASettings.from_spec({"enabled": True, "variant": "paper"}).to_dict() if ssa
        else SSASettings.from_spec(DISABLED_BLOCK).to_dict(),
        "train": {**TINY_TRAIN, **train},
        "measure": {"input_size": [64, 64], "latency_warmup": 1, "latency_iters": 3, "threads": 1},
        "cfg": {}, "seed": seed,
    }


def add_run(store: Store, config: dict) -> str:
    """Write run.json as `plan` + the executors would; returns the run id."""
    run_id = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    store.write_run(types.SimpleNamespace(id=run_id, config=copy.deepcopy(config), label="test"))
    return run_id
