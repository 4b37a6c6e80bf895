"""mmengine pieces the stages plug into the Runner (imported through ``custom_imports``).

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
* ``SSABenchIoUMetric`` is mmseg's ``IoUMetric`` that also keeps the per-class IoU, which the
  record stores and mmseg only prints, and every image's per-class counts (``image_counts``),
  which the evaluate stage writes for the bootstrap intervals (docs/statistics.md).
"""
from __future__ import annotations

import os
import time

import numpy as np
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import HOOKS, METRICS

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


@METRICS.register_module(force=True)
class SSABenchIoUMetric(IoUMetric):
    per_class_iou: dict | None = None
    # After compute_metrics (on the rank that computes): {"names", "intersection", "union",
    # "label"} -- int64 (images, classes), in test-set order -- and "totals", mmseg's own sums.
    image_counts: dict | None = None

    def process(self, data_batch: dict, data_samples) -> None:
        # Each image's path travels with its counts, so the order survives mmengine's gathering
        # of results across ranks; compute_metrics takes it off again before mmseg sees them.
        before = len(self.results)
        super().process(data_batch, data_samples)
        if len(self.results) - before == len(data_samples):
            for offset, sample in enumerate(data_samples):
                self.results[before + offset] = (*self.results[before + offset], str(sample.get("img_path", "")))

    def compute_metrics(self, results: list) -> dict:
        paths = [result[4] if len(result) > 4 else "" for result in results]
        results = [tuple(result[:4]) for result in results]
        if results:
            intersect, union, pred, label = (sum(column) for column in zip(*results))
            per_class = self.total_area_to_metrics(intersect, union, pred, label, ["mIoU"],
                                                   self.nan_to_num, self.beta)["IoU"]
            per_class = np.asarray(per_class, dtype=np.float64) * 100
            self.per_class_iou = {str(name): (None if np.isnan(value) else round(float(value), 2))
                                  for name, value in zip(self.dataset_meta["classes"], per_class)}
            # histc counts are float32 tensors, exact per image (< 2^24 pixels); kept as integers.
            per_image = [np.rint(np.stack([np.asarray(area.cpu(), dtype=np.float64) for area in column]))
                         .astype(np.int64) for column in zip(*results)]
            self.image_counts = {
                "names": _relative_names(paths),
                "intersection": per_image[0], "union": per_image[1], "label": per_image[3],
                "totals": {key: np.asarray(total.cpu(), dtype=np.float64) for key, total in
                           zip(("intersection", "union", "pred", "label"), (intersect, union, pred, label))},
            }
        return super().compute_metrics(results)


def _relative_names(paths: list[str]) -> list[str]:
    """The images' paths below their common folder (what pairs two runs' images, wherever the
    data set lives); the position when a path is unknown."""
    if not paths or not all(paths):
        return [str(index) for index in range(len(paths))]
    if len(paths) == 1:
        return [os.path.basename(paths[0])]
    common = os.path.commonpath(paths)
    return [os.path.relpath(path, common) for path in paths]
