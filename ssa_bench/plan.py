"""Spec entries -> runs with stable ids; which runs a `run` command still has to execute.

A run's id is the first 12 hex digits of sha256 over the canonical JSON of its resolved config.
Labels, sections and columns are not hashed, so reordering a YAML file changes no id, and two
tables asking for the same training (Table 3's last row is Table 4's last row) share one run
directory: a spec is a view over the store, not its owner.

A switch added to the config after runs were recorded would change every id and orphan every
result made before it existed, although a run that leaves it at its neutral default trains and
evaluates exactly as before. Such keys are listed in :data:`ID_NEUTRAL_DEFAULTS` and left out of
the hash while they hold that value; the config itself (and the record) keeps every default.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass

from ssa_bench.catalog import BASELINES

ID_LENGTH = 12
# CPU cost of the demo model per image at 64x64, seconds, with the constant cost of a run
# (imports, evaluation, measurement, dump) on top; measured on 2 cores, one thread per run.
CPU_SECONDS_PER_IMAGE_64 = 0.012
CPU_RUN_OVERHEAD_S = 25.0


@dataclass
class Run:
    id: str
    label: str
    group: str
    section: str | None
    column: str | None
    seed: int
    row_index: int
    config: dict
    spec_name: str
    paper_baseline: str
    paper_dataset: str
    slurm: dict | None = None


# Keys added after the first records, at the value that reproduces the behaviour before them.
ID_NEUTRAL_DEFAULTS: dict[str, object] = {
    # single-scale, whole image except ViT-Adapter-L: what every run did before the switches
    "evaluate": {"aug_test": False, "test_mode": "authors"},
}


def hashed_view(config: dict) -> dict:
    """The config as its id sees it: neutral defaults of later keys left out."""
    return {key: value for key, value in config.items()
            if not (key in ID_NEUTRAL_DEFAULTS and value == ID_NEUTRAL_DEFAULTS[key])}


def run_id(config: dict) -> str:
    canonical = json.dumps(hashed_view(config), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]


def plan(spec) -> list[Run]:
    return [Run(id=run_id(entry.config), label=entry.label, group=entry.label, section=entry.section,
                column=entry.column, seed=entry.seed, row_index=entry.row_index, config=entry.config,
                spec_name=spec.path, paper_baseline=entry.paper_baseline, paper_dataset=entry.paper_dataset,
                slurm=entry.slurm)
            for entry in spec.entries]


def estimate_seconds(config: dict) -> float:
    """Rough compute of one run: GPU time at the paper's scale, CPU time for a CPU run."""
    train = config["train"]
    if train.get("device") == "cpu" or config["baseline"] == "segformer_mini":
        height, width = train["crop_size"]
        per_iter = CPU_SECONDS_PER_IMAGE_64 * train["batch_size"] * (height * width) / (64 * 64)
        return CPU_RUN_OVERHEAD_S + per_iter * train["max_iters"]
    per_iter = BASELINES[config["baseline"]].gpu_s_per_iter * train["batch_size"] / 16
    return per_iter * train["max_iters"]


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def in_flight(state: dict) -> bool:
    """Queued or running somewhere that may still finish it.

    A SLURM job is trusted until `status` (sacct) says otherwise; a local worker only while its
    process lives on this host -- after a Ctrl-C or a reboot its 'running' is stale.
    """
    if state.get("state") not in ("queued", "running"):
        return False
    if state.get("executor") == "slurm":
        return True
    if state.get("host") not in (None, socket.gethostname()):
        return True
    return state.get("state") == "running" and _pid_alive(state.get("pid"))


def select_runs(runs: list[Run], store, rerun_failed: bool = False, force: bool = False):
    """(to_run, skipped). Default: every run not done and not in flight (missing, pending, failed,
    stale); ``rerun_failed``: only the failed ones; ``force``: done ones too (their results are
    dropped first, checkpoints kept)."""
    to_run, skipped = [], []
    for run in runs:
        state = store.read_state(run.id) or {"state": "pending"}
        done = state.get("state") == "done" and store.record(run.id) is not None
        if in_flight(state):
            skipped.append(run)
        elif done and not force:
            skipped.append(run)
        elif rerun_failed and state.get("state") != "failed" and not (done and force):
            skipped.append(run)
        else:
            if done:
                store.forget_results(run.id)
            to_run.append(run)
    return to_run, skipped
