"""Every classifier's settings dataclass, checked by the one engine (``ssa_bench.validation.rules``).

A classifier's settings are a frozen dataclass whose field types are ``bool``, ``int``, ``float``
or a ``Literal`` of strings; :func:`as_field` turns each into the engine's Field (with its range
rule), and :func:`resolve_fields` turns a spec block into an instance, naming the offending key in
:class:`SettingsError` so the spec loader can point at ``rows[2].classifier.x``.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

from ssa_bench.validation import rules
from ssa_bench.validation.rules import Field, Invalid

# A bad classifier setting: ``key`` (within the block), what is wrong, and the fix -- the one
# engine's error, which the spec loader turns into a SpecError at rows[2].classifier.<key>.
SettingsError = Invalid


def field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _field_default(cls, name: str) -> Any:
    return next(f.default for f in fields(cls) if f.name == name)


def as_field(hint: Any, rule: Any = None) -> Field:
    """The engine's Field of a settings dataclass field: its type hint (``bool``, ``int``, ``float``
    or a ``Literal`` of strings) and its range rule (">=0", ">0", or a closed interval ``(low, high)``)."""
    if get_origin(hint) is Literal:
        return Field(str, choices=get_args(hint))
    bounds: dict[str, Any] = {}
    if rule == ">=0":
        bounds = {"at_least": 0, "what": "0 or more (0 switches it off)"}
    elif rule == ">0":
        bounds = {"at_least": 1} if hint is int else {"above": 0, "what": "a positive value"}
    elif isinstance(rule, tuple):
        bounds = {"at_least": rule[0], "at_most": rule[1]}
    return Field(hint, finite=hint is float, **bounds)


def resolve_fields(cls, block: dict[str, Any] | None, presets: dict[str, dict] | None = None,
                   ranges: dict[str, Any] | None = None, preset_key: str = "variant"):
    """``cls(**values)`` from a spec block: preset (when ``presets`` and the block's
    ``preset_key`` select one; else the dataclass's default of ``preset_key``) overlaid by the
    explicit keys, each checked for name, type and range. Floats are stored as floats so that 10
    and 10.0 give one run id."""
    block = dict(block or {})
    names = field_names(cls)
    hints = {name: hint for name, hint in get_type_hints(cls).items() if name in names}
    for key, value in block.items():
        if key not in hints:
            raise SettingsError(key, f"unknown {getattr(cls, 'LABEL', cls.__name__)} setting '{key}'",
                                f"{rules.closest(str(key), names)}use one of: {', '.join(sorted(names))}")
        rules.check_field(value, as_field(hints[key], (ranges or {}).get(key)), key)
    values = dict(block)
    if presets is not None:
        # The preset's name goes into the values too, so the settings always say which preset
        # their values came from (and a run id hashes it).
        chosen = block.get(preset_key, _field_default(cls, preset_key))
        values = {**presets[chosen], preset_key: chosen, **block}
    for key, value in values.items():
        if hints[key] is float:
            values[key] = float(value)
    return cls(**values)
