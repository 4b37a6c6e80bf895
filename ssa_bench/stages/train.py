"""Stage ``train``: mmengine's IterBasedTrainLoop on the composed config, validating every
``val_interval`` iterations (the curve of Fig. 5) and logging every loss term (their curves go
into the record, so a user sees which term dominates). Resumes from the newest checkpoint in the run's
work_dir, so a killed, preempted or requeued run continues instead of starting over."""
from __future__ import annotations

import time

from ssa_bench.configs.authors_runs import batch_split_record
from ssa_bench.stages.runner import (checkpoint_iter, device_of, latest_checkpoint, make_runner,
                                     read_curve, read_loss_curves)
from ssa_bench.store.paths import run_paths_at


def train_stage(run_config: dict, run_dir: str) -> dict:
    work_dir = run_paths_at(run_dir).work_dir
    resumed_from = checkpoint_iter(latest_checkpoint(work_dir))
    runner = make_runner(run_config, run_dir)
    started = time.time()
    runner.train()
    wall = time.time() - started
    return {
        "wall_time_s": round(wall, 2),
        "iters": int(runner.iter),
        "device": device_of(runner.model),
        "world_size": int(runner.world_size),
        # images per GPU here and in the authors' run; a note where BN statistics depend on it
        "batch_split": batch_split_record(run_config, int(runner.world_size)),
        "resumed_from_iter": resumed_from,
        "checkpoint": latest_checkpoint(work_dir),
        "curve": read_curve(work_dir),
        "loss_curves": read_loss_curves(work_dir),
    }
