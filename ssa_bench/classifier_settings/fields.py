"""Type and range checks shared by every classifier's settings dataclass (no torch).

A classifier's settings are a frozen dataclass whose field types are ``bool``, ``int``, ``float``
or a ``Literal`` of strings; :func:`resolve_fields` turns a spec block into an instance, naming
the offending key in :class:`SettingsError` so the spec loader can point at ``rows[2].classifier.x``.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import fields
from typing import Any, Literal, get_args, get_origin, get_type_hints


class SettingsError(ValueError):
    """A bad classifier setting: ``key`` (within the block), what is wrong, and the fix."""

    def __init__(self, key: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.key, self.message, self.fix = key, message, fix


def field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _field_default(cls, name: str) -> Any:
    return next(f.default for f in fields(cls) if f.name == name)


def check_type(key: str, value: Any, hint: Any) -> None:
    if get_origin(hint) is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise SettingsError(key, f"'{value}' is not allowed",
                                f"use one of: {', '.join(map(str, allowed))}")
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise SettingsError(key, f"must be a finite number, got {value}", "give a finite value")
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise SettingsError(key, f"expected {getattr(hint, '__name__', hint)}, got "
                                 f"{type(value).__name__} {value!r}", "fix the value's type")


def check_range(key: str, value: Any, rule: Any) -> None:
    """``rule``: ">=0", ">0", or a closed interval ``(low, high)``."""
    if rule == ">=0" and value < 0:
        raise SettingsError(key, f"must be >= 0, got {value}", "use 0 to switch it off")
    if rule == ">0" and value <= 0:
        raise SettingsError(key, f"must be > 0, got {value}", "use a positive value")
    if isinstance(rule, tuple) and not rule[0] <= value <= rule[1]:
        raise SettingsError(key, f"must be in [{rule[0]}, {rule[1]}], got {value}",
                            f"use a value between {rule[0]} and {rule[1]}")


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
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise SettingsError(key, f"unknown {getattr(cls, 'LABEL', cls.__name__)} setting '{key}'",
                                f"{hint}use one of: {', '.join(sorted(names))}")
        check_type(key, value, hints[key])
    values = dict(block)
    if presets is not None:
        # The preset's name goes into the values too, so the settings always say which preset
        # their values came from (and a run id hashes it).
        chosen = block.get(preset_key, _field_default(cls, preset_key))
        values = {**presets[chosen], preset_key: chosen, **block}
    for key, value in values.items():
        if hints[key] is float:
            values[key] = float(value)
        if ranges and key in ranges:
            check_range(key, values[key], ranges[key])
    return cls(**values)
