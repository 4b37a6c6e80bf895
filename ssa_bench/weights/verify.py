"""Is a run's checkpoint file the right one? Hash (where one is published) and file format, checked
once per file version and remembered.

A 54-run table names about ten distinct checkpoints of up to 800 MB each; ``plan``, ``run --dry-run``
and ``run`` all ask. The verdict is remembered by absolute path, size and modification time (a
file replaced by hand gets a new mtime and is read again) in ``.ssa-bench-verified.json`` in the
weights folder, or, when that folder is not writable (a shared read-only copy), in the user's
cache folder. No torch: the format check reads the zip central directory of torch's file format
(or the magic number of its legacy pickle format) and never unpickles anything.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ssa_bench.errors import DataError
from ssa_bench.store.atomic import write_text_atomic
from ssa_bench.weights.catalog import Checkpoint, weights_dir
from ssa_bench.weights.fetch import sha256_of

CACHE_NAME = ".ssa-bench-verified.json"
# torch.save's legacy (non-zip) format starts with a protocol-2 pickle of this magic number
# (torch/serialization.py: MAGIC_NUMBER = 0x1950a86a20f9469cfc6c, pickled as LONG1 of 10 bytes).
LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
ZIP_MAGIC = b"PK\x03\x04"

# Verdict states; the first two mean the run may use the file.
OK, UNVERIFIED, MISSING, MISMATCH, NOT_A_CHECKPOINT = "ok", "unverified", "missing", "mismatch", "not-a-checkpoint"
GOOD = (OK, UNVERIFIED)


@dataclass(frozen=True)
class Verdict:
    checkpoint: Checkpoint
    state: str                       # ok, unverified, missing, mismatch, not-a-checkpoint; "none" = from scratch
    detail: str = ""                 # what is wrong, for the bad states
    sha256: str | None = None

    @property
    def good(self) -> bool:
        return self.state in GOOD or self.state == "none"

    @property
    def label(self) -> str:
        """The plan's cell: the file and what is known about it."""
        checkpoint = self.checkpoint
        if self.state == "none":
            return "none (from scratch)"
        name = checkpoint.entry.file if checkpoint.entry and checkpoint.source == "catalog" else str(checkpoint.path)
        words = {OK: "verified", UNVERIFIED: "present, no published hash", MISSING: "missing",
                 MISMATCH: "HASH MISMATCH", NOT_A_CHECKPOINT: "NOT A CHECKPOINT"}
        return f"{name} ({words[self.state]})"

    def error(self) -> DataError:
        """The one-line error of a bad file: the file, what is wrong, the fix."""
        checkpoint, path = self.checkpoint, self.checkpoint.path
        entry = checkpoint.entry if checkpoint.source == "catalog" else None
        refetch = (f"replace it: `{entry.fetch_command()} --force` (or copy the right file there by hand, "
                   f"from {entry.page})" if entry else "point train.pretrained at the right file")
        if self.state == MISMATCH:
            return DataError(f"{path.name} has sha256 {self.sha256[:16]}... but the catalog expects "
                             f"{entry.expected_hash} (baseline {entry.name}): it is not the published checkpoint",
                             file=str(path), key="train.pretrained",
                             fix=f"{refetch}; train.pretrained: none trains from scratch on purpose")
        if self.state == NOT_A_CHECKPOINT:
            return DataError(f"{path.name} is not a PyTorch checkpoint ({self.detail})", file=str(path),
                             key="train.pretrained",
                             fix=f"{refetch}; train.pretrained: none trains from scratch on purpose")
        return DataError(f"checkpoint {path} does not exist", file=str(path), key="train.pretrained",
                         fix=(f"run `{entry.fetch_command()}`" if entry else "point train.pretrained at an existing "
                              "file") + "; train.pretrained: none trains from scratch on purpose")


def format_problem(path: Path) -> str | None:
    """None when ``path`` has the structure of a file torch.save wrote, else what it is instead.
    Reads the zip central directory (torch >= 1.6) or the legacy header; unpickles nothing."""
    with open(path, "rb") as handle:
        head = handle.read(len(LEGACY_MAGIC))
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
                if not pickles:
                    return "a zip archive without the data.pkl of torch's format"
                with archive.open(pickles[0]) as member:
                    first = member.read(2)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f"a damaged zip archive: {error}; a truncated download?"
        if len(first) < 2 or first[0] != 0x80:
            return "its data.pkl is not a pickle"
        return None
    if head == LEGACY_MAGIC:
        return None
    if not head:
        return "the file is empty"
    if head.lstrip()[:1] in (b"<", b"{"):
        return "it is a web page or a text document, not the file: the download saved the wrong thing"
    return f"it starts with {head[:8]!r}, neither torch's zip format nor its legacy pickle"


# -- the remembered verdicts ---------------------------------------------------------------------

def cache_files() -> list[Path]:
    """Where verdicts are remembered, first writable one wins: beside the weights, else the user's cache."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "ssa-bench"
    return [weights_dir() / CACHE_NAME, user_cache / "verified-checkpoints.json"]


def _read_cache() -> dict:
    merged: dict = {}
    for path in reversed(cache_files()):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            merged.update({k: v for k, v in data.items() if isinstance(v, dict)})
    return merged


def _write_cache(entries: dict) -> None:
    text = json.dumps(entries, indent=1, sort_keys=True)
    for path in cache_files():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
            return
        except OSError:
            continue        # a read-only shared folder: the next place; none at all -> read again next time


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class Verifier:
    """Verdicts for checkpoints, each file read at most once per version (see the module docstring).
    ``reads`` counts the files actually read, for the tests and for saying what took time."""

    def __init__(self) -> None:
        self.cache = _read_cache()
        self.reads = 0
        self._dirty = False

    def verify(self, checkpoint: Checkpoint) -> Verdict:
        if checkpoint.source == "none":
            return Verdict(checkpoint, "none")
        path = checkpoint.path
        if not path.is_file():
            return Verdict(checkpoint, MISSING)
        # a user's own file (train.pretrained: a path) is checked for its format, not for the catalog hash
        expected = checkpoint.entry.expected_hash if checkpoint.entry and checkpoint.source == "catalog" else None
        key = str(path.resolve())
        stamp = _stamp(path)
        known = self.cache.get(key)
        if not (known and known.get("size") == stamp["size"] and known.get("mtime_ns") == stamp["mtime_ns"]):
            known = dict(stamp)
        if expected and "sha256" not in known:
            known["sha256"] = sha256_of(path)
            self.reads += 1
        if not expected and "format" not in known:
            known["format"] = format_problem(path) or "ok"
            self.reads += 1
        if self.cache.get(key) != known:
            self.cache[key] = known
            self._dirty = True
        if expected:
            digest = known["sha256"]
            return Verdict(checkpoint, OK if digest.startswith(expected) else MISMATCH, sha256=digest)
        problem = known["format"]
        return Verdict(checkpoint, UNVERIFIED if problem == "ok" else NOT_A_CHECKPOINT, detail=problem)

    def save(self) -> None:
        if self._dirty:
            _write_cache(self.cache)
            self._dirty = False


def verify_all(checkpoints) -> dict[str, Verdict]:
    """Verdict per distinct checkpoint path (str) of ``checkpoints``; remembered for the next call."""
    verifier = Verifier()
    verdicts = {}
    for checkpoint in checkpoints:
        key = str(checkpoint.path) if checkpoint.path else "none"
        if key not in verdicts:
            verdicts[key] = verifier.verify(checkpoint)
    verifier.save()
    return verdicts
