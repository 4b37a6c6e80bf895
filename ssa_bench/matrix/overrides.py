"""``--set KEY=VALUE``: an override of any spec key or resolved-config key, after the profile.

``KEY`` is a dotted path. Its first part decides where it goes: a top-level spec key
(``seeds``, ``columns``, ``report.caption``) changes the spec before expansion; a row key
(``dataset``, ``baseline``, ``train.max_iters``, ``ssa.variant``, ``cfg.<mmseg key>``) is set on
every run after the profile. VALUE is parsed as YAML, so ``train.lr=6e-5`` is a number and
``seeds=[0,1,2]`` a list.
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from ssa_bench.errors import SpecError
from ssa_bench.matrix.schema import ROW_KEYS, TOP_KEYS, closest

_ROW_LEVEL = set(ROW_KEYS) - {"label", "section", "paper_only"}


@dataclass(frozen=True)
class Override:
    key: str
    value: object
    text: str

    @property
    def top_level(self) -> bool:
        return self.key.split(".")[0] in TOP_KEYS and self.key.split(".")[0] not in ("base",)


def parse_overrides(items) -> list[Override]:
    out = []
    for text in items or ():
        if "=" not in text:
            raise SpecError(f"--set needs KEY=VALUE, got '{text}'", key="--set",
                            fix="write e.g. --set train.max_iters=2000")
        key, raw = text.split("=", 1)
        key = key.strip()
        head = key.split(".")[0]
        if head not in _ROW_LEVEL and head not in TOP_KEYS:
            raise SpecError(f"unknown key '{key}'", key="--set",
                            fix=f"{closest(head, list(_ROW_LEVEL) + list(TOP_KEYS))}a --set key starts with one of: "
                                f"{', '.join(sorted(_ROW_LEVEL))} (every run) or {', '.join(TOP_KEYS)} (the spec)")
        if head == "cfg" and key == "cfg":
            raise SpecError("--set cfg needs the mmseg key after it", key="--set",
                            fix="write e.g. --set cfg.model.decode_head.channels=256")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise SpecError(f"--set {key}: value '{raw}' is not valid YAML ({error.problem})", key="--set",
                            fix="quote strings with special characters") from None
        out.append(Override(key, value, text))
    return out
