"""Turn an mmseg model config into its SSA variant (pure dict work, no torch).

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

from ssa_bench.models.ssa.settings import resolve_settings

SSA_IMPORT = "ssa_bench.models.ssa"
HEAD_TYPE = "SSAHead"


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
    heads = model_cfg["decode_head"]
    last = heads[-1] if isinstance(heads, list) else heads
    if last.get("type") == HEAD_TYPE:
        last["ssa"] = resolved
        return
    wrapped = dict(type=HEAD_TYPE, head=copy.deepcopy(dict(last)), ssa=resolved)
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
