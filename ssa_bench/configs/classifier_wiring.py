"""Put a pixel classifier into an mmseg model config (pure dict work, no torch): a classifier's
wiring, between its settings (``ssa_bench.classifier_settings``) and its torch code
(``ssa_bench.models.classifiers``, ``ssa_bench.models.ssa``).

A run's classifier (its ``ssa:`` or ``classifier:`` block, resolved by
``classifier_settings.run_classifier``): :func:`wrap_decode_head`, which the model section calls.

SSA:
``apply_ssa(model_cfg, settings)`` wraps the decode head -- the last one of a cascade such as
OCRNet -- in ``SSAHead``, which builds the original head unchanged and takes over its
classifier and loss::

    decode_head=dict(type='SSAHead', head=<the original head config>, ssa=<resolved settings>)

A model dict cannot carry ``custom_imports`` (the segmentor would get an unexpected keyword), so
the caller adds :data:`SSA_IMPORT` to its config's ``custom_imports``; given a whole config
(a dict with a ``model`` key), ``apply_ssa`` wraps ``cfg['model']`` and adds the import itself.
"""
from __future__ import annotations

import copy
from typing import Any

from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.classifier_settings.ssa import resolve_settings

SSA_IMPORT = "ssa_bench.models.ssa"
CLASSIFIERS_IMPORT = "ssa_bench.models.classifiers"
HEAD_TYPE = "SSAHead"
CLASSIFIER_HEAD_TYPE = "ClassifierHead"


def wrap_decode_head(model_cfg: dict, kind: str, settings: dict) -> str:
    """Wrap the (last) decode head of ``model_cfg`` in place in classifier ``kind`` with its
    resolved ``settings`` (``classifier_settings.run_classifier``); returns the module the config
    must import. ``ssa`` is ``SSAHead``; every other type is ``ClassifierHead``."""
    if kind == "ssa":
        _wrap_last_head(model_cfg, HEAD_TYPE, ssa=settings)
        return SSA_IMPORT
    _wrap_last_head(model_cfg, CLASSIFIER_HEAD_TYPE, classifier={"type": kind, **settings})
    return CLASSIFIERS_IMPORT


def apply_ssa(model_cfg: dict, settings: dict) -> None:
    """Wrap the (last) decode head of ``model_cfg`` in place; nothing when SSA is not enabled.

    ``settings`` is resolved again (``resolve_settings``), so a partial block such as
    ``{"enabled": True, "variant": "released"}`` gets its preset's values; a fully resolved dict
    is unchanged by that. Applying twice replaces the settings, it does not wrap twice.
    """
    resolved = resolve_settings(settings).to_dict()
    if not resolved["enabled"]:
        return
    if "decode_head" not in model_cfg and isinstance(model_cfg.get("model"), dict):
        apply_ssa(model_cfg["model"], resolved)
        _add_import(model_cfg)
        return
    if "decode_head" not in model_cfg:
        raise ValueError("apply_ssa needs an mmseg model config with a 'decode_head' (or a whole "
                         "config with a 'model'); got keys " + ", ".join(sorted(model_cfg)))
    _wrap_last_head(model_cfg, HEAD_TYPE, ssa=resolved)


def apply_classifier(model_cfg: dict, block: dict) -> str:
    """Wrap the (last) decode head of ``model_cfg`` in place in the classifier of a
    ``classifier: {type: ..., ...}`` block; returns the module the config must import.
    ``type: ssa`` is :func:`apply_ssa` (``SSAHead``); every other type is ``ClassifierHead``."""
    kind, settings = resolve_classifier(block)
    if kind == "ssa":
        apply_ssa(model_cfg, {**settings.to_dict(), "enabled": True})
        return SSA_IMPORT
    return wrap_decode_head(model_cfg, kind, settings.to_dict())


def _wrap_last_head(model_cfg: dict, wrapper: str, **settings) -> None:
    if "decode_head" not in model_cfg:
        raise ValueError("a classifier needs an mmseg model config with a 'decode_head'; got "
                         "keys " + ", ".join(sorted(model_cfg)))
    heads = model_cfg["decode_head"]
    last = heads[-1] if isinstance(heads, list) else heads
    if last.get("type") in (HEAD_TYPE, CLASSIFIER_HEAD_TYPE):
        # Applying again replaces the classifier, it does not wrap twice.
        last = last["head"]
    wrapped = dict(type=wrapper, head=copy.deepcopy(dict(last)), **settings)
    if isinstance(heads, list):
        heads[-1] = wrapped
    else:
        model_cfg["decode_head"] = wrapped


def _add_import(cfg: dict[str, Any]) -> None:
    custom = cfg.setdefault("custom_imports", dict(imports=[], allow_failed_imports=False))
    imports = custom.setdefault("imports", [])
    if isinstance(imports, str):
        imports = custom["imports"] = [imports]
    if SSA_IMPORT not in imports:
        imports.append(SSA_IMPORT)
