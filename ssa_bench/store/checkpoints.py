"""A run's training checkpoints in its work_dir: committed whole, checked cheaply, skipped when torn.

A checkpoint is written under a temp name in the work_dir (by mmengine's ``Runner.save_checkpoint``,
which writes in place), then :func:`commit` fsyncs it, renames it onto ``iter_<n>.pth``, fsyncs the
folder and writes a note beside it (``iter_<n>.pth.json``: size and sha256, itself atomic). A job
killed at any instant leaves the previous checkpoint and, at worst, a temp file nobody reads.

Before a run resumes, :func:`pick_resume` takes the newest checkpoint that passes :func:`problem` --
the zip's central directory readable (torch's format is a zip; a cut file has no directory at its
end) and the note's size and hash matching -- without unpickling anything. Damaged ones are moved
to ``work_dir/damaged/`` (kept for a look) and named to the caller.

``last_checkpoint`` names the file relative to the work_dir, so a moved results folder resumes.
No torch here.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
import zipfile
from dataclasses import dataclass

from ssa_bench.store.atomic import fsync_dir, write_json_atomic, write_text_atomic
from ssa_bench.store.records import load_json
from ssa_bench.store.storage import guard

POINTER = "last_checkpoint"
DAMAGED_DIR = "damaged"
NOTE_SUFFIX = ".json"
_NAME = re.compile(r"^iter_(\d+)\.pth$")
_TEMP = re.compile(r"^\.iter_\d+\.pth\.tmp-")
_CHUNK = 4 * 2 ** 20


@dataclass(frozen=True)
class Skipped:
    """A checkpoint resume did not take: its name, what is wrong, where it was moved."""
    name: str
    problem: str
    moved_to: str | None

    def to_dict(self) -> dict:
        return {"name": self.name, "problem": self.problem, "moved_to": self.moved_to}


def temp_name(filename: str) -> str:
    """The name a checkpoint is written under before :func:`commit` renames it."""
    return f".{filename}.tmp-{os.getpid()}"


def note_path(path: str) -> str:
    return path + NOTE_SUFFIX


def _sha256(path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def commit(temp_path: str, final_path: str) -> None:
    """Make the fully written ``temp_path`` the checkpoint ``final_path``: fsync, rename, fsync the
    folder, then the note. On any error the temp file is removed (a full disk gets its space back);
    a full, read-only or failing file system raises a StorageError naming ``final_path``."""
    with guard(final_path):
        _commit(temp_path, final_path)


def _commit(temp_path: str, final_path: str) -> None:
    try:
        fd = os.open(temp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        size, sha = _sha256(temp_path)
        os.replace(temp_path, final_path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(os.path.dirname(final_path))
    write_json_atomic(note_path(final_path), {"size": size, "sha256": sha})


def point_to(work_dir: str, path: str) -> None:
    """``last_checkpoint`` := ``path`` relative to ``work_dir`` (atomic)."""
    write_text_atomic(os.path.join(work_dir, POINTER), os.path.relpath(path, work_dir))


def remove(path: str) -> None:
    """Delete a checkpoint and its note (an old one past ``max_keep_ckpts``)."""
    for item in (path, note_path(path)):
        try:
            os.unlink(item)
        except FileNotFoundError:
            pass


def problem(path: str) -> str | None:
    """What makes the checkpoint at ``path`` unusable, or None when it is intact. Reads the zip's
    directory and, with a note, hashes the file; without a note (written by an older ssa-bench or a
    kill between rename and note) every member's CRC is checked instead. Never unpickles."""
    try:
        size = os.path.getsize(path)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if size == 0:
        return "is empty"
    note = load_json(note_path(path))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(name.endswith("data.pkl") for name in names):
                return "is a zip without torch's data.pkl"
            if not isinstance(note, dict):
                bad = archive.testzip()
                if bad is not None:
                    return f"member {bad} fails its CRC check"
    except zipfile.BadZipFile as error:
        return f"is not a complete checkpoint (cut short? {error})"
    except (OSError, EOFError) as error:
        return f"cannot be read ({getattr(error, 'strerror', None) or error})"
    if isinstance(note, dict):
        if note.get("size") != size:
            return f"is {size} bytes; its note says {note.get('size')}"
        try:
            if _sha256(path)[1] != note.get("sha256"):
                return "does not match the sha256 in its note"
        except OSError as error:
            return f"cannot be read ({error.strerror or error})"
    return None


def candidates(work_dir: str) -> list[str]:
    """``iter_<n>.pth`` files in ``work_dir``, newest iteration first."""
    try:
        names = os.listdir(work_dir)
    except OSError:
        return []
    found = [(int(match.group(1)), name) for name in names if (match := _NAME.match(name))]
    return [os.path.join(work_dir, name) for _, name in sorted(found, reverse=True)]


def move_aside(path: str) -> str:
    """Move a damaged checkpoint (and its note) into ``work_dir/damaged/``; returns its new path."""
    with guard(path):
        return _move_aside(path)


def _move_aside(path: str) -> str:
    folder = os.path.join(os.path.dirname(path), DAMAGED_DIR)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, os.path.basename(path))
    if os.path.lexists(target):
        target = f"{target}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    os.replace(path, target)
    if os.path.exists(note_path(path)):
        os.replace(note_path(path), note_path(target))
    fsync_dir(os.path.dirname(path))
    return target


def remove_temps(work_dir: str) -> list[str]:
    """Delete temp checkpoints a killed writer left (only the run's single claimed writer calls this)."""
    removed = []
    try:
        names = os.listdir(work_dir)
    except OSError:
        return removed
    for name in names:
        if _TEMP.match(name):
            try:
                os.unlink(os.path.join(work_dir, name))
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


def _log_path(work_dir: str) -> str:
    return os.path.join(work_dir, DAMAGED_DIR, "skipped.json")


def _remember(work_dir: str, item: Skipped) -> None:
    # Kept across attempts: an attempt that skips a checkpoint and then fails still has it named in
    # the record of the attempt that finishes.
    write_json_atomic(_log_path(work_dir), [*skipped_so_far(work_dir), item.to_dict()])


def skipped_so_far(work_dir: str) -> list[dict]:
    """Every checkpoint any attempt of the run skipped as damaged, oldest first."""
    value = load_json(_log_path(work_dir))
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def pick_resume(work_dir: str, *, tidy: bool = True) -> tuple[str | None, list[Skipped]]:
    """(the newest intact checkpoint or None, the damaged ones skipped on the way). With ``tidy``
    (the one writer of the run: rank 0) damaged ones are moved aside, temp files a killed writer
    left are deleted and ``last_checkpoint`` points at the one picked (removed when none is
    intact); the other ranks only look, and reach the same verdict."""
    if tidy:
        remove_temps(work_dir)
    skipped: list[Skipped] = []
    for path in candidates(work_dir):
        what = problem(path)
        if what is None:
            if tidy:
                point_to(work_dir, path)
            return path, skipped
        if not tidy:
            skipped.append(Skipped(os.path.basename(path), what, None))
            continue
        skipped.append(Skipped(os.path.basename(path), what, os.path.relpath(move_aside(path), work_dir)))
        _remember(work_dir, skipped[-1])
    if tidy:
        try:
            os.unlink(os.path.join(work_dir, POINTER))
        except FileNotFoundError:
            pass
    return None, skipped
