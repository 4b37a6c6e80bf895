"""Checkpoints on disk (ssa_bench.store.checkpoints): committed whole, checked without unpickling,
and a torn one skipped for the previous one -- on real torch files cut at real offsets."""
from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from ssa_bench.store import checkpoints


def _save(path, value: float = 0.0) -> str:
    import torch

    # A checkpoint-shaped torch file (a zip): a few tensors and plain Python values.
    torch.save({"state_dict": {"w": torch.full((20_000,), value)}, "meta": {"iter": 1}}, str(path))
    return str(path)


def _commit(work_dir, step: int) -> str:
    final = os.path.join(work_dir, f"iter_{step}.pth")
    temp = os.path.join(work_dir, checkpoints.temp_name(f"iter_{step}.pth"))
    _save(temp, float(step))
    checkpoints.commit(temp, final)
    return final


def test_commit_renames_and_notes_size_and_hash(tmp_path):
    path = _commit(tmp_path, 30)
    assert sorted(os.listdir(tmp_path)) == ["iter_30.pth", "iter_30.pth.json"]     # no temp left
    note = json.loads((tmp_path / "iter_30.pth.json").read_text())
    data = (tmp_path / "iter_30.pth").read_bytes()
    assert note == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert checkpoints.problem(path) is None


@pytest.mark.parametrize("fraction", [0.0, 1e-6, 1 / 3, 0.5, 0.99])
def test_a_checkpoint_cut_anywhere_is_damaged(tmp_path, fraction):
    path = _commit(tmp_path, 60)
    size = os.path.getsize(path)
    os.truncate(path, int(size * fraction))
    assert checkpoints.problem(path) is not None


@pytest.mark.parametrize("cut", [1, 22, 100])
def test_a_checkpoint_cut_near_its_end_is_damaged_with_or_without_its_note(tmp_path, cut):
    # The last bytes are the zip's end-of-central-directory record (22 bytes and more).
    path = _commit(tmp_path, 60)
    os.truncate(path, os.path.getsize(path) - cut)
    assert checkpoints.problem(path) is not None
    os.unlink(checkpoints.note_path(path))
    assert checkpoints.problem(path) is not None


def test_a_flipped_byte_fails_the_note_or_the_crc(tmp_path):
    path = _commit(tmp_path, 60)
    with open(path, "r+b") as handle:
        handle.seek(os.path.getsize(path) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert "sha256" in checkpoints.problem(path)
    os.unlink(checkpoints.note_path(path))             # no note: every member's CRC is checked
    assert "CRC" in checkpoints.problem(path)


def test_a_checkpoint_without_a_note_is_checked_by_its_crcs(tmp_path):
    path = _save(tmp_path / "iter_10.pth")             # written by an older ssa-bench: no note
    assert checkpoints.problem(path) is None


def test_pick_resume_skips_the_torn_newest_for_the_previous_one(tmp_path):
    _commit(tmp_path, 30)
    newest = _commit(tmp_path, 60)
    os.truncate(newest, os.path.getsize(newest) // 3)
    (tmp_path / "last_checkpoint").write_text(newest)          # what a killed writer left
    (tmp_path / checkpoints.temp_name("iter_90.pth")).write_bytes(b"PK half")
    picked, skipped = checkpoints.pick_resume(str(tmp_path))
    assert picked == str(tmp_path / "iter_30.pth")
    assert [item.name for item in skipped] == ["iter_60.pth"]
    assert skipped[0].moved_to == os.path.join("damaged", "iter_60.pth")
    assert (tmp_path / "damaged" / "iter_60.pth").exists() and (tmp_path / "damaged" / "iter_60.pth.json").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "iter_30.pth"     # relative to work_dir
    assert not any(name.startswith(".iter_") for name in os.listdir(tmp_path))
    assert [item["name"] for item in checkpoints.skipped_so_far(str(tmp_path))] == ["iter_60.pth"]
    # Another attempt finds nothing new to skip and the history stays.
    assert checkpoints.pick_resume(str(tmp_path)) == (str(tmp_path / "iter_30.pth"), [])
    assert [item["name"] for item in checkpoints.skipped_so_far(str(tmp_path))] == ["iter_60.pth"]


def test_pick_resume_without_an_intact_checkpoint_starts_over(tmp_path):
    for step in (30, 60):
        path = _commit(tmp_path, step)
        os.truncate(path, 100)
    (tmp_path / "last_checkpoint").write_text("iter_60.pth")
    picked, skipped = checkpoints.pick_resume(str(tmp_path))
    assert picked is None and [item.name for item in skipped] == ["iter_60.pth", "iter_30.pth"]
    assert not (tmp_path / "last_checkpoint").exists()


def test_other_ranks_only_look(tmp_path):
    _commit(tmp_path, 30)
    newest = _commit(tmp_path, 60)
    os.truncate(newest, 1000)
    picked, skipped = checkpoints.pick_resume(str(tmp_path), tidy=False)
    assert picked == str(tmp_path / "iter_30.pth") and skipped[0].moved_to is None
    assert os.path.exists(newest) and not (tmp_path / "damaged").exists()


# -- found by mutation testing (tools/mutation.py store): details no test above pinned ---------
def test_the_skip_log_lives_in_the_work_dirs_damaged_folder_and_names_the_problem(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)                       # nothing may land in the current directory
    _commit(work, 30)
    newest = _commit(work, 60)
    os.truncate(newest, 1000)
    _, skipped = checkpoints.pick_resume(str(work))
    assert skipped[0].name == "iter_60.pth" and skipped[0].problem
    log = json.loads((work / "damaged" / "skipped.json").read_text())
    assert log == [{"name": "iter_60.pth", "problem": skipped[0].problem,
                    "moved_to": os.path.join("damaged", "iter_60.pth")}]
    assert os.listdir(elsewhere) == []


def test_other_ranks_name_the_problem_of_what_they_skip(tmp_path):
    _commit(tmp_path, 30)
    newest = _commit(tmp_path, 60)
    os.truncate(newest, 1000)
    _, skipped = checkpoints.pick_resume(str(tmp_path), tidy=False)
    assert skipped == [checkpoints.Skipped("iter_60.pth", checkpoints.problem(newest), None)]


def test_a_second_damaged_checkpoint_of_the_same_name_is_kept_beside_the_first(tmp_path):
    for _ in range(2):
        path = _commit(tmp_path, 60)
        moved = checkpoints.move_aside(path)
        assert os.path.exists(moved) and os.path.exists(checkpoints.note_path(moved))
    kept = set(os.listdir(tmp_path / "damaged"))
    assert {"iter_60.pth", "iter_60.pth.json"} < kept and len(kept) == 4
    (second,) = [name for name in kept if re.fullmatch(rf"iter_60\.pth\.\d{{8}}T\d{{6}}-{os.getpid()}", name)]
    assert second + ".json" in kept


def test_remove_deletes_a_checkpoint_and_its_note(tmp_path):
    path = _commit(tmp_path, 30)
    checkpoints.remove(path)
    assert os.listdir(tmp_path) == []
    checkpoints.remove(path)                               # already gone: no error
