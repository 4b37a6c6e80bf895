"""SSABenchValidationCatchUpHook: when a resumed run validates before training on. The real
training case (a lost final validation comes back) is tests/stages/test_train.py; here the
decision on a stand-in runner, alone and on two ranks that see different curves."""
from __future__ import annotations

import json
import os
import types

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from ssa_bench.stages.hooks import SSABenchValidationCatchUpHook


def _runner(work_dir, step: int, *, max_iters: int = 100, val_interval: int = 20, val_begin: int = 1):
    validations = []
    return types.SimpleNamespace(
        iter=step, max_iters=max_iters, work_dir=str(work_dir),
        train_loop=types.SimpleNamespace(val_begin=val_begin, val_interval=val_interval),
        val_loop=types.SimpleNamespace(run=lambda: validations.append(step)),
        validations=validations)


def _log_curve(work_dir, steps) -> None:
    folder = os.path.join(str(work_dir), "20260101_000000", "vis_data")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "scalars.json"), "w", encoding="utf-8") as handle:
        for step in steps:
            handle.write(json.dumps({"mIoU": 10.0, "step": step}) + "\n")


@pytest.mark.parametrize("step, logged, validates", [
    (40, [20], True),           # resumed at a validation point whose validation was lost
    (40, [20, 40], False),      # ... and was not lost
    (30, [20], False),          # not a validation point: the next one comes in training
    (100, [20, 40, 60, 80], True),      # max_iters: the last point
    (0, [], False),             # a fresh start
])
def test_validates_only_a_lost_validation_at_the_resumed_iteration(tmp_path, step, logged, validates):
    _log_curve(tmp_path, logged)
    runner = _runner(tmp_path, step)
    SSABenchValidationCatchUpHook().before_train(runner)
    assert runner.validations == ([step] if validates else [])


def test_max_iters_off_the_interval_and_before_val_begin(tmp_path):
    _log_curve(tmp_path, [20, 40])
    runner = _runner(tmp_path, 50, max_iters=50)
    SSABenchValidationCatchUpHook().before_train(runner)
    assert runner.validations == [50]
    early = _runner(tmp_path, 40, val_begin=60)
    SSABenchValidationCatchUpHook().before_train(early)
    assert early.validations == []
    no_validation = _runner(tmp_path, 60)
    no_validation.val_loop = None
    SSABenchValidationCatchUpHook().before_train(no_validation)       # nothing to run, no error


def _rank(rank: int, store_path: str, work_dirs: list[str], out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        runner = _runner(work_dirs[rank], 40)
        SSABenchValidationCatchUpHook().before_train(runner)
        with open(f"{out}.{rank}", "w", encoding="utf-8") as handle:
            json.dump(runner.validations, handle)
    finally:
        dist.destroy_process_group()


def test_every_rank_follows_rank_0(tmp_path):
    # A work_dir not shared between nodes: rank 1 sees no curve, rank 0 sees the point logged. A
    # rank validating alone would hang the others in the validation's collectives; all follow rank 0.
    rank0, rank1 = tmp_path / "rank0", tmp_path / "rank1"
    _log_curve(rank0, [20, 40])
    _log_curve(rank1, [])
    out = str(tmp_path / "validations")
    mp.start_processes(_rank, args=(str(tmp_path / "store"), [str(rank0), str(rank1)], out), nprocs=2,
                       start_method="fork")
    assert [json.loads(open(f"{out}.{rank}", encoding="utf-8").read()) for rank in (0, 1)] == [[], []]
