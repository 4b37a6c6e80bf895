"""The multi-scale + flip test of a run with ``evaluate.aug_test``: its pipeline, kept in the
config beside the single-scale one, and the swap the evaluate stage makes
(:func:`use_test_time_aug`). Training and its validation stay single-scale.
"""
from __future__ import annotations

import copy


def test_time_aug_keys(shipped, test_pipeline: list) -> dict:
    """``tta_model`` and ``tta_pipeline`` of a run, from the data set's shipped mmseg config and
    the run's single-scale test pipeline."""
    return dict(tta_model=dict(type="SegTTAModel"), tta_pipeline=_pipeline(shipped, test_pipeline))


def _pipeline(shipped, test_pipeline: list) -> list:
    """Multi-scale + flip test (``evaluate.aug_test``): the ratios and flips of the dataset's shipped
    ``tta_pipeline``, each ratio applied to the test scale of the single-scale pipeline -- what
    ``MultiScaleFlipAug(img_scale, img_ratios, flip=True)`` did in mmseg 0.x, where the ViT-Adapter
    authors ran it (mmseg 1.x's ``tta_pipeline`` scales the raw image by ``scale_factor`` instead,
    which is not the same for images whose size differs from the test scale)."""
    (tta,) = [step for step in copy.deepcopy(shipped.tta_pipeline) if step["type"] == "TestTimeAug"]
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
