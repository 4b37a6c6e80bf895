"""The verifier on a user's own checkpoint file (train.pretrained: a path): what the format check
says about the wrong things a download saves, where the verdict is remembered when the weights
folder cannot hold it, and the one-line error of a missing file (ssa_bench/weights/verify.py)."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from ssa_bench.weights.catalog import Checkpoint, WeightEntry
from ssa_bench.weights.mapping import KeyMapping
from ssa_bench.weights.verify import (CACHE_NAME, LEGACY_MAGIC, MISSING, NOT_A_CHECKPOINT, UNVERIFIED, Verifier,
                                      cache_files, format_problem, verify_all)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("content, problem", [
    (_zip({"archive/data.pkl": b"\x80\x02}q\x00."}), None),                  # torch.save's zip layout
    (LEGACY_MAGIC + b"rest of the legacy pickle", None),
    (b"", "the file is empty"),
    (b"  <!DOCTYPE html><html>Google Drive can't scan this file</html>",
     "it is a web page or a text document, not the file: the download saved the wrong thing"),
    (b'{"error": "not found"}',
     "it is a web page or a text document, not the file: the download saved the wrong thing"),
    (_zip({"archive/data.pkl": b"no"}), "its data.pkl is not a pickle"),
    (_zip({"archive/data.pkl": b""}), "its data.pkl is not a pickle"),
    (_zip({"weights.npy": b"\x93NUMPY"}), "a zip archive without the data.pkl of torch's format"),
    (b"GIF89a and so on", "it starts with b'GIF89a a', neither torch's zip format nor its legacy pickle"),
], ids=["torch-zip", "torch-legacy", "empty", "html", "json", "pkl-not-pickle", "pkl-empty", "zip-no-pkl",
        "other"])
def test_the_format_check_says_what_the_file_is_instead(tmp_path, content, problem):
    path = tmp_path / "backbone.pth"
    path.write_bytes(content)
    assert format_problem(path) == problem


def test_the_user_cache_is_under_home_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    assert cache_files() == [tmp_path / "weights" / CACHE_NAME,
                             tmp_path / "home" / ".cache" / "ssa-bench" / "verified-checkpoints.json"]


def _own_file(tmp_path):
    path = tmp_path / "mine" / "swin.pth"
    path.parent.mkdir()
    path.write_bytes(LEGACY_MAGIC + b"payload")
    return Checkpoint("path", None, path)


def test_a_verdict_is_remembered_in_a_weights_folder_not_made_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "not" / "yet"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    checkpoint = _own_file(tmp_path)
    assert verify_all([checkpoint])[str(checkpoint.path)].state == UNVERIFIED
    cache = json.loads((tmp_path / "not" / "yet" / CACHE_NAME).read_text())
    assert cache[str(checkpoint.path.resolve())]["format"] == "ok"
    again = Verifier()                       # a later command reads the verdict, not the file
    assert again.verify(checkpoint).state == UNVERIFIED and again.reads == 0


def test_a_weights_folder_that_cannot_be_made_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "a-file" / "weights"))   # never a folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg" / "deep"))
    checkpoint = _own_file(tmp_path)
    verify_all([checkpoint])
    remembered = tmp_path / "xdg" / "deep" / "ssa-bench" / "verified-checkpoints.json"
    assert json.loads(remembered.read_text())[str(checkpoint.path.resolve())]["format"] == "ok"
    again = Verifier()
    assert again.verify(checkpoint).state == UNVERIFIED and again.reads == 0


def test_a_damaged_own_file_and_a_missing_one_are_one_line_each(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "swin.pth"
    path.write_bytes(b"")
    verdict = Verifier().verify(Checkpoint("path", None, path))
    assert verdict.state == NOT_A_CHECKPOINT
    assert str(verdict.error()) == (f"{path}: train.pretrained: swin.pth is not a PyTorch checkpoint (the file is "
                                    "empty) -- point train.pretrained at the right file; train.pretrained: none "
                                    "trains from scratch on purpose")
    path.unlink()
    verdict = Verifier().verify(Checkpoint("path", None, path))
    assert verdict.state == MISSING
    assert str(verdict.error()) == (f"{path}: train.pretrained: checkpoint {path} does not exist -- point "
                                    "train.pretrained at an existing file; train.pretrained: none trains from "
                                    "scratch on purpose")


def test_reads_count_every_file_read_and_a_known_verdict_is_not_written_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first, second = _own_file(tmp_path), Checkpoint("path", None, tmp_path / "other.pth")
    second.path.write_bytes(LEGACY_MAGIC)
    verifier = Verifier()
    verifier.verify(first)
    verifier.verify(second)
    assert verifier.reads == 2
    for name in ("a.pth", "b.pth"):                  # catalog files with a published hash: hashed
        (tmp_path / name).write_bytes(name.encode())
        entry = WeightEntry(name="segnext_t", title="t", file=name, url=None, page="https://example.org",
                            shipped_as=None, sha256=hashlib.sha256(name.encode()).hexdigest(), sha256_prefix=None,
                            mapping=KeyMapping(), licence="test")
        assert verifier.verify(Checkpoint("catalog", entry, tmp_path / name)).state == "ok"
    assert verifier.reads == 4
    verifier.save()
    cache = tmp_path / "weights" / CACHE_NAME
    written = cache.stat().st_ino, cache.stat().st_mtime_ns
    verify_all([first, second])                  # nothing new: the cache file is left as it is
    assert (cache.stat().st_ino, cache.stat().st_mtime_ns) == written


def test_a_from_scratch_run_has_the_verdict_none():
    # `ssa-bench run` looks a from-scratch run's verdict up under "none"
    verdicts = verify_all([Checkpoint("none", None, None)])
    assert list(verdicts) == ["none"] and verdicts["none"].state == "none" and verdicts["none"].good
