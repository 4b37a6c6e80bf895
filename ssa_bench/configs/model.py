"""The model part of a run's mmseg config, built in one place for every stage that builds a model.

Training, evaluation and the dump get it inside the whole composed config (``compose.py``);
measuring (a run's ``measure`` stage and ``ssa-bench measure``) needs only the model, so it
calls :func:`build_model_config` directly. One function for both keeps what is measured the
model that was trained: the baseline's recipe with the data set's overrides, the run's crop as
the preprocessor size, the test protocol, the pixel classifier (``ssa:`` or ``classifier:``) and
the run's raw ``model.*`` overrides.

Pure dict work; the recipe loads mmseg's shipped config files, torch is not imported.
"""
from __future__ import annotations

from ssa_bench.vocabulary.names import dataset_info
from ssa_bench.classifier_settings import SettingsError
from ssa_bench.configs.baselines import BaselineRecipe, baseline_recipe
from ssa_bench.configs.classifier_wiring import SSA_IMPORT, apply_classifier, apply_ssa
from ssa_bench.vocabulary.protocol import slide_window
from ssa_bench.errors import UserError

MODEL_KEY = "model"


def num_classes(run_config: dict) -> int:
    definition = run_config.get("dataset_def")
    if definition:
        return len(definition["classes"])
    return dataset_info(run_config["dataset"], key="dataset").num_classes


def recipe_for(run_config: dict) -> BaselineRecipe:
    """The baseline's recipe for this run: its classes and its ``train.pretrained`` checkpoint."""
    pretrained = (run_config.get("train") or {}).get("pretrained")
    return baseline_recipe(run_config["baseline"], num_classes(run_config), pretrained)


def is_model_override(key: str) -> bool:
    """Whether a raw ``cfg`` override of the run changes the model (and so what is measured)."""
    return key == MODEL_KEY or key.startswith(MODEL_KEY + ".")


def build_model_config(run_config: dict, recipe: BaselineRecipe | None = None) -> tuple[dict, list[str]]:
    """``(model config, custom_imports it needs)`` of a run.

    ``recipe`` is the run's :func:`recipe_for` when the caller has it already (the composer also
    takes the optimiser and schedule from it). A run config without ``train.crop_size`` (a model
    named on the command line) is built at its data set's paper crop size.
    """
    recipe = recipe or recipe_for(run_config)
    model = recipe.model_for(run_config["dataset"])
    crop_size = _crop_size(run_config, model)
    model["data_preprocessor"]["size"] = crop_size
    _set_test_mode(model, {**run_config, "train": {**(run_config.get("train") or {}), "crop_size": crop_size}})
    imports = list(recipe.imports)
    classifier_import = _apply_classifier(model, run_config)
    if classifier_import and classifier_import not in imports:
        imports.append(classifier_import)
    return _with_model_overrides(model, run_config), imports


def _crop_size(run_config: dict, model: dict) -> tuple[int, int]:
    crop_size = (run_config.get("train") or {}).get("crop_size")
    if crop_size:
        return tuple(crop_size)
    if run_config.get("dataset_def"):
        return tuple(model["data_preprocessor"]["size"])       # the recipe's
    return tuple(dataset_info(run_config["dataset"], key="dataset").crop_size)


def _set_test_mode(model: dict, run_config: dict) -> None:
    """Whole image or sliding window (``evaluate.test_mode``, ``protocol.py``): by default as the
    SSA authors' configs (whole, ViT-Adapter-L slides with the run's crop, stride 2/3)."""
    window = slide_window(run_config)
    if window is None:
        model["test_cfg"] = dict(mode="whole")
    else:
        crop, stride = window
        model["test_cfg"] = dict(mode="slide", crop_size=crop, stride=stride)


def _apply_classifier(model: dict, run_config: dict) -> str | None:
    """Wrap the decode head in the run's pixel classifier; the module to import, or None for the
    plain classifier. SSA keeps its ``ssa:`` block; every classifier may also come as
    ``classifier: {type: ..., ...}``."""
    block = run_config.get("classifier")
    ssa = run_config.get("ssa") or {}
    if block and ssa.get("enabled"):
        # Two classifiers cannot wrap one head; the spec loader should not let this through, but
        # a hand-written run.json could.
        raise UserError("a run config enables both an 'ssa' block and a 'classifier' block",
                        key="classifier",
                        fix="keep one: 'ssa: {enabled: false}' beside 'classifier:', or drop 'classifier:'")
    if block:
        try:
            return apply_classifier(model, block)
        except SettingsError as error:
            raise UserError(error.message, key=f"classifier.{error.key}", fix=error.fix) from None
    if ssa.get("enabled"):
        apply_ssa(model, ssa)
        return SSA_IMPORT
    return None


def _with_model_overrides(model: dict, run_config: dict) -> dict:
    """The run's raw ``cfg`` overrides of the model (``{"model.decode_head.channels": 256}``),
    merged as mmengine merges them into a whole config."""
    overrides = {key: value for key, value in (run_config.get("cfg") or {}).items() if is_model_override(key)}
    if not overrides:
        return model
    from mmengine.config import Config

    merged = Config({MODEL_KEY: model})
    merged.merge_from_dict(overrides)
    return merged[MODEL_KEY].to_dict()
