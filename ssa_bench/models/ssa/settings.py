"""The switches of the SSA classifier, as plain data (no torch), so specs validate fast.

A spec's ``ssa:`` block is checked against :class:`SSASettings` (unknown key -> error naming it);
the model builder consumes the same object. ``variant`` selects a preset (``paper``, ``released``
or ``cac``); any field set explicitly overrides the preset's value for that field.

Field names here are the public vocabulary of the spec files: renaming one breaks specs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, asdict
from typing import Any, Literal, get_args, get_origin, get_type_hints

Variant = Literal["paper", "released", "cac"]


@dataclass(frozen=True)
class SSASettings:
    enabled: bool = False
    variant: Variant = "paper"
    # Structure (Table 3, 6, 7)
    sepa: bool = True                     # semantic prototype adaptation
    sppa: bool = True                     # spatial prototype adaptation
    pe: Literal["cpvt", "sinusoidal", "learnable"] = "cpvt"
    centre_softmax: Literal["hw", "k"] = "hw"   # softmax axis for the spatial centre P_c
    # Loss weights (Tables 3, 4); 0 switches a term off. The teacher branch is built in training
    # only, and only when one of w_g, w_rd, w_sd, w_pd is non-zero.
    w_g: float = 1.0
    w_rd: float = 1.0
    w_sd: float = 1.0
    w_pd: float = 1.0
    # L_rd design (Tables 5, 8)
    rd_entropy: bool = True               # H
    rd_boundary: bool = True              # B
    rd_category: bool = True              # E
    edge_size: int = 4

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        return {f.name: f.type for f in fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_spec(cls, block: dict[str, Any] | None) -> "SSASettings":
        """Build from a spec's ``ssa:`` block.

        Raises ``SSASettingsError(key, message, fix)`` for an unknown key or a value of the wrong
        type, so the spec loader can name the file and key path.
        """
        block = dict(block or {})
        hints = get_type_hints(cls)
        for key, value in block.items():
            if key not in hints:
                raise SSASettingsError(key, f"unknown SSA setting '{key}'",
                                       f"use one of: {', '.join(sorted(hints))}")
            _check_type(key, value, hints[key])
        return cls(**block)


class SSASettingsError(ValueError):
    def __init__(self, key: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.key, self.message, self.fix = key, message, fix


def _check_type(key: str, value: Any, hint: Any) -> None:
    if get_origin(hint) is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise SSASettingsError(key, f"'{value}' is not allowed",
                                   f"use one of: {', '.join(map(str, allowed))}")
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise SSASettingsError(key, f"expected {getattr(hint, '__name__', hint)}, got "
                               f"{type(value).__name__} {value!r}", "fix the value's type")
