"""One engine for every key a user writes: a table of :class:`Field` rules, checked by one function.

A :class:`Field` says what one key may hold: its YAML types, a range, a list of choices, a
``[height, width]`` size, or a parser for a text format (a SLURM time limit). :func:`check_field`
checks one value against it and :func:`check_block` a mapping against a table of them; both raise
:class:`Invalid` (key path, message, fix) and know nothing about files. Each door -- the spec
loader, ``--set``, the classifier settings, the cluster profiles -- turns :class:`Invalid` into its
own one-line error naming the file with :func:`reported_as`.

Why our own engine and not jsonschema (installed, as a Jupyter dependency) or pydantic (not
installed): the messages are the product. A researcher reads ``rows[3].train.max_iters: max_iters
must be at least 1, got 0 -- give a positive number of iterations``; jsonschema reports ``0 is less
than the minimum of 1`` with a JSON pointer, so every rule would need a second, hand-written message
table beside the schema (two facts again), plus YAML-specific advice (``1e-4`` read as text, a
Cyrillic letter in a key) that no schema language knows. The whole engine is this file.
"""
from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

NoneType = type(None)

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              dict: "a mapping", list: "a list", NoneType: "null"}

# The largest side of a crop, an input or a resize scale: 16k pixels (a 1e6-pixel side is a typo that
# would only surface as an out-of-memory error inside a queued job).
MAX_SIDE = 16384


class Invalid(ValueError):
    """One bad value: where it is (``key``, a path inside what was checked), what is wrong, the fix."""

    def __init__(self, key: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.key, self.message, self.fix = key, message, fix


@dataclass(frozen=True)
class Field:
    """What one key may hold. Checks run in this order: type, parser, size, choices, finiteness, range."""
    kind: type | tuple[type, ...]            # YAML types accepted (a bool is never an integer)
    at_least: float | None = None            # lowest allowed value
    above: float | None = None               # exclusive lower bound ("> 0" for a float)
    at_most: float | None = None             # highest allowed value (beyond it: a typo)
    what: str = ""                           # the fix of an out-of-range value: "give <what>"
    choices: tuple = ()                      # allowed values (of each item, for a list)
    noun: str = ""                           # names a value not in choices: "unknown <noun> 'x'"
    note: str = ""                           # appended to the choices' fix
    unique: bool = False                     # a list's items may not repeat
    size: bool = False                       # a [height, width] pair of positive integers
    finite: bool = False                     # a number that must not be inf or nan
    example: str = ""                        # the fix of a wrong type: "write <type> here, e.g. <example>"
    parse: Callable[[Any], Any] | None = None  # value -> normalised value, or None when not valid
    problem: str = ""                        # what a value the parser refuses is not
    parse_fix: str = ""


def as_field(rule) -> Field:
    """A table entry may be a bare type (or tuple of types) instead of a Field."""
    return rule if isinstance(rule, Field) else Field(rule)


def closest(word: str, options) -> str:
    match = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'? " if match else ""


def unicode_note(key: str) -> str:
    """'' for an ASCII key; else which characters are not ASCII (a Cyrillic 'а' looks like 'a')."""
    odd = [c for c in key if ord(c) > 127]
    if not odd:
        return ""
    names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'UNKNOWN')}" for c in dict.fromkeys(odd))
    return f" (it contains {names}; retype it in plain ASCII)"


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def _kinds(expected) -> tuple:
    expected = expected.kind if isinstance(expected, Field) else expected
    return expected if isinstance(expected, tuple) else (expected,)


def type_ok(value: Any, expected) -> bool:
    """``expected``: a type, a tuple of types or a Field. An integer passes where a number does."""
    kinds = _kinds(expected)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def check_type(value: Any, expected, key: str, example: str = "") -> None:
    if type_ok(value, expected):
        return
    kinds = _kinds(expected)
    names = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in kinds)
    fix = f"write {names} here" + (f", e.g. {example}" if example else "")
    if isinstance(value, str) and float in kinds:
        try:
            number = float(value)
        except ValueError:
            pass
        else:   # YAML 1.1 reads 1e-4 (no dot in the mantissa) as text
            if math.isfinite(number):
                fix = f"YAML reads {value} as text: write it with a dot, e.g. {number:.1e}"
    raise Invalid(key, f"expected {names}, got {type(value).__name__} {value!r}", fix)


def check_keys(mapping: dict, allowed, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise Invalid(join(where, str(key)), f"unknown key '{key}'{unicode_note(str(key))}",
                          f"{closest(str(key), allowed)}allowed here: {', '.join(map(str, allowed))}")


def check_size(value: Any, key: str) -> None:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise Invalid(key, f"expected [height, width] of two positive integers, got {value!r}",
                      "write e.g. [512, 512]")
    if max(value) > MAX_SIDE:
        raise Invalid(key, f"a side of {max(value)} pixels is more than {MAX_SIDE}",
                      "write the size in pixels, e.g. [512, 512]")


def _check_choice(value: Any, field: Field, key: str) -> None:
    if value in field.choices:
        return
    noun = field.noun or key.split(".")[-1]
    allowed = ", ".join(map(str, field.choices))
    note = f" {field.note}" if field.note else ""
    raise Invalid(key, f"unknown {noun} {value!r}", f"{closest(str(value), field.choices)}use one of: {allowed}{note}")


def _range_fix(field: Field) -> str:
    if field.what:
        return f"give {field.what}"
    low = field.at_least if field.at_least is not None else field.above
    if low is not None and field.at_most is not None:
        return f"use a value between {low} and {field.at_most}"
    return "use a smaller value" if low is None else f"use a value of at least {low}"


def _check_range(value: Any, field: Field, key: str) -> None:
    name = key.split(".")[-1]
    if field.finite and isinstance(value, float) and not math.isfinite(value):   # an int always is
        raise Invalid(key, f"{name} must be a finite number, got {value}", _range_fix(field))
    if field.at_least is not None and value < field.at_least:
        raise Invalid(key, f"{name} must be at least {field.at_least}, got {value}", _range_fix(field))
    if field.above is not None and not value > field.above:
        raise Invalid(key, f"{name} must be more than {field.above}, got {value}", _range_fix(field))
    if field.at_most is not None and value > field.at_most:
        raise Invalid(key, f"{name} of {value} is more than {field.at_most:,}", _range_fix(field))


def check_field(value: Any, rule, key: str) -> Any:
    """Raise Invalid (at ``key``) when ``value`` breaks ``rule``; else the value, normalised by the
    rule's parser when it has one."""
    field = as_field(rule)
    check_type(value, field, key, field.example)
    if value is None:
        return None
    if field.parse is not None:
        parsed = field.parse(value)
        if parsed is None:
            raise Invalid(key, f"{field.problem}: {value!r}", field.parse_fix)
        return parsed
    if field.size:
        check_size(value, key)
    elif field.choices:
        if isinstance(value, list):
            for item in value:
                _check_choice(item, field, key)
        else:
            _check_choice(value, field, key)
    if field.unique and isinstance(value, list):
        repeated = sorted({str(item) for item in value if value.count(item) > 1})
        if repeated:
            raise Invalid(key, f"{field.noun or 'value'} '{repeated[0]}' is listed twice", "list each one once")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float in _kinds(field) and isinstance(value, int) and abs(value) > 1e308:
            # a float setting is stored as float(value): an integer past float's range would be
            # an OverflowError traceback there
            raise Invalid(key, f"{key.split('.')[-1]} of {len(str(abs(value)))} digits is beyond any "
                               "floating-point number", _range_fix(field))
        _check_range(value, field, key)
    return value


def check_block(block: Any, table: dict, where: str) -> dict:
    """A mapping checked against a table of fields: a mapping, known keys, each value; returns the
    values as the fields' parsers normalise them."""
    check_type(block, dict, where)
    check_keys(block, table, where)
    return {key: check_field(value, table[key], join(where, str(key))) for key, value in block.items()}


@contextmanager
def reported_as(error: type, file: str | None, where: str = ""):
    """Turn an :class:`Invalid` raised inside into ``error(message, file=, key=, fix=)`` -- the door's
    own one-line error -- with the key path prefixed by ``where``."""
    try:
        yield
    except Invalid as bad:
        raise error(bad.message, file=file, key=join(where, bad.key), fix=bad.fix) from None
