"""Where each file of a run lives: the store's layout in one place (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

STAGES = ("train", "evaluate", "measure", "dump")


@dataclass(frozen=True)
class RunPaths:
    """Every path of one run under ``<root>/runs/<id>/``. Nothing is created by asking."""
    run_id: str
    run_dir: str
    work_dir: str          # mmengine's work_dir: checkpoints, logs, scalars
    progress: str          # progress.json: stage and iteration, for status tables
    state: str             # state.json: a hint (queued/running/failed); the record is the truth
    config: str            # run.json: what the run is (id, resolved config, label)
    stages_dir: str
    dump_dir: str
    record: str            # record.json: written last, present = done
    image_counts: str      # stages/evaluate_counts.npz: per-image, per-class pixel counts of the
                           # evaluation (docs/statistics.md); goes and comes with stages/evaluate.json
    bootstrap_draws: str   # stages/evaluate_draws.bin: the run's bootstrap draws for report tables
                           # (statistics.RunDraws), made from the counts by the same stage
    traceback: str
    claim: str             # claim.json: who may train the run (ssa_bench.store.claims)
    worker_log: str

    def stage(self, name: str) -> str:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; expected one of {STAGES}")
        return os.path.join(self.stages_dir, f"{name}.json")


def runs_dir(root: str) -> str:
    return os.path.join(root, "runs")


@functools.lru_cache(maxsize=65536)
def run_paths(root: str, run_id: str) -> RunPaths:
    if not run_id or os.sep in run_id or run_id in (".", "..") or (os.altsep and os.altsep in run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return _layout(os.path.join(runs_dir(root), run_id), run_id)


def _layout(run_dir: str, run_id: str) -> RunPaths:
    # Plain concatenation: os.path.join's checks cost a third of planning 10,000 runs' statuses.
    base = run_dir if run_dir.endswith(os.sep) else run_dir + os.sep
    join = lambda name: base + name  # noqa: E731
    return RunPaths(run_id=run_id, run_dir=run_dir, work_dir=join("work_dir"), progress=join("progress.json"),
                    state=join("state.json"), config=join("run.json"), stages_dir=join("stages"),
                    dump_dir=join("dump"), record=join("record.json"),
                    image_counts=join("stages" + os.sep + "evaluate_counts.npz"),
                    bootstrap_draws=join("stages" + os.sep + "evaluate_draws.bin"), traceback=join("traceback.txt"),
                    claim=join("claim.json"), worker_log=join("worker.log"))


def run_paths_at(run_dir: str) -> RunPaths:
    """The paths of the run whose directory is ``run_dir`` (a stage is handed its run's directory)."""
    run_dir = os.path.abspath(run_dir)
    return _layout(run_dir, os.path.basename(run_dir))


def run_paths_of_work_dir(work_dir: str) -> RunPaths:
    """The paths of the run whose mmengine work_dir is ``work_dir``."""
    return run_paths_at(os.path.dirname(os.path.abspath(work_dir)))
