"""Execute one run: the missing stages in order, then its record.

    python -m ssa_bench.worker --results-dir RESULTS RUN_ID

is what the local executor spawns per run and what a SLURM array task calls; both read the run's
config from ``runs/<id>/run.json``, so a worker needs nothing but the id. Each stage's result is
cached in ``stages/<name>.json``: a run whose training finished but whose measurement failed redoes
only the measurement. A failure leaves ``traceback.txt`` and state ``failed`` with a one-line
reason, and exits 1; results already written stay.
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

from ssa_bench import runtime
from ssa_bench.compat.safe_load import trusted_loads
from ssa_bench.stages.dump import dump_stage
from ssa_bench.stages.evaluate import evaluate_stage
from ssa_bench.stages.measure import measure_stage
from ssa_bench.stages.train import train_stage
from ssa_bench.store import STAGES, Store
from ssa_bench.store.storage import StorageError, as_storage_error
from ssa_bench.vocabulary.metrics import ACCURACY_METRICS

# The store names the stages and their order; this is what runs each one. The stage modules
# import torch and mmseg only when called.
STAGE_FUNCTIONS = {"train": train_stage, "evaluate": evaluate_stage, "measure": measure_stage,
                   "dump": dump_stage}


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _versions() -> dict:
    from importlib import metadata

    versions = {}
    for package in ("torch", "mmengine", "mmcv", "mmcv-lite", "mmsegmentation", "numpy", "submitit"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def build_record(run_id: str, config: dict, stages: dict) -> dict:
    train, evaluate, measure = stages["train"], stages["evaluate"], stages["measure"]
    return {
        "schema": 1, "id": run_id, "config": config,
        "metrics": {key: evaluate[key] for key in (*ACCURACY_METRICS, "per_class_iou")},
        "curve": train.get("curve", []),
        "loss_curves": train.get("loss_curves", []),
        "flops": measure["flops"], "params_m": measure["params_m"], "latency": measure["latency"],
        "train": {**{key: train.get(key) for key in ("wall_time_s", "iters", "device", "world_size",
                                                     "resumed_from_iter", "batch_split", "skipped_checkpoints")},
                  "executor": os.environ.get("SSA_BENCH_EXECUTOR", "inline"),
                  "attempt": int(os.environ.get("SSA_BENCH_ATTEMPT") or 1),
                  "threads": _threads()},
        "dump": stages.get("dump", {}).get("files", []),
        # checkpoints loaded with the full unpickler because the user trusted them by name
        "trusted_checkpoints": sorted({path for stage in stages.values()
                                       for path in stage.get("trusted_checkpoints", [])}),
        "seed": config["seed"],
        "env": {"git_commit": _git_commit(), "versions": _versions(), "host": socket.gethostname(),
                "python": platform.python_version()},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _prepare_process(config: dict) -> None:
    if (config.get("train") or {}).get("device") == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""      # before torch initialises CUDA
    threads = os.environ.get("SSA_BENCH_THREADS")
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    if (config.get("train") or {}).get("device") == "cuda" and not torch.cuda.is_available():
        from ssa_bench.errors import UserError

        raise UserError("train.device is 'cuda' but torch sees no GPU on this host", key="train.device",
                        fix="run on a GPU node (--executor slurm) or set train.device=auto or cpu")


def execute_run(results_root: str, run_id: str, stages=STAGES) -> dict:
    store = Store(results_root)
    config = store.read_config(run_id)
    run_dir = store.run_dir(run_id)
    rank = runtime.rank()
    try:
        if rank == 0:
            store.set_state(run_id, "running", pid=os.getpid())
        _prepare_process(config)
        if any(not store.stage_done(run_id, name) for name in stages if name != "measure"):
            # The demo is generated where the run executes (a cluster node may not share ./data);
            # a missing real data set fails here with the one-line DataError.
            from ssa_bench.data import ensure_datasets

            ensure_datasets([config])
        results = {}
        for name in stages:
            cached = store.read_stage(run_id, name)
            if cached is not None:
                results[name] = cached
                continue
            if name != "train" and rank != 0:
                continue      # only training is distributed; rank 0 does the rest
            store.write_progress(run_id, name)
            trusted_before = len(trusted_loads())
            results[name] = STAGE_FUNCTIONS[name](config, run_dir)
            # files the user trusted by name (SSA_BENCH_TRUST_CHECKPOINTS) were read with the full
            # unpickler: the stage's file and the record say which
            if trusted_loads()[trusted_before:]:
                results[name]["trusted_checkpoints"] = sorted(set(trusted_loads()[trusted_before:]))
            if rank == 0:
                store.write_stage(run_id, name, results[name])
        if rank != 0:
            return {}
        record = build_record(run_id, config, results)
        store.write_record(run_id, record)
        store.set_state(run_id, "done")
        try:
            os.unlink(store.paths(run_id).traceback)       # an earlier attempt's failure
        except FileNotFoundError:
            pass
        return record
    except BaseException as error:
        if rank == 0:
            storage = as_storage_error(error, run_dir)
            if storage is not None:
                # One line in the worker's log; the traceback stays for a look (if it fits).
                print(f"ssa-bench: {storage.one_line()}", file=sys.stderr, flush=True)
                error = storage
            _record_failure(store, run_id, error)
        raise


def failure_reason(error: BaseException) -> str:
    """The one line `status` shows for a failed run: a storage failure's own line (the path and
    what to do), else the error's type and first line."""
    if isinstance(error, StorageError):
        return error.one_line()[:500]
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}".strip()[:300]


def _record_failure(store: Store, run_id: str, error: BaseException) -> None:
    """state.json := failed with the reason, and traceback.txt. On a full disk either write may fail
    in turn (the failed write's temp files are gone by now, so a small file usually fits): the state
    is written first, and what cannot be written is said in the log, never raised over ``error``."""
    paths = store.paths(run_id)
    text = traceback.format_exc()
    try:
        store.set_state(run_id, "failed", traceback=None, reason=failure_reason(error))
    except OSError as failure:
        print(f"ssa-bench: could not mark {run_id} failed in {paths.state}: {failure}", file=sys.stderr, flush=True)
        return
    try:
        # Relative to the run's folder: the results folder may move (status resolves it).
        store.set_state(run_id, "failed", traceback=store.write_traceback(run_id, text))
    except OSError as failure:
        print(f"ssa-bench: could not write {paths.traceback}: {failure}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssa_bench.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    try:
        execute_run(args.results_dir, args.run_id)
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 -- recorded in traceback.txt and state.json already
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
