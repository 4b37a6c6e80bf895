"""Stage ``train``: mmengine's IterBasedTrainLoop on the composed config, validating every
``val_interval`` iterations (the curve of Fig. 5) and logging every loss term (their curves go
into the record, so a user sees which term dominates). Resumes from the newest checkpoint in the run's
work_dir, so a killed, preempted or requeued run continues instead of starting over."""
from __future__ import annotations

import os
import sys
import time

from ssa_bench import runtime
from ssa_bench.vocabulary.authors_runs import batch_split_record
from ssa_bench.stages.runner import (checkpoint_iter, device_of, latest_checkpoint, make_runner,
                                     read_curve, read_loss_curves)
from ssa_bench.store import checkpoints
from ssa_bench.store.paths import run_paths_at


def resume_point(work_dir: str, log=None) -> str | None:
    """The newest intact checkpoint in ``work_dir`` (None: train from iteration 0), checked before
    the Runner starts, so a torn checkpoint is skipped instead of failing every attempt; each one
    skipped is moved to ``work_dir/damaged/`` and named in the worker's log."""
    log = log or (lambda message: print(f"ssa-bench: {message}", file=sys.stderr, flush=True))
    if not os.path.isdir(work_dir):
        return None
    path, skipped = checkpoints.pick_resume(work_dir, tidy=runtime.rank() == 0)
    for item in skipped:
        moved = f"moved to {os.path.join(work_dir, item.moved_to)}, " if item.moved_to else ""
        log(f"checkpoint {os.path.join(work_dir, item.name)} {item.problem}: {moved}not resumed from")
    if skipped:
        log(f"resuming from {os.path.basename(path)}" if path else
            "no intact checkpoint left: training starts over from iteration 0")
    return path


def train_stage(run_config: dict, run_dir: str) -> dict:
    work_dir = run_paths_at(run_dir).work_dir
    start = resume_point(work_dir)
    resumed_from = checkpoint_iter(start)
    # The checkpoint is named to mmengine (load_from + resume), so it never reads last_checkpoint
    # itself; without one it must not resume at all.
    runner = make_runner(run_config, run_dir, load_from=start, resume=start is not None)
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
        "checkpoint": _relative(latest_checkpoint(work_dir), run_dir),
        "skipped_checkpoints": checkpoints.skipped_so_far(work_dir),
        "curve": read_curve(work_dir),
        "loss_curves": read_loss_curves(work_dir),
    }


def _relative(path: str | None, run_dir: str) -> str | None:
    # Relative to the run's directory: a moved results folder stays consistent.
    return None if path is None else os.path.relpath(path, run_dir)
