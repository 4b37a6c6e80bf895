"""The one validated reader of store files.

Each ``read_*`` returns the parsed, checked object, ``None`` when the file does not exist, or a
:class:`Damaged` value naming the path, what is wrong and what to do -- never an exception: a
damaged file from outside (a full disk, a hand edit, a copy cut short) must be shown by `status`
and handled by `run`, not crash them. Files written by this package are atomic, so damage is never
a write of ours seen half-way.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from ssa_bench.store import claims
from ssa_bench.store.paths import STAGES

STATES = ("pending", "queued", "running", "done", "failed")
_MAX_BYTES = 64 * 1024 * 1024
_DELETE = "delete it (or move it aside) and rerun: `ssa-bench run` trains the run again"


@dataclass(frozen=True)
class Damaged:
    """A store file that exists but cannot be used. Falsy, so ``read_state(i) or {}`` treats a
    damaged hint as absent; code that must tell damage from absence checks ``isinstance``."""
    path: str
    what: str
    fix: str = _DELETE

    def __bool__(self) -> bool:
        return False

    def message(self) -> str:
        return f"{self.path}: {self.what}; {self.fix}"


def _kind(value) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def load_json(path: str, fix: str = _DELETE):
    """The JSON value at ``path``; None if absent; Damaged if it is not readable JSON."""
    try:
        with open(path, "rb") as handle:
            # Size first: read(n) would allocate n bytes up front, on every one of 10,000 reads.
            if os.fstat(handle.fileno()).st_size > _MAX_BYTES:
                return Damaged(path, f"is larger than {_MAX_BYTES // 2 ** 20} MB, not a file this store wrote", fix)
            raw = handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return Damaged(path, "is a directory where a file should be", fix)
    except NotADirectoryError:
        return Damaged(os.path.dirname(path), "is a file where the run's directory should be", fix)
    except PermissionError:
        return Damaged(path, "is not readable (permission denied)", "fix its permissions (chmod u+r)")
    except OSError as error:
        return Damaged(path, f"cannot be read ({error.strerror or error})", fix)
    if not raw.strip():
        return Damaged(path, "is empty", fix)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Damaged(path, "is binary, not UTF-8 JSON", fix)
    try:
        value = json.loads(text)
    except ValueError as error:
        return Damaged(path, f"is not valid JSON (truncated or edited: {error.msg} at line {error.lineno})", fix)
    # None is kept for "absent"; a file holding null is damage, whatever reads it.
    return Damaged(path, "holds null, not a JSON object", fix) if value is None else value


def _object(path: str, fix: str = _DELETE):
    value = load_json(path, fix)
    if value is None or isinstance(value, Damaged):
        return value
    if not isinstance(value, dict):
        return Damaged(path, f"holds {_kind(value)}, not a JSON object", fix)
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER_TYPES = (int, float)


def _metric_problem(name: str, value) -> str | None:
    """A metric is a number (NaN allowed: a diverged run) or None, or a map of them (per class).
    Flat loops, no recursion: gather reads 10,000 records through this."""
    if value is None or (type(value) in _NUMBER_TYPES):
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None and type(item) not in _NUMBER_TYPES:
                return f"metric {name}.{key} is {_kind(item)} ({str(item)[:40]!r}), not a number"
        return None
    return f"metric {name} is {_kind(value)} ({str(value)[:40]!r}), not a number"


def _reader(name: str, doc: str, problem, fix: str = _DELETE):
    """The reader of one kind of store file: None when it is absent; Damaged(path, what, ``fix``)
    when it is not a JSON object or ``problem(path, value)`` says what is wrong; else the object."""
    def read(path: str):
        value = _object(path, fix)
        if not isinstance(value, dict):
            return value
        what = problem(path, value)
        return Damaged(path, what, fix) if what else value
    read.__name__, read.__qualname__, read.__doc__ = name, name, doc
    return read


def _record_problem(path: str, value: dict) -> str | None:
    metrics = value.get("metrics")
    if "metrics" in value and not isinstance(metrics, dict):
        return f"its 'metrics' is {_kind(metrics)}, not an object"
    for name, metric in (metrics or {}).items():
        problem = _metric_problem(name, metric)
        if problem:
            return problem
    if "params_m" in value and not (value["params_m"] is None or _is_number(value["params_m"])):
        return f"its 'params_m' is {_kind(value['params_m'])}, not a number"
    return None


def _state_problem(path: str, value: dict) -> str | None:
    if "state" not in value:
        return "has no 'state' key"
    if value["state"] not in STATES:
        return f"has an unknown state {value['state']!r} (expected one of {', '.join(STATES)})"
    return None


def _stage_problem(path: str, value: dict) -> str | None:
    if os.path.splitext(os.path.basename(path))[0] not in STAGES:
        return f"is not a stage file (stages are {', '.join(STAGES)})"
    return None


def _progress_problem(path: str, value: dict) -> str | None:
    if not isinstance(value.get("stage"), str):
        return "has no 'stage' string"
    for key in ("iter", "max_iters"):
        item = value.get(key)
        if item is not None and not (_is_number(item) and math.isfinite(item)):
            return f"its '{key}' is {_kind(item)}, not a number"
    return None


def _run_config_problem(path: str, value: dict) -> str | None:
    if not isinstance(value.get("id"), str) or not isinstance(value.get("config"), dict):
        return "lacks an 'id' string or a 'config' object"
    return None


read_record = _reader("read_record", "record.json: a dict whose ``metrics`` (if any) are numbers.",
                      _record_problem)
read_state = _reader("read_state", "state.json: a dict with a known ``state``. Only a hint: the record "
                     "decides 'done'.", _state_problem, "delete it: it is only a hint, rewritten by the next `run`")
read_stage = _reader("read_stage", "stages/<stage>.json: a cached stage result; damage means the stage "
                     "runs again.", _stage_problem, "delete it: the stage runs again on the next `run`")
read_progress = _reader("read_progress", "progress.json: {'stage', 'iter', 'max_iters', 'updated'} for "
                        "live tables.", _progress_problem, "delete it: the worker rewrites it")
read_run_config = _reader("read_run_config", "run.json: {'id', 'config', ...}, written when the run is "
                          "planned.", _run_config_problem, "delete it: the next `run` of the spec writes it again")


def read_claim(path: str):
    """claim.json -> an Owner, None when unclaimed, Damaged when it is not a claim."""
    fix = "delete it if no ssa-bench process or job is working on this run"
    value = _object(path, fix)
    if not isinstance(value, dict):
        return value
    owner = claims.owner_from_dict(value)
    if owner is None:
        return Damaged(path, "is not a well-formed claim (kind, host, pid, job_id, since)", fix)
    return owner
