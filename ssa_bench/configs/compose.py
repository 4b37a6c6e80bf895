"""Run config -> a complete mmengine ``Config`` for mmseg: the model (``model.py``, the one
builder measuring shares: baseline recipe, classifier, test protocol), the baseline's optimiser
and schedule (``baselines.py``), the data set's pipelines (mmseg's own ``_base_/datasets`` files,
or the demo and inline data sets in ADE20K layout), hooks, and finally the run's raw ``cfg``
overrides. ``evaluate.aug_test`` adds ``tta_model``/``tta_pipeline``, swapped in by
``use_test_time_aug`` for the evaluate stage.

Nothing is copied from mmseg's configs: the shipped files are loaded and adjusted, so a new mmseg
release changes what it changes. Distributed facts (launcher, world size) come from the
environment the executor sets (``SSA_BENCH_LAUNCHER``, SLURM's task variables), read by
:mod:`ssa_bench.runtime`.
"""
from __future__ import annotations

import copy
import os

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.vocabulary import authors_runs
from ssa_bench.vocabulary.protocol import checkpoint_choice
from ssa_bench.configs.tracking import check_log_backends, vis_backends
from ssa_bench.runtime import launcher, per_device_batch
from ssa_bench.store.paths import run_paths_of_work_dir

# The paper's data configs, as mmseg ships them.
MMSEG_DATASET_FILES = {
    "ade20k": "_base_/datasets/ade20k.py",
    "coco_stuff10k": "_base_/datasets/coco-stuff10k.py",
    "pascal_context59": "_base_/datasets/pascal_context_59.py",
}
HOOKS_IMPORT = "ssa_bench.stages.hooks"
METRIC_IMPORT = "ssa_bench.stages.iou_metric"      # registers SSABenchIoUMetric, the evaluators' type
DATASETS_IMPORT = "ssa_bench.data.mmseg_datasets"


def demo_scale(name: str) -> tuple[int, int]:
    """The demo and inline data sets: ADE20K's pipelines with the scale (2 size, size) of the
    demo's size x size images, so a demo image keeps its size at test (and 0.5-2x of it in training)."""
    from ssa_bench.data.demo import VARIANTS

    size = VARIANTS[name].size
    return (2 * size, size)


def _set_pipeline(pipeline: list, crop_size: tuple, scale: tuple | None, reduce_zero_label: bool | None) -> list:
    out = []
    for step in copy.deepcopy(pipeline):
        kind = step.get("type")
        if kind == "RandomCrop":
            step["crop_size"] = crop_size
        elif kind in ("RandomResize", "Resize") and scale is not None:
            step["scale"] = scale
        elif kind == "LoadAnnotations" and reduce_zero_label is not None:
            step["reduce_zero_label"] = reduce_zero_label
        out.append(step)
    return out


def _dataset_base(run_config: dict):
    """mmseg's shipped data config of the run's dataset (ADE20K's for the demo and inline data sets)."""
    from mmengine.config import Config

    from ssa_bench.configs.baselines import mmseg_config_dir

    relpath = MMSEG_DATASET_FILES.get(run_config["dataset"], MMSEG_DATASET_FILES["ade20k"])
    return Config.fromfile(os.path.join(mmseg_config_dir(), relpath))


def _datasets(run_config: dict) -> tuple[dict, dict]:
    """(train dataset cfg, val dataset cfg) with roots, crops and scales of this run."""
    from ssa_bench.data import dataset_root

    name, definition = run_config["dataset"], run_config.get("dataset_def")
    crop = tuple(run_config["train"]["crop_size"])
    base = _dataset_base(run_config)
    train = copy.deepcopy(base.train_dataloader.dataset.to_dict())
    val = copy.deepcopy(base.val_dataloader.dataset.to_dict())
    root = str(dataset_root(name, definition))
    scale, reduce = None, None
    if definition or DATASETS[name].generated:
        reduce = bool(definition["reduce_zero_label"]) if definition else True
        scale = (tuple(definition["scale"]) if definition.get("scale") else None) if definition else demo_scale(name)
        for dataset in (train, val):
            dataset.pop("reduce_zero_label", None)
            if definition:
                dataset.update(type="BaseSegDataset", img_suffix=definition["img_suffix"],
                               seg_map_suffix=definition["seg_map_suffix"], reduce_zero_label=reduce,
                               metainfo=dict(classes=tuple(definition["classes"])))
            else:
                dataset.update(type="DemoShapesDataset", reduce_zero_label=True)
    for dataset in (train, val):
        dataset["data_root"] = root
    train["pipeline"] = _set_pipeline(train["pipeline"], crop, scale, reduce)
    val["pipeline"] = _set_pipeline(val["pipeline"], crop, scale, reduce)
    if not definition and not DATASETS[name].generated:
        val["pipeline"] = _authors_test_resize(val["pipeline"], run_config["baseline"], name)
    return train, val


def _authors_test_resize(pipeline: list, baseline: str, dataset: str) -> list:
    """The SSA authors' test resize (``configs/authors_runs.py``): their scale where it is not the
    data set's, and ``ResizeToMultiple(32)`` after the keep-ratio resize where they round up."""
    scale = authors_runs.test_scale(baseline, dataset)
    divisor = authors_runs.test_size_divisor(baseline, dataset)
    out = []
    for step in pipeline:
        if step["type"] == "Resize" and scale is not None:
            step = {**step, "scale": tuple(scale)}
        out.append(step)
        if step["type"] == "Resize" and divisor is not None:
            out.append(dict(type="ResizeToMultiple", size_divisor=divisor))
    return out


def _test_time_aug_pipeline(run_config: dict, test_pipeline: list) -> list:
    """Multi-scale + flip test (``evaluate.aug_test``): the ratios and flips of the dataset's shipped
    ``tta_pipeline``, each ratio applied to the test scale of the single-scale pipeline -- what
    ``MultiScaleFlipAug(img_scale, img_ratios, flip=True)`` did in mmseg 0.x, where the ViT-Adapter
    authors ran it (mmseg 1.x's ``tta_pipeline`` scales the raw image by ``scale_factor`` instead,
    which is not the same for images whose size differs from the test scale)."""
    shipped = copy.deepcopy(_dataset_base(run_config).tta_pipeline)
    (tta,) = [step for step in shipped if step["type"] == "TestTimeAug"]
    resizes, flips = tta["transforms"][0], tta["transforms"][1]
    ratios = [float(step["scale_factor"]) for step in resizes]
    steps = {step["type"]: step for step in test_pipeline}
    resize = steps.get("Resize")
    if resize is not None and resize.get("scale"):
        scale = resize["scale"]
        scaled = [dict(type="Resize", scale=(int(scale[0] * r), int(scale[1] * r)),
                       keep_ratio=resize.get("keep_ratio", True)) for r in ratios]
    else:
        scaled = [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in ratios]
    return [copy.deepcopy(steps["LoadImageFromFile"]),
            dict(type="TestTimeAug", transforms=[scaled, flips, [copy.deepcopy(steps["LoadAnnotations"])],
                                                 [copy.deepcopy(steps["PackSegInputs"])]])]


def use_test_time_aug(cfg) -> None:
    """Swap in the multi-scale + flip test of a run with ``evaluate.aug_test`` (a no-op otherwise),
    as mmseg's ``tools/test.py --tta`` does: the test loader gets ``tta_pipeline``, the model is
    wrapped in ``tta_model`` (``SegTTAModel``). Only for the evaluate stage: training and its
    validation stay single-scale."""
    if not cfg.get("tta_model"):
        return
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def _dataloaders(run_config: dict) -> dict:
    train_cfg = run_config["train"]
    train, val = _datasets(run_config)
    workers = int(train_cfg["num_workers"])
    common = dict(num_workers=workers, persistent_workers=workers > 0)
    return dict(
        train_dataloader=dict(batch_size=per_device_batch(train_cfg["batch_size"]),
                              sampler=dict(type="InfiniteSampler", shuffle=True), dataset=train, **common),
        val_dataloader=dict(batch_size=1, sampler=dict(type="DefaultSampler", shuffle=False), dataset=val, **common),
        test_dataloader=dict(batch_size=1, sampler=dict(type="DefaultSampler", shuffle=False),
                             dataset=copy.deepcopy(val), **common),
    )


def _hooks(run_config: dict, work_dir: str) -> tuple[dict, list]:
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
    return default_hooks, custom_hooks


def build_mmseg_config(run_config: dict, work_dir: str):
    from mmengine.config import Config

    from ssa_bench.configs.model import build_model_config, is_model_override, recipe_for
    from ssa_bench.vocabulary.protocol import evaluate_settings

    train = run_config["train"]
    recipe = recipe_for(run_config)
    model, imports = build_model_config(run_config, recipe)
    imports += [DATASETS_IMPORT, HOOKS_IMPORT, METRIC_IMPORT]
    optim_wrapper = recipe.optim_wrapper_for(run_config["dataset"])
    if train.get("lr") is not None:
        optim_wrapper["optimizer"]["lr"] = float(train["lr"])
    default_hooks, custom_hooks = _hooks(run_config, work_dir)
    # train.log_backends: LocalVisBackend (the curve the train stage reads) + TensorBoard/W&B/MLflow;
    # a missing tracker package is one line in the run's log, not an ImportError mid-training
    check_log_backends(run_config)
    backends = vis_backends(run_config, work_dir)
    loaders = _dataloaders(run_config)
    cfg = Config(dict(
        default_scope="mmseg",
        custom_imports=dict(imports=imports, allow_failed_imports=False),
        model=model,
        **loaders,
        val_evaluator=dict(type="SSABenchIoUMetric", iou_metrics=["mIoU"]),
        test_evaluator=dict(type="SSABenchIoUMetric", iou_metrics=["mIoU"]),
        optim_wrapper=optim_wrapper,
        param_scheduler=recipe.param_scheduler_for(train["max_iters"]),
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=train["max_iters"], val_interval=train["val_interval"]),
        val_cfg=dict(type="ValLoop"),
        test_cfg=dict(type="TestLoop"),
        default_hooks=default_hooks,
        custom_hooks=custom_hooks,
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                     dist_cfg=dict(backend="nccl" if train.get("device") != "cpu" else "gloo")),
        vis_backends=backends,
        visualizer=dict(type="SegLocalVisualizer", vis_backends=copy.deepcopy(backends), name="visualizer"),
        log_processor=dict(by_epoch=False),
        log_level="INFO",
        load_from=None,
        resume=True,            # continue from the newest checkpoint in work_dir (requeue, Ctrl-C)
        randomness=dict(seed=int(run_config["seed"])),
        launcher=launcher(),
        work_dir=work_dir,
    ),
        # mmengine runs the config text through yapf each time it logs, dumps or checkpoints it:
        # ~0.35 s a time, over a quarter of a tiny run. Unformatted, the text is the same Python.
        format_python_code=False)
    if evaluate_settings(run_config)["aug_test"]:
        cfg["tta_model"] = dict(type="SegTTAModel")
        cfg["tta_pipeline"] = _test_time_aug_pipeline(run_config, loaders["test_dataloader"]["dataset"]["pipeline"])
    # The model's overrides are in ``model`` already (the builder measuring shares); the rest here.
    # mmcv's transforms want a tuple for `scale`; YAML (and the stored JSON config) only has lists
    overrides = {key: tuple(value) if key.split(".")[-1] == "scale" and isinstance(value, list) else value
                 for key, value in (run_config.get("cfg") or {}).items() if not is_model_override(key)}
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg
