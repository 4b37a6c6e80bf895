"""One check for a single value at a dotted key, whatever door it came through.

A value may be written in a row (``rows[2].train.lr``), as an axis or zip value (``axes.seed[1]``),
or on the command line (``--set train.lr=...``). Each door calls :func:`check_value` with the key
path it should be reported at, so a bad value is named where the user wrote it. Types come from
the tables of :mod:`ssa_bench.vocabulary.spec_keys`, ranges and choices too (each key's
:class:`~ssa_bench.validation.rules.Field`); what is here is the row-level rules no table holds
(seed range, label length, ``cfg`` keys). Whole blocks (``train: {...}``) are checked key by key.
"""
from __future__ import annotations

from typing import Any

from ssa_bench.errors import SpecError
from ssa_bench.vocabulary import spec_keys as schema

MAX_SEED = 2**32 - 1           # numpy's and torch's seed range
MAX_LABEL = 200                # characters of a row label or section name (table cells)


def _fail(message: str, file: str | None, where: str, fix: str) -> SpecError:
    return SpecError(message, file=file, key=where, fix=fix)


def _type_error(value: Any, expected, file, where) -> None:
    schema.check_type(value, expected, file, where)


def check_value(key: str, value: Any, file: str | None, where: str) -> None:
    """Raise SpecError (reported at ``where``) when ``value`` is not valid at dotted ``key``."""
    parts = key.split(".")
    head = parts[0]
    if head == "cfg":
        _check_cfg(parts, value, file, where)
        return
    if head not in schema.ROW_KEYS:
        allowed = list(schema.ROW_KEYS)
        raise _fail(f"unknown key '{head}'{schema.unicode_note(head)}", file, where,
                    f"{suggest(head)}allowed: {', '.join(allowed)}")
    if head in schema.NESTED:
        table = schema.NESTED[head]
        if len(parts) == 1:
            _type_error(value, dict, file, where)
            for sub, item in value.items():
                check_value(f"{head}.{sub}", item, file, f"{where}.{sub}")
            return
        sub = parts[1]
        if len(parts) > 2 or sub not in table:
            raise _fail(f"unknown key '{key}'{schema.unicode_note(sub)}", file, where,
                        f"{suggest(sub, head)}{head} keys: {', '.join(table)}")
        schema.check_field(value, table[sub], file, where)
        return
    if head in ("ssa", "classifier") and len(parts) > 1:
        return          # a settings key: resolved (and checked) with its block
    _type_error(value, schema.ROW_KEYS[head], file, where)
    if head == "seed" and not 0 <= value <= MAX_SEED:
        raise _fail(f"seed must be in [0, {MAX_SEED}], got {value}", file, where, "give a non-negative seed")
    if head in ("label", "baseline", "dataset") and not value.strip():
        raise _fail(f"empty {head}", file, where, f"write a {head} name")
    if head in ("label", "section") and len(value) > MAX_LABEL:
        raise _fail(f"a {head} of {len(value):,} characters (more than {MAX_LABEL})", file, where,
                    f"a {head} is a table's row name: write a short one, e.g. + SEPA")


def _check_cfg(parts: list[str], value: Any, file, where: str) -> None:
    if len(parts) > 1:
        if not all(part.strip() for part in parts[1:]):
            raise _fail("empty part in an mmseg config key", file, where, "write e.g. cfg.model.decode_head.channels")
        return
    _type_error(value, dict, file, where)
    for name in value:
        if not isinstance(name, str) or not name.strip() or not all(p.strip() for p in name.split(".")):
            raise _fail(f"bad mmseg config key {name!r}", file, f"{where}.{name}",
                        "write a dotted mmseg key, e.g. model.decode_head.channels: 256")


def every_key() -> list[str]:
    """Every dotted row key, for 'did you mean' across levels (max_iters -> train.max_iters)."""
    keys = [k for k in schema.ROW_KEYS]
    keys += [f"{head}.{sub}" for head, table in schema.NESTED.items() for sub in table]
    return keys


def suggest(word: str, head: str | None = None) -> str:
    """'did you mean ...? ' for a mistyped key, looking in its block and then in every block."""
    if head is not None:
        hint = schema.closest(word, schema.NESTED.get(head, {}))
        if hint:
            return hint.replace("'", f"'{head}.", 1)
    nested = [k for k in every_key() if "." in k and k.split(".")[1] == word]
    if nested:
        return f"did you mean '{nested[0]}'? "
    by_leaf = {k.split(".")[-1]: k for k in every_key()}
    match = schema.closest(word, by_leaf)
    if match:
        leaf = match.split("'")[1]
        return f"did you mean '{by_leaf[leaf]}'? "
    return ""
