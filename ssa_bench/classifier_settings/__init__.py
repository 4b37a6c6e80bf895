"""The pixel classifiers a run can choose, as plain data (no torch), so specs validate fast.

A spec chooses one with ``classifier: {type: ssa|cac|protoseg|dnc|gmmseg, <settings>...}``
(``ssa:`` stays valid for SSA). Each type has a module here with a frozen settings dataclass,
every hyper-parameter a field with its authors' default, and ``resolve(block)`` that validates a
block into it (unknown key, wrong type, out of range -> :class:`SettingsError` naming the key).
The torch implementations live in ``ssa_bench.models.classifiers`` (and ``models.ssa``).
"""
from __future__ import annotations

import importlib
from typing import Any

from ssa_bench.classifier_settings.fields import SettingsError

# type -> the module holding its settings dataclass and ``resolve``.
CLASSIFIER_TYPES: dict[str, str] = {
    "ssa": "ssa_bench.classifier_settings.ssa",
    "cac": "ssa_bench.classifier_settings.cac",
    "protoseg": "ssa_bench.classifier_settings.protoseg",
    "gmmseg": "ssa_bench.classifier_settings.gmmseg",
    "dnc": "ssa_bench.classifier_settings.dnc",
}


def settings_module(kind: str):
    if kind not in CLASSIFIER_TYPES:
        raise SettingsError("type", f"unknown classifier type '{kind}'",
                            f"use one of: {', '.join(CLASSIFIER_TYPES)}")
    return importlib.import_module(CLASSIFIER_TYPES[kind])


def resolve_classifier(block: dict[str, Any]) -> tuple[str, Any]:
    """``(type, settings)`` of a ``classifier:`` block; raises :class:`SettingsError`."""
    if not isinstance(block, dict):
        raise SettingsError("type", f"expected a mapping, got {type(block).__name__}",
                            "write classifier: {type: ssa, ...}")
    block = dict(block)
    kind = block.pop("type", None)
    if kind is None:
        raise SettingsError("type", "a classifier needs a 'type'",
                            f"use one of: {', '.join(CLASSIFIER_TYPES)}")
    return kind, settings_module(kind).resolve(block)


__all__ = ["CLASSIFIER_TYPES", "SettingsError", "resolve_classifier", "settings_module"]
