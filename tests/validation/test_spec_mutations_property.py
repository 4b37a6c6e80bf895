"""Property: random mutations of a valid spec never give a traceback; an invalid one never exits 0
and never starts a run, whichever door (row, base, axis, --set) the bad value comes through."""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from ssa_bench.cli import main
from ssa_bench.vocabulary import spec_keys as schema
from ssa_bench.vocabulary.spec_keys import NESTED

VALID = {"base": {"baseline": "seaformer_l", "dataset": "ade20k"},
         "rows": [{"label": "Baseline"}, {"label": "SSA", "ssa": {"enabled": True}}]}

# Keys whose bad values are known: dotted key -> the types it accepts.
TYPED = {key: kind for key, kind in schema.ROW_KEYS.items() if key not in ("label", "section", "cfg", "classifier")}
TYPED.update({f"{head}.{sub}": kind for head, table in NESTED.items() for sub, kind in table.items()
              if not (head == "train" and sub == "pretrained") and head != "slurm"})
COUNTS = ["train.max_iters", "train.batch_size", "train.val_interval", "train.checkpoint_interval",
          "measure.threads", "measure.latency_iters"]

ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                      st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _wrong_type(key: str):
    return ANY_VALUE.filter(lambda v: not schema.type_ok(v, TYPED[key]))


def _invalid_value():
    """(dotted key, value) pairs that no schema accepts."""
    wrong_type = st.sampled_from(sorted(TYPED)).flatmap(lambda k: st.tuples(st.just(k), _wrong_type(k)))
    too_small = st.tuples(st.sampled_from(COUNTS), st.integers(-10**6, 0))
    bad_lr = st.tuples(st.just("train.lr"), st.sampled_from([-1.0, 0.0, math.inf, -math.inf, math.nan]))
    bad_seed = st.tuples(st.just("seed"), st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32)))
    bad_weight = st.tuples(st.sampled_from(["ssa.w_g", "ssa.w_rd", "ssa.w_sd", "ssa.w_pd"]),
                           st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(wrong_type, too_small, bad_lr, bad_seed, bad_weight)


def _set(block: dict, dotted: str, value) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        block.setdefault(head, {})
        if not isinstance(block[head], dict):
            block[head] = {}
        block[head][rest] = value
    else:
        block[head] = value


def _run(doc: dict, overrides=()) -> tuple[int, str, Path]:
    work = Path(tempfile.mkdtemp(prefix="ssa-prop-"))
    try:
        spec = work / "spec.yaml"
        spec.write_text(yaml.safe_dump(doc, allow_unicode=True))
        results = work / "results"
        argv = ["run", str(spec), "--results-dir", str(results)]
        for key, value in overrides:
            argv += ["--set", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"]
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        started = results.exists() and any(results.rglob("*"))
        return code, str(spec), started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _refused(code, started, capsys) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert not started


@SETTINGS
@given(pair=_invalid_value(), door=st.sampled_from(["row", "base", "axis", "zip"]))
def test_invalid_value_in_the_spec_is_refused(capsys, pair, door):
    key, value = pair
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    if door == "row":
        _set(doc["rows"][0], key, value)
    elif door == "base":
        _set(doc["base"], key, value)
    else:
        doc["axes" if door == "axis" else "zip"] = {key: [value]}
    code, _, started = _run(doc)
    _refused(code, started, capsys)


@SETTINGS
@given(pair=_invalid_value())
def test_invalid_value_through_set_is_refused(capsys, pair):
    key, value = pair
    if isinstance(value, float) and math.isnan(value):
        value = math.nan
    code, _, started = _run(VALID, overrides=[(key, value)])
    _refused(code, started, capsys)


@SETTINGS
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in schema.ROW_KEYS and k.strip() == k
                                                   and "." not in k and k not in ("<<",)),
       where=st.sampled_from(["row", "base", "train", "measure"]))
def test_unknown_key_is_refused(capsys, key, where):
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    if where in ("row", "base"):
        (doc["rows"][0] if where == "row" else doc["base"])[key] = 1
    else:
        if key in NESTED[where]:
            return
        doc["rows"][0][where] = {key: 1}
    code, _, started = _run(doc)
    _refused(code, started, capsys)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["base", "rows", "axes", "zip", "exclude", "include", "seeds", "report",
                                      "datasets", "columns", "train", "ssa", "label", "seed", "dataset"]),
                     min_size=1, max_size=3),
       value=ANY_VALUE)
def test_arbitrary_mutation_never_tracebacks(capsys, path, value):
    """Validity unknown: any value anywhere ends in exit 0 (plan) or 2, never an exception."""
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    node = doc
    for part in path[:-1]:
        nxt = node.get(part) if isinstance(node, dict) else None
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[path[-1]] = value
    work = Path(tempfile.mkdtemp(prefix="ssa-prop-"))
    try:
        spec = work / "spec.yaml"
        spec.write_text(yaml.safe_dump(doc, allow_unicode=True))
        code = main(["plan", str(spec), "--json", "--results-dir", str(work / "results")])
        assert code in (0, 2)
        assert not (work / "results").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    capsys.readouterr()
