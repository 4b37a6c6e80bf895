"""Test doubles for the SLURM executor tests: runs and cheap workers.

The workers run inside real SLURM jobs (imported there through PYTHONPATH, see conftest.py), so
they must be plain module-level functions. They follow the worker contract of
docs/ARCHITECTURE.md: write state running/done/failed, record.json, traceback.txt; resume from
the newest checkpoint in work_dir.
"""
from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path

from ssa_bench.matrix.run import Run
from ssa_bench.store import Store

# The local test cluster (slurm/up.sh) keeps everything in a folder of its own; clients reach it
# through SLURM_CONF, which conftest.py sets for the whole test process and so for every sbatch,
# squeue, sacct and job it starts -- never a SLURM this machine may have under /etc.
CLUSTER_DIR = Path(os.environ.get("SSA_SLURM_DIR", "/tmp/ssa-bench-slurm"))
CLUSTER_CONF = CLUSTER_DIR / "etc" / "slurm.conf"


def make_store(root) -> Store:
    return Store(root)


def fake_run(run_id: str, *, batch_size: int = 2, slurm: dict | None = None, **behaviour) -> Run:
    """A run whose config tells the cheap worker what to do (steps, seconds per step, raise)."""
    config = {"baseline": "segformer_mini", "dataset": "demo_shapes", "seed": 0,
              "train": {"max_iters": behaviour.get("steps", 1), "batch_size": batch_size},
              "test_worker": behaviour}
    return Run(id=run_id, label=f"row {run_id}", group=f"row {run_id}", section=None, column=None, seed=0,
               row_index=0, config=config, spec_name="test-spec", paper_baseline="segformer_mini",
               paper_dataset="demo_shapes", slurm=slurm)


def _load_config(store, run_id: str) -> dict:
    with open(os.path.join(store.run_dir(run_id), "run.json")) as handle:
        return json.load(handle)["config"]


def _latest_checkpoint(work_dir: Path) -> int:
    steps = [int(p.stem.split("_")[-1]) for p in work_dir.glob("iter_*.ckpt")]
    return max(steps, default=0)


def stepping_worker(results_root: str, run_id: str) -> None:
    """A pretend training: ``steps`` steps of ``step_s`` seconds, a checkpoint after each, resuming
    from the newest checkpoint like mmengine's resume; ``raise`` makes it fail at the start."""
    store = make_store(results_root)
    config = _load_config(store, run_id)
    behaviour = config["test_worker"]
    work_dir = Path(store.run_dir(run_id)) / "work_dir"
    work_dir.mkdir(exist_ok=True)
    (work_dir / "pid.txt").write_text(str(os.getpid()))    # for tests that kill the job's processes
    began = time.time()
    try:
        if behaviour.get("raise"):
            raise RuntimeError(behaviour["raise"])
        start = _latest_checkpoint(work_dir)
        steps = behaviour.get("steps", 1)
        for step in range(start + 1, steps + 1):
            time.sleep(behaviour.get("step_s", 0))
            (work_dir / f"iter_{step}.ckpt").write_text(str(step))
            store.write_json(os.path.join(store.run_dir(run_id), "progress.json"),
                             {"stage": "train", "iter": step, "max_iters": steps, "updated": time.time()})
        starts = work_dir / "starts.txt"   # one line per attempt: the step it resumed from
        with open(starts, "a") as handle:
            handle.write(f"{start}\n")
        record = {"schema": 1, "id": run_id, "config": config,
                  "metrics": {"mIoU": 10.0 + len(run_id) % 7, "mAcc": 0.0, "aAcc": 0.0},
                  "train": {"iters": steps, "resumed_from_iter": start or None,
                            "wall_time_s": round(time.time() - began, 2),
                            "world_size": int(os.environ.get("SLURM_NTASKS", "1")),
                            "attempt": int(os.environ.get("SSA_BENCH_ATTEMPT", "1")),
                            "launcher": os.environ.get("SSA_BENCH_LAUNCHER", "none"),
                            "threads": os.environ.get("OMP_NUM_THREADS")},
                  "env": {"host": socket.gethostname(), "job_id": os.environ.get("SSA_BENCH_JOB_ID")}}
        store.write_json(os.path.join(store.run_dir(run_id), "record.json"), record)
        store.set_state(run_id, "done")
    except Exception:
        path = store.write_traceback(run_id, traceback.format_exc())
        store.set_state(run_id, "failed", traceback=path, reason="RuntimeError")
        raise


def distributed_worker(results_root: str, run_id: str) -> None:
    """Two srun tasks join one gloo process group the way mmengine's 'slurm' launcher sets it up;
    only rank 0 writes the record."""
    import subprocess

    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = subprocess.getoutput(
        f"scontrol show hostname {os.environ['SLURM_NODELIST']} | head -n1")
    os.environ.setdefault("MASTER_PORT", "29500")
    rank, world = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    value = torch.tensor([float(rank + 1)])
    dist.all_reduce(value)
    dist.destroy_process_group()
    if rank != 0:
        return
    from ssa_bench.runtime import launcher, per_device_batch

    store = make_store(results_root)
    config = _load_config(store, run_id)
    store.write_json(os.path.join(store.run_dir(run_id), "record.json"), {
        "id": run_id, "train": {"world_size": world, "launcher": launcher(), "all_reduce": value.item(),
                                "per_gpu_batch": per_device_batch(config["train"]["batch_size"]),
                                "master_port": os.environ["MASTER_PORT"],
                                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}})
    store.set_state(run_id, "done")
