"""The verifier's verdicts for catalog checkpoints and their memory (ssa_bench/weights/verify.py),
found by mutation testing (tools/mutation.py weights): no weights test verified a catalog file with a
published hash, read a verdict back from the cache, or looked at what a verdict's error names."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ssa_bench.weights.catalog import Checkpoint, WeightEntry
from ssa_bench.weights.mapping import KeyMapping
from ssa_bench.weights.verify import CACHE_NAME, MISMATCH, MISSING, OK, Verifier, verify_all


def _entry(sha256: str) -> WeightEntry:
    return WeightEntry(name="seaformer_l", title="SeaFormer-L", file="seaformer_l.pth", url=None,
                       page="https://example.org", shipped_as=None, sha256=sha256, sha256_prefix=None,
                       mapping=KeyMapping.from_dict(None, "mapping"), licence="not stated")


def test_a_catalog_file_is_hashed_once_and_its_verdict_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "weights" / "seaformer_l.pth"
    path.parent.mkdir()
    path.write_bytes(b"the published bytes")
    digest = hashlib.sha256(b"the published bytes").hexdigest()
    good = Checkpoint("catalog", _entry(digest), path)
    verdicts = verify_all([good, good])
    assert verdicts[str(path)].state == OK and verdicts[str(path)].sha256 == digest
    cache = json.loads((tmp_path / "weights" / CACHE_NAME).read_text())
    assert cache[str(path.resolve())]["sha256"] == digest
    again = Verifier()                                   # a later command: the verdict from the cache
    assert again.verify(good).state == OK and again.reads == 0
    wrong = Checkpoint("catalog", _entry("0" * 64), path)
    verdict = again.verify(wrong)
    assert (verdict.state, again.reads) == (MISMATCH, 0)
    error = verdict.error()
    assert error.file == str(path) and error.key == "train.pretrained"
    assert "ssa-bench weights fetch seaformer_l --force" in error.fix
    path.unlink()
    missing = again.verify(good)
    assert missing.state == MISSING
    error = missing.error()
    assert error.file == str(path) and error.key == "train.pretrained"
    assert error.fix.startswith("run `ssa-bench weights fetch seaformer_l`")
    assert Verifier().verify(Checkpoint("none", None, None)).state == "none"
