"""A run's raw ``cfg`` overrides (``{"model.decode_head.channels": 256, "train_dataloader.x": ...}``):
the ``model.*`` ones belong to the model section (so what is measured is what was trained), the
rest are merged into the whole config last, as mmengine merges them.
"""
from __future__ import annotations

MODEL_KEY = "model"


def is_model_override(key: str) -> bool:
    """Whether a raw ``cfg`` override of the run changes the model (and so what is measured)."""
    return key == MODEL_KEY or key.startswith(MODEL_KEY + ".")


def with_model_overrides(model: dict, run_config: dict) -> dict:
    """The model config with the run's ``model.*`` overrides merged in."""
    overrides = {key: value for key, value in (run_config.get("cfg") or {}).items() if is_model_override(key)}
    if not overrides:
        return model
    from mmengine.config import Config

    merged = Config({MODEL_KEY: model})
    merged.merge_from_dict(overrides)
    return merged[MODEL_KEY].to_dict()


def apply_config_overrides(cfg, run_config: dict):
    """The whole config with the run's other overrides merged in (the model has its own already)."""
    # mmcv's transforms want a tuple for `scale`; YAML (and the stored JSON config) only has lists
    overrides = {key: tuple(value) if key.split(".")[-1] == "scale" and isinstance(value, list) else value
                 for key, value in (run_config.get("cfg") or {}).items() if not is_model_override(key)}
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg
