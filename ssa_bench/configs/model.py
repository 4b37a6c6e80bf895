"""The model section of a run's mmseg config, built in one place for every stage that builds a model.

Training, evaluation and the dump get it inside the whole composed config (``compose.py``);
measuring (a run's ``measure`` stage and ``ssa-bench measure``) needs only the model
(``ssa_bench.configs.build_model_config``). One function for both keeps what is measured the
model that was trained. In order: the run's recipe's model (``baselines.run_recipe``: the
baseline with the data set's classes and overrides), the run's crop as the preprocessor size,
the test protocol, the pixel classifier (the run's ``ssa:`` or ``classifier:`` block resolved by
``classifier_settings.run_classifier``, the head wrapped by ``classifier_wiring.py``) and the run's raw
``model.*`` overrides (``overrides.py``).

Pure dict work; torch is not imported.
"""
from __future__ import annotations

import copy

from ssa_bench.classifier_settings import run_classifier
from ssa_bench.configs.classifier_wiring import wrap_decode_head
from ssa_bench.configs.overrides import with_model_overrides
from ssa_bench.vocabulary.names import dataset_info
from ssa_bench.vocabulary.protocol import slide_window


def model_section(run_config: dict, recipe) -> tuple[dict, list[str]]:
    """``(model config, custom_imports it needs)`` of a run, from its ``run_recipe``.

    A run config without ``train.crop_size`` (a model named on the command line) is built at its
    data set's paper crop size.
    """
    model = copy.deepcopy(recipe.model)
    crop_size = _crop_size(run_config, model)
    model["data_preprocessor"]["size"] = crop_size
    model["test_cfg"] = _test_cfg({**run_config, "train": {**(run_config.get("train") or {}), "crop_size": crop_size}})
    imports = list(recipe.imports)
    classifier = run_classifier(run_config)
    if classifier:
        kind, settings = classifier
        classifier_import = wrap_decode_head(model, kind, settings)
        if classifier_import not in imports:
            imports.append(classifier_import)
    return with_model_overrides(model, run_config), imports


def _crop_size(run_config: dict, model: dict) -> tuple[int, int]:
    crop_size = (run_config.get("train") or {}).get("crop_size")
    if crop_size:
        return tuple(crop_size)
    if run_config.get("dataset_def"):
        return tuple(model["data_preprocessor"]["size"])       # the recipe's
    return tuple(dataset_info(run_config["dataset"], key="dataset").crop_size)


def _test_cfg(run_config: dict) -> dict:
    """Whole image or sliding window (``evaluate.test_mode``, ``protocol.py``): by default as the
    SSA authors' configs (whole, ViT-Adapter-L slides with the run's crop, stride 2/3)."""
    window = slide_window(run_config)
    if window is None:
        return dict(mode="whole")
    crop, stride = window
    return dict(mode="slide", crop_size=crop, stride=stride)
