"""``--set KEY=VALUE``: an override of any spec key or resolved-config key, after the profile.

``KEY`` is a dotted path. Its first part decides where it goes: a top-level spec key
(``seeds``, ``columns``, ``report.caption``) changes the spec before expansion; a row key
(``dataset``, ``baseline``, ``train.max_iters``, ``ssa.variant``, ``cfg.<mmseg key>``) is set on
every run after the profile. VALUE is parsed as YAML by the one reader
(``ssa_bench.validation.yaml_file``), so ``train.lr=6e-5`` is a number and ``seeds=[0,1,2]`` a list.
"""
from __future__ import annotations

from dataclasses import dataclass

from ssa_bench.errors import SpecError
from ssa_bench.validation.yaml_file import parse_yaml_text
from ssa_bench.vocabulary.spec_keys import ROW_KEYS, TOP_KEYS, unicode_note
from ssa_bench.matrix.values import check_value, suggest

_ROW_LEVEL = set(ROW_KEYS) - {"label", "section", "paper_only"}
# Keys that shape the matrix itself: a run key set on "every run" is what --set is for.
_SPEC_STRUCTURE = ("base", "rows", "include", "exclude", "axes", "zip")
_TOP_SETTABLE = [key for key in TOP_KEYS if key not in _SPEC_STRUCTURE]


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
        if not key or not all(part.strip() for part in key.split(".")):
            raise SpecError(f"--set needs a key before '=', got '{text}'", key="--set",
                            fix="write e.g. --set train.max_iters=2000")
        if head in _SPEC_STRUCTURE:
            rest = key.split(".", 1)[1] if "." in key else "KEY"
            raise SpecError(f"--set {key}: the spec's {head} cannot be set from the command line", key=f"--set {key}",
                            fix=f"--set applies to every run: write --set {rest}=..." if head == "base"
                            else "edit the spec file, or --set a run key (e.g. dataset=...) for every run")
        if head not in _ROW_LEVEL and head not in TOP_KEYS:
            raise SpecError(f"unknown key '{key}'{unicode_note(key)}", key=f"--set {key}",
                            fix=f"{suggest(head)}a --set key starts with one of: "
                                f"{', '.join(sorted(_ROW_LEVEL))} (every run) or {', '.join(_TOP_SETTABLE)} (the spec)")
        if head == "cfg" and key == "cfg":
            raise SpecError("--set cfg needs the mmseg key after it", key="--set",
                            fix="write e.g. --set cfg.model.decode_head.channels=256")
        # the one YAML reader: a key written twice in a --set mapping, an alias bomb or 1:30:00 read
        # as a base-60 number are what they are in a spec file
        value = parse_yaml_text(raw, error=SpecError, key=f"--set {key}") if raw.strip() else None
        if head in _ROW_LEVEL:
            check_value(key, value, None, f"--set {key}")
        if head == "ssa" and "." in key:
            _check_ssa_setting(key, value)
        out.append(Override(key, value, text))
    return out


def _check_ssa_setting(key: str, value) -> None:
    """``--set ssa.<name>=v`` on its own, so the error names the --set (not a row)."""
    from ssa_bench.classifier_settings.ssa import SSASettingsError, resolve_settings

    try:
        resolve_settings({key.split(".", 1)[1]: value})
    except SSASettingsError as error:
        raise SpecError(error.message, key=f"--set {key}", fix=error.fix) from None
