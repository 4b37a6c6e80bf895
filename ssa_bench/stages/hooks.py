"""The mmengine hooks the stages plug into the Runner (imported through ``custom_imports``).

* ``SSABenchProgressHook`` writes ``progress.json`` (stage, iteration) about once a second, which
  the local executor's live table and ``ssa-bench status`` read.
* ``SSABenchValidationCatchUpHook`` validates, before training continues, a resumed run whose
  validation at the resumed iteration was lost: a job killed after its checkpoint at iteration N
  but before the validation at N resumes at N, and mmengine validates only after an iteration it
  trains, so the curve would miss N for good (at ``max_iters``: its last point).
* ``SSABenchCheckpointHook`` is mmengine's ``CheckpointHook`` writing each checkpoint atomically
  (temp file, fsync, rename, a size/sha256 note; ``stages.runner.save_checkpoint_atomic``), naming
  it in ``last_checkpoint`` relative to the work_dir, and deleting a checkpoint past
  ``max_keep_ckpts`` only once the new one is safe.

The IoU metric the evaluators use is in ``stages/iou_metric.py``.
"""
from __future__ import annotations

import time

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmseg.registry import HOOKS

from ssa_bench.stages.runner import read_curve, save_checkpoint_atomic
from ssa_bench.store import checkpoints, write_json_atomic


@HOOKS.register_module(force=True)
class SSABenchProgressHook(Hook):
    def __init__(self, path: str, every_s: float = 1.0) -> None:
        self.path, self.every_s, self._last = path, every_s, 0.0
        # The latest training loss and validation mIoU, for the progress lines of a `run` whose
        # stderr is a log file (ssa_bench.executors.progress_lines).
        self._latest: dict = {}

    def _write(self, runner, stage: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        if runner.rank != 0:
            return
        write_json_atomic(self.path, {"stage": stage, "iter": runner.iter, "max_iters": runner.max_iters,
                                      **self._latest, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def before_train(self, runner) -> None:
        self._write(runner, "train", force=True)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get("loss") if isinstance(outputs, dict) else None
        if loss is not None:
            try:
                value = loss.detach() if hasattr(loss, "detach") else loss    # no autograd warning
                self._latest["loss"] = round(float(value), 6)
            except (TypeError, ValueError):
                pass
        self._write(runner, "train")

    def after_val_epoch(self, runner, metrics=None) -> None:
        miou = (metrics or {}).get("mIoU")
        if miou is not None:
            self._latest.update({"mIoU": float(miou), "val_iter": runner.iter})
            self._write(runner, "train", force=True)

    def before_val(self, runner) -> None:
        self._write(runner, "validate", force=True)

    def after_train(self, runner) -> None:
        self._write(runner, "train", force=True)


@HOOKS.register_module(force=True)
class SSABenchValidationCatchUpHook(Hook):
    def before_train(self, runner) -> None:
        loop, step = runner.train_loop, runner.iter
        if runner.val_loop is None or step <= 0 or step < loop.val_begin:
            return
        if step % loop.val_interval and step != runner.max_iters:
            return
        # Rank 0 decides: the validation is collective, and only rank 0 logs the curve.
        lost = [not any(point["iter"] == step for point in read_curve(runner.work_dir))]
        broadcast_object_list(lost, src=0)
        if lost[0]:
            runner.val_loop.run()


@HOOKS.register_module(force=True)
class SSABenchCheckpointHook(CheckpointHook):
    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # The bookkeeping is mmengine's (the kept ids travel in the checkpoint's message hub, so
        # they are updated before saving); the file past max_keep_ckpts is deleted only after the
        # new checkpoint is committed, so a kill or a full disk mid-save never leaves fewer.
        dropped = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info("last_ckpt", filename)
        path = save_checkpoint_atomic(runner, self.out_dir, filename, save_optimizer=self.save_optimizer,
                                      save_param_scheduler=self.save_param_scheduler, meta=meta,
                                      by_epoch=self.by_epoch, **self.args)
        if not is_main_process():
            return
        checkpoints.point_to(runner.work_dir, path)
        if dropped is not None and dropped != step:
            checkpoints.remove(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(dropped)))
