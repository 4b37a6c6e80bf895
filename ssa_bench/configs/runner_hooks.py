"""The hooks section of a run's config: mmengine's default hooks (logging, checkpoints), the
bench's own hooks (``ssa_bench/stages/hooks.py``: progress file, validation catch-up) and the
visualiser with the run's experiment trackers (``tracking.py``).
"""
from __future__ import annotations

import copy

from ssa_bench.configs.tracking import check_log_backends, vis_backends
from ssa_bench.store.paths import run_paths_of_work_dir
from ssa_bench.vocabulary.protocol import checkpoint_choice


def hooks_section(run_config: dict, work_dir: str) -> dict:
    """``default_hooks``, ``custom_hooks``, ``vis_backends`` and ``visualizer`` of a run."""
    train = run_config["train"]
    default_hooks = dict(
        timer=dict(type="IterTimerHook"),
        logger=dict(type="LoggerHook", interval=max(1, min(50, train["max_iters"] // 20)), log_metric_by_epoch=False),
        param_scheduler=dict(type="ParamSchedulerHook"),
        checkpoint=dict(type="SSABenchCheckpointHook", by_epoch=False, interval=train["checkpoint_interval"],
                        max_keep_ckpts=2, save_last=True),
        sampler_seed=dict(type="DistSamplerSeedHook"),
        visualization=dict(type="SegVisualizationHook", draw=False),
    )
    if checkpoint_choice(run_config) == "best":
        # mmengine keeps best_mIoU_iter_N.pth beside the regular checkpoints (mmcv 1.x's
        # EvalHook(save_best='mIoU') in the authors' runs); the evaluate stage tests it
        default_hooks["checkpoint"].update(save_best="mIoU", rule="greater")
    progress = run_paths_of_work_dir(work_dir).progress
    custom_hooks = [dict(type="SSABenchProgressHook", path=progress, priority="VERY_LOW"),
                    dict(type="SSABenchValidationCatchUpHook", priority="LOW")]
    # train.log_backends: LocalVisBackend (the curve the train stage reads) + TensorBoard/W&B/MLflow;
    # a missing tracker package is one line in the run's log, not an ImportError mid-training
    check_log_backends(run_config)
    backends = vis_backends(run_config, work_dir)
    return dict(default_hooks=default_hooks, custom_hooks=custom_hooks, vis_backends=backends,
                visualizer=dict(type="SegLocalVisualizer", vis_backends=copy.deepcopy(backends), name="visualizer"))
