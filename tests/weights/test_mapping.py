"""The catalog's key mapping and the strict comparison, on names and shapes only (no torch)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ssa_bench.weights.mapping import CheckpointMismatchError, KeyMapping, compare, mismatch_error


@dataclass
class Shaped:
    shape: tuple


def test_unwrap_takes_the_first_wrapper_present():
    mapping = KeyMapping(unwrap=("state_dict_ema", "state_dict"))
    inner = {"a": Shaped((1,))}
    assert mapping.state_dict_of({"state_dict": inner, "meta": {}}) is inner
    assert mapping.state_dict_of({"state_dict_ema": inner, "state_dict": {}}) is inner
    assert mapping.state_dict_of(inner) is inner                       # a bare state dict


def test_strip_drop_rename_in_that_order():
    mapping = KeyMapping.from_dict({"strip_prefix": ["module."], "drop": [r"^head\."],
                                    "rename": [[r"^mlp\.fc1\.", "ffn.0."]]})
    out = mapping.apply({"module.mlp.fc1.weight": 1, "module.head.weight": 2, "blocks.0.x": 3})
    assert out == {"ffn.0.weight": 1, "blocks.0.x": 3}


def test_colliding_renames_are_an_error():
    mapping = KeyMapping(strip_prefix=("module.",))
    with pytest.raises(ValueError, match="two checkpoint keys map onto 'a'"):
        mapping.apply({"a": 1, "module.a": 2})


def test_bad_mapping_blocks_are_refused():
    with pytest.raises(ValueError, match="unknown key 'strip'"):
        KeyMapping.from_dict({"strip": ["x."]})
    with pytest.raises(ValueError, match="bad regex"):
        KeyMapping.from_dict({"drop": ["("]})
    with pytest.raises(ValueError, match="list of strings"):
        KeyMapping.from_dict({"drop": "^head"})
    assert KeyMapping.from_dict(KeyMapping(drop=("x",)).to_dict()) == KeyMapping(drop=("x",))


def test_compare_reports_every_kind_with_counts_and_first_names():
    expected = {f"layer.{i}.weight": (4,) for i in range(10)}
    expected.update({"norm0.weight": (4,), "bn.num_batches_tracked": ()})
    found = {f"layer.{i}.weight": (4,) for i in range(1, 9)}           # layer.0 and layer.9 missing
    found["layer.5.weight"] = (5,)                                     # one shape mismatch
    found.update({"head.weight": (10, 4), "head.bias": (10,)})          # unexpected
    report = compare(expected, found, KeyMapping(fresh=(r"^norm0\.",)))
    assert report.missing == ["layer.0.weight", "layer.9.weight"]      # num_batches_tracked and fresh excluded
    assert report.fresh == ["norm0.weight"]
    assert report.unexpected == ["head.weight", "head.bias"]
    assert report.mismatched == [("layer.5.weight", (5,), (4,))]
    assert report.loaded == 7 and not report.ok
    error = mismatch_error(report, "/w/x.pth", "segnext_t (MSCAN)")
    assert isinstance(error, CheckpointMismatchError)
    text = str(error)
    assert "\n" not in text
    for part in ("2 backbone keys missing", "layer.0.weight", "2 unexpected checkpoint keys", "head.bias",
                 "1 shape mismatches", "layer.5.weight: checkpoint (5,) vs backbone (4,)", "/w/x.pth", "7 tensors"):
        assert part in text


def test_long_lists_are_cut_but_counted():
    report = compare({f"k{i}": (1,) for i in range(20)}, {}, KeyMapping())
    text = report.problems()
    assert "20 backbone keys missing" in text and "+16 more" in text and "k3" in text and "k4," not in text
