"""Experiment tracking: ``train.log_backends`` -> mmengine's visualizer backends for a run.

Every run keeps mmengine's ``LocalVisBackend`` (``vis_data/scalars.json``, which the train stage
reads its curve from); the listed backends are added beside it. TensorBoard (the default) writes
event files next to ``scalars.json`` in the run's work_dir; Weights & Biases and MLflow are
configured by their own environment variables (``WANDB_PROJECT``, ``WANDB_MODE=offline``,
``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``). Each optional backend needs its package:
:func:`check_log_backends` says which is missing, in one line, before anything trains. Nothing
here imports torch or the trackers (``importlib.util.find_spec`` only looks).
"""
from __future__ import annotations

import importlib.util
import os

from ssa_bench.errors import UserError
from ssa_bench.vocabulary.spec_keys import DEFAULT_LOG_BACKENDS

# name in a spec -> (mmengine VISBACKENDS type, the module it imports, the package to install)
BACKENDS = {
    # mmengine's TensorboardVisBackend writes through torch.utils.tensorboard, which needs the
    # `tensorboard` package (a dependency of ssa-bench, so the default always works)
    "tensorboard": ("TensorboardVisBackend", "tensorboard", "tensorboard"),
    "wandb": ("WandbVisBackend", "wandb", "wandb"),
    "mlflow": ("MLflowVisBackend", "mlflow", "mlflow"),
}


def log_backends_of(config: dict) -> list[str]:
    """The run's backends; a run recorded before the key existed logs to TensorBoard."""
    backends = (config.get("train") or {}).get("log_backends")
    return list(DEFAULT_LOG_BACKENDS if backends is None else backends)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_log_backends(config: dict) -> None:
    """UserError (one line) when a backend the run config lists cannot be used here."""
    for name in log_backends_of(config):
        if name not in BACKENDS:
            raise UserError(f"unknown log backend '{name}'", key="train.log_backends",
                            fix=f"use a list of: {', '.join(BACKENDS)}")
        _, module, package = BACKENDS[name]
        if not _installed(module):
            raise UserError(f"log backend '{name}' needs the {package} package, which is not installed",
                            key="train.log_backends",
                            fix=f"pip install {package}, or drop '{name}' from train.log_backends")


def check_runs_log_backends(configs) -> None:
    """:func:`check_log_backends` for every run to start (each distinct list checked once)."""
    seen = set()
    for config in configs:
        backends = tuple(log_backends_of(config))
        if backends not in seen:
            seen.add(backends)
            check_log_backends(config)


def vis_backends(config: dict, work_dir: str) -> list[dict]:
    """mmengine ``vis_backends`` of the run: the local JSON scalars first, then each tracker.
    mmengine gives each backend the run's ``<work_dir>/<timestamp>/vis_data`` as save_dir."""
    run_name = os.path.basename(os.path.dirname(os.path.abspath(work_dir)))     # the run id
    out = [dict(type="LocalVisBackend")]
    for name in log_backends_of(config):
        kind = BACKENDS[name][0]
        if name == "wandb":
            # project, entity, mode: WANDB_* variables, read by wandb itself
            out.append(dict(type=kind, init_kwargs=dict(name=run_name)))
        elif name == "mlflow":
            # mmengine points MLflow at save_dir unless given a tracking URI
            out.append(dict(type=kind, run_name=run_name,
                            exp_name=os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ssa-bench",
                            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None))
        else:
            out.append(dict(type=kind))
    return out


def training_only(cfg, stage: str) -> None:
    """Trackers follow the training. The evaluate and dump stages build Runners of their own,
    which would open a second and third W&B or MLflow run (and a TensorBoard file) holding only
    the config: mmengine sends no test metrics to the visualizer. Those keep the local backend."""
    if stage == "train" or not cfg.get("visualizer"):
        return
    cfg.visualizer.vis_backends = [dict(type="LocalVisBackend")]
    cfg.vis_backends = [dict(type="LocalVisBackend")]
