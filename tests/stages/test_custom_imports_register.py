"""Every type of ours that a composed config names (the evaluators' IoU metric, the hooks, the demo
data set) is registered by the modules its ``custom_imports`` lists, and by nothing else: checked
in a fresh interpreter, so a module this test process happened to import cannot hide a missing one
(the IoU metric moved out of stages/hooks.py into stages/iou_metric.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ssa_bench.configs import build_mmseg_config

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import json, sys
from ssa_bench.stages.runner import import_modules
wanted = json.loads(sys.argv[1])
import_modules(wanted["imports"])
from mmseg.registry import DATASETS, HOOKS, METRICS
registries = {"metric": METRICS, "hook": HOOKS, "dataset": DATASETS}
missing = [f"{kind} {name}" for kind, name in wanted["types"] if registries[kind].get(name) is None]
print(json.dumps(missing))
"""


def _ours(cfg) -> list[tuple[str, str]]:
    """(registry, type) of every piece of the config whose type is one of ours (SSABench*, Demo*)."""
    def is_ours(name) -> bool:
        return isinstance(name, str) and name.startswith(("SSABench", "Demo"))

    types = [("metric", cfg.val_evaluator.type), ("metric", cfg.test_evaluator.type)]
    hooks = list(cfg.get("custom_hooks") or []) + list((cfg.get("default_hooks") or {}).values())
    types += [("hook", hook["type"]) for hook in hooks if is_ours(hook.get("type"))]
    types += [("dataset", cfg.train_dataloader.dataset.type), ("dataset", cfg.val_dataloader.dataset.type)]
    return sorted({item for item in types if is_ours(item[1])})


def test_the_composed_configs_custom_imports_register_every_type_of_ours(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))
    for var in ("SSA_BENCH_LAUNCHER", "WORLD_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    run_config = {
        "baseline": "segformer_mini", "dataset": "demo_shapes", "dataset_def": None, "ssa": {"enabled": False},
        "train": {"max_iters": 20, "batch_size": 2, "crop_size": [64, 64], "val_interval": 10,
                  "checkpoint_interval": 10, "lr": None, "num_workers": 0, "device": "cpu", "pretrained": None},
        "measure": {"input_size": [64, 64], "latency_warmup": 1, "latency_iters": 1, "threads": 1},
        "cfg": {}, "seed": 0,
    }
    cfg = build_mmseg_config(run_config, str(tmp_path / "work"))
    types = _ours(cfg)
    kinds = {kind for kind, _ in types}
    assert {("metric", "SSABenchIoUMetric")} <= set(types) and {"hook", "dataset"} <= kinds, types
    wanted = {"imports": list(cfg.custom_imports.imports), "types": types}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHECK, json.dumps(wanted)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    missing = json.loads(done.stdout.strip().splitlines()[-1])
    assert not missing, f"not registered by custom_imports {wanted['imports']}: {missing}"
