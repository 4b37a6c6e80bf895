"""Save the training state when SLURM warns that a job will end (USR2), then let submitit requeue.

submitit's own USR2 handler calls the task's ``checkpoint()``, requeues the job and exits at once,
from wherever the main thread happens to be. A paper-scale run writes a checkpoint only every
``checkpoint_interval`` iterations (16k at 160k), so a requeue would repeat hours of training.
This module puts a handler in front of submitit's: when a training Runner is running, it registers
a one-shot mmengine hook that, at the end of the current iteration (a consistent state: the
optimizer step is complete), saves ``iter_<n>.pth`` and points ``last_checkpoint`` at it -- what
the train stage's resume reads -- and only then hands the signal to submitit. Outside training
(evaluation, measurement; their stages are cached), or when the iteration does not end within
half of the warning time (a long validation), submitit gets the signal directly.

Imported inside the job only (mmengine is loaded lazily, when a signal arrives).
"""
from __future__ import annotations

import gc
import signal
import sys
from typing import Any, Callable

Handler = Callable[[int, Any], Any]


def install(grace_s: float, log=None) -> None:
    """Wrap the current USR2 handler (submitit's); ``grace_s``: the profile's signal_delay_s."""
    original = signal.getsignal(signal.SIGUSR2)
    if not callable(original):
        return
    log = log or (lambda message: print(f"ssa-bench: {message}", file=sys.stderr, flush=True))
    fired = {"done": False}

    def hand_over(signum: int = signal.SIGUSR2, frame=None) -> None:
        if fired["done"]:
            return
        fired["done"] = True
        signal.alarm(0)
        original(signal.SIGUSR2, frame)          # submitit: checkpoint(), requeue, sys.exit

    def on_usr2(signum: int, frame) -> None:
        runner = _training_runner()
        if runner is None:
            log("USR2 outside training: requeueing now")
            hand_over(signum, frame)
            return
        log(f"USR2 at iteration {runner.iter}: saving a checkpoint at the end of this iteration")
        runner.register_hook(_save_then(hand_over, log), priority="LOWEST")
        # A fallback in case the iteration does not end in time (a long validation in between).
        signal.signal(signal.SIGALRM, lambda s, f: (log("no iteration end in time: requeueing"),
                                                    hand_over(signal.SIGUSR2, f)))
        signal.alarm(max(1, int(grace_s / 2)))

    signal.signal(signal.SIGUSR2, on_usr2)


def _training_runner():
    """The mmengine Runner that is training in this process, if any."""
    runner_module = sys.modules.get("mmengine.runner")
    if runner_module is None:
        return None
    from mmengine.runner import BaseLoop, Runner

    for obj in gc.get_objects():
        if isinstance(obj, Runner):
            loop = getattr(obj, "_train_loop", None)
            if isinstance(loop, BaseLoop) and obj.iter < obj.max_iters:
                return obj
    return None


def _save_then(hand_over: Handler, log):
    from mmengine.hooks import Hook

    from ssa_bench.stages.runner import save_checkpoint_atomic
    from ssa_bench.store import checkpoints

    class SaveOnSignalHook(Hook):
        # after_train_iter runs before the loop counts the iteration: the finished one is iter + 1,
        # the name mmengine's CheckpointHook would give it. Atomic like every checkpoint: SLURM's
        # kill may come before the save ends, and the previous checkpoint must stay the newest.
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            done = runner.iter + 1
            filename = f"iter_{done}.pth"
            path = save_checkpoint_atomic(runner, runner.work_dir, filename, by_epoch=False,
                                          save_optimizer=True, save_param_scheduler=True)
            if runner.rank == 0:
                checkpoints.point_to(runner.work_dir, path)
                log(f"saved {filename}; requeueing")
            hand_over()

    return SaveOnSignalHook()
