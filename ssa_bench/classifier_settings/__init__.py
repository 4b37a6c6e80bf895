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
from ssa_bench.errors import UserError

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


def run_classifier(config: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The pixel classifier a run config chooses, resolved: ``(type, settings as a dict)`` of its
    ``classifier:`` block or of its enabled ``ssa:`` block; None for the plain classifier.

    A bad setting of a ``classifier:`` block is a :class:`UserError` at ``classifier.<key>``."""
    from ssa_bench.classifier_settings.ssa import resolve_settings

    block = config.get("classifier")
    ssa = config.get("ssa") or {}
    if block and ssa.get("enabled"):
        # Two classifiers cannot wrap one head; the spec loader should not let this through, but
        # a hand-written run.json could.
        raise UserError("a run config enables both an 'ssa' block and a 'classifier' block",
                        key="classifier",
                        fix="keep one: 'ssa: {enabled: false}' beside 'classifier:', or drop 'classifier:'")
    if block:
        try:
            kind, settings = resolve_classifier(block)
            if kind == "ssa":
                return kind, resolve_settings({**settings.to_dict(), "enabled": True}).to_dict()
            return kind, settings.to_dict()
        except SettingsError as error:
            raise UserError(error.message, key=f"classifier.{error.key}", fix=error.fix) from None
    if ssa.get("enabled"):
        return "ssa", resolve_settings(ssa).to_dict()
    return None


__all__ = ["CLASSIFIER_TYPES", "SettingsError", "resolve_classifier", "run_classifier", "settings_module"]
