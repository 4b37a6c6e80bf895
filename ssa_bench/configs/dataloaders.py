"""The data section of a run's config: train/val/test dataloaders over the data set's pipelines,
the evaluators, and the multi-scale + flip test of ``evaluate.aug_test`` (``multi_scale.py``).

The pipelines are mmseg's own ``_base_/datasets`` files, loaded and adjusted (the run's crop,
the data set's root, the SSA authors' test resize), so a new mmseg release changes what it
changes; the demo and inline data sets take ADE20K's pipelines in ADE20K's layout.
"""
from __future__ import annotations

import copy
import os

from ssa_bench.configs.baselines import mmseg_config_dir
from ssa_bench.configs.multi_scale import test_time_aug_keys
from ssa_bench.runtime import per_device_batch
from ssa_bench.vocabulary import authors_runs
from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.vocabulary.protocol import evaluate_settings

# The paper's data configs, as mmseg ships them.
MMSEG_DATASET_FILES = {
    "ade20k": "_base_/datasets/ade20k.py",
    "coco_stuff10k": "_base_/datasets/coco-stuff10k.py",
    "pascal_context59": "_base_/datasets/pascal_context_59.py",
}
EVALUATOR = dict(type="SSABenchIoUMetric", iou_metrics=["mIoU"])


def data_section(run_config: dict) -> tuple[dict, dict]:
    """``(dataloaders and evaluators, test-time augmentation)`` as config keys; the second is
    empty unless the run sets ``evaluate.aug_test`` (``multi_scale.py``)."""
    shipped = _shipped_dataset_config(run_config)
    train, val = _datasets(run_config, shipped)
    workers = int(run_config["train"]["num_workers"])
    common = dict(num_workers=workers, persistent_workers=workers > 0)
    loaders = dict(
        train_dataloader=dict(batch_size=per_device_batch(run_config["train"]["batch_size"]),
                              sampler=dict(type="InfiniteSampler", shuffle=True), dataset=train, **common),
        val_dataloader=dict(batch_size=1, sampler=dict(type="DefaultSampler", shuffle=False), dataset=val, **common),
        test_dataloader=dict(batch_size=1, sampler=dict(type="DefaultSampler", shuffle=False),
                             dataset=copy.deepcopy(val), **common),
        val_evaluator=copy.deepcopy(EVALUATOR),
        test_evaluator=copy.deepcopy(EVALUATOR),
    )
    test_time_aug = {}
    if evaluate_settings(run_config)["aug_test"]:
        test_time_aug = test_time_aug_keys(shipped, val["pipeline"])
    return loaders, test_time_aug


def demo_scale(name: str) -> tuple[int, int]:
    """The demo and inline data sets: ADE20K's pipelines with the scale (2 size, size) of the
    demo's size x size images, so a demo image keeps its size at test (and 0.5-2x of it in training)."""
    from ssa_bench.data.demo import VARIANTS

    size = VARIANTS[name].size
    return (2 * size, size)


def _shipped_dataset_config(run_config: dict):
    """mmseg's shipped data config of the run's dataset (ADE20K's for the demo and inline data sets)."""
    from mmengine.config import Config

    relpath = MMSEG_DATASET_FILES.get(run_config["dataset"], MMSEG_DATASET_FILES["ade20k"])
    return Config.fromfile(os.path.join(mmseg_config_dir(), relpath))


def _datasets(run_config: dict, shipped) -> tuple[dict, dict]:
    """(train dataset cfg, val dataset cfg) with roots, crops and scales of this run."""
    from ssa_bench.data import dataset_root

    name, definition = run_config["dataset"], run_config.get("dataset_def")
    crop = tuple(run_config["train"]["crop_size"])
    train = copy.deepcopy(shipped.train_dataloader.dataset.to_dict())
    val = copy.deepcopy(shipped.val_dataloader.dataset.to_dict())
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
    train["pipeline"] = _set_pipeline(train["pipeline"], crop, scale, reduce)
    val["pipeline"] = _set_pipeline(val["pipeline"], crop, scale, reduce)
    if not definition and not DATASETS[name].generated:
        val["pipeline"] = _authors_test_resize(val["pipeline"], run_config["baseline"], name)
    root = str(dataset_root(name, definition))
    for dataset in (train, val):
        dataset["data_root"] = root
    return train, val


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


def _authors_test_resize(pipeline: list, baseline: str, dataset: str) -> list:
    """The SSA authors' test resize (``vocabulary/authors_runs.py``): their scale where it is not
    the data set's, and ``ResizeToMultiple(32)`` after the keep-ratio resize where they round up."""
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
