"""A checkpoint's parameter names -> a backbone's, and the strict comparison of the two.

Declarative (the catalog's ``mapping:`` block, docs/weights.md): ``unwrap`` picks the state dict out
of a training checkpoint, ``strip_prefix`` removes DDP/segmentor prefixes, ``drop`` removes keys the
backbone has no place for (a classifier), ``rename`` applies regex substitutions, and ``fresh`` names
the backbone parameters the checkpoint lacks on purpose. Everything works on names and shapes only,
so the comparison is testable without torch and a key manifest (name + shape) is as good as a file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ssa_bench.errors import DataError

# BatchNorm's counter of seen batches: not a learned value, older checkpoints lack it, and torch
# fills it in when it is absent, so it is never reported missing.
UNTRACKED_SUFFIXES = ("num_batches_tracked",)
# How many key names an error message shows per kind; the counts are always complete.
SHOWN = 4
MAPPING_KEYS = ("unwrap", "strip_prefix", "drop", "rename", "fresh")


@dataclass(frozen=True)
class KeyMapping:
    unwrap: tuple[str, ...] = ()
    strip_prefix: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    fresh: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None, where: str = "mapping") -> "KeyMapping":
        block = dict(block or {})
        unknown = [k for k in block if k not in MAPPING_KEYS]
        if unknown:
            raise ValueError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(MAPPING_KEYS)})")
        rename = []
        for pair in block.get("rename") or ():
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ValueError(f"{where}.rename: each entry is [regex, replacement], got {pair!r}")
            rename.append((pair[0], pair[1]))
        mapping = cls(unwrap=_strings(block, "unwrap", where), strip_prefix=_strings(block, "strip_prefix", where),
                      drop=_strings(block, "drop", where), rename=tuple(rename), fresh=_strings(block, "fresh", where))
        for pattern in mapping.drop + mapping.fresh + tuple(p for p, _ in mapping.rename):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{where}: bad regex {pattern!r}: {error}") from None
        return mapping

    def to_dict(self) -> dict:
        return {"unwrap": list(self.unwrap), "strip_prefix": list(self.strip_prefix), "drop": list(self.drop),
                "rename": [list(pair) for pair in self.rename], "fresh": list(self.fresh)}

    def state_dict_of(self, checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
        """The state dict inside a loaded checkpoint: the first ``unwrap`` key present, else the file itself."""
        for key in self.unwrap:
            inner = checkpoint.get(key) if isinstance(checkpoint, Mapping) else None
            if isinstance(inner, Mapping):
                return inner
        return checkpoint

    def apply(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """Checkpoint (wrapped or not) -> {backbone name: value}; values are passed through untouched."""
        state = self.state_dict_of(checkpoint)
        drops = [re.compile(p) for p in self.drop]
        renames = [(re.compile(p), r) for p, r in self.rename]
        out: dict[str, Any] = {}
        for key, value in state.items():
            name = str(key)
            for prefix in self.strip_prefix:
                if name.startswith(prefix):
                    name = name[len(prefix):]
            if any(d.search(name) for d in drops):
                continue
            for pattern, replacement in renames:
                name = pattern.sub(replacement, name)
            if name in out:
                raise ValueError(f"two checkpoint keys map onto '{name}' (the second is '{key}'): "
                                 "the mapping's strip_prefix/rename rules collide")
            out[name] = value
        return out

    def is_fresh(self, name: str) -> bool:
        return any(re.search(p, name) for p in self.fresh)


def _strings(block: dict, key: str, where: str) -> tuple[str, ...]:
    values = block.get(key) or ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}.{key}: expected a list of strings, got {values!r}")
    return tuple(values)


def shape_of(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in getattr(value, "shape", ()))


@dataclass
class LoadReport:
    """How a mapped checkpoint fits a backbone: every difference, by kind."""
    missing: list[str] = field(default_factory=list)        # backbone keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)     # checkpoint keys the backbone lacks
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)   # (key, checkpoint, backbone)
    fresh: list[str] = field(default_factory=list)          # declared new, left to the backbone's init
    loaded: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} backbone keys missing from the checkpoint ({_first(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected checkpoint keys ({_first(self.unexpected)})")
        if self.mismatched:
            shown = ", ".join(f"{k}: checkpoint {tuple(a)} vs backbone {tuple(b)}"
                              for k, a, b in self.mismatched[:SHOWN])
            more = f", +{len(self.mismatched) - SHOWN} more" if len(self.mismatched) > SHOWN else ""
            parts.append(f"{len(self.mismatched)} shape mismatches ({shown}{more})")
        return "; ".join(parts)


def _first(names: list[str]) -> str:
    more = f", +{len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def compare(expected: Mapping[str, tuple], found: Mapping[str, tuple], mapping: KeyMapping) -> LoadReport:
    """Backbone {name: shape} against mapped checkpoint {name: shape}."""
    report = LoadReport()
    for name, shape in expected.items():
        if name in found:
            if tuple(found[name]) != tuple(shape):
                report.mismatched.append((name, tuple(found[name]), tuple(shape)))
            else:
                report.loaded += 1
        elif name.endswith(UNTRACKED_SUFFIXES):
            continue
        elif mapping.is_fresh(name):
            report.fresh.append(name)
        else:
            report.missing.append(name)
    report.unexpected = [name for name in found if name not in expected]
    return report


class CheckpointMismatchError(DataError):
    """A checkpoint does not fit its backbone exactly: raised, never logged as a warning."""


def mismatch_error(report: LoadReport, checkpoint: str, target: str) -> CheckpointMismatchError:
    return CheckpointMismatchError(
        f"checkpoint does not fit {target}: {report.problems()}; {report.loaded} tensors matched",
        file=checkpoint, key="train.pretrained",
        fix="this file is not the one the weights catalog describes, or the catalog's key mapping "
            "(ssa_bench/weights/catalog.yaml) does not match the backbone: check the file with "
            "`ssa-bench weights check`, or set train.pretrained: none to train from scratch on purpose")
