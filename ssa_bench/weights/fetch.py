"""Download catalog checkpoints into the weights folder, resume, verify; check what is there.

``fetch``: the file streams into ``<file>.part`` (an interrupted download resumes from where it
stopped with an HTTP Range request), its sha256 is computed on the way, compared with the catalog,
and only a file that passes is renamed (atomically) to its final name. A mismatch removes the
part file and is a one-line ``DataError``. ``check``: hashes what is in the folder, which may have
been filled by hand (same file names) on a machine without internet. urllib only, no torch.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ssa_bench.errors import DataError
from ssa_bench.weights.catalog import WEIGHTS_ENV, WeightEntry, weights_dir
from ssa_bench.store.atomic import fsync_dir

CHUNK = 1 << 20
TIMEOUT_S = 60
USER_AGENT = "ssa-bench-weights/1 (+https://github.com/; urllib)"
# progress(entry, done_bytes, total_bytes or None); called at start, per chunk and at the end
Progress = Callable[[WeightEntry, int, "int | None"], None]


@dataclass
class CheckResult:
    entry: WeightEntry
    path: Path
    state: str                  # "ok", "unverified" (no published hash), "mismatch", "missing"
    sha256: str | None = None   # of the file on disk
    size: int | None = None

    @property
    def problem(self) -> bool:
        return self.state in ("mismatch", "missing")


class PlainProgress:
    """Progress for logs and non-terminals: one line per tenth of the file (per 50 MB when the
    server does not say how long it is), and one when it is complete."""

    STEP_BYTES = 50 << 20

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last: dict[str, int] = {}

    def __call__(self, entry: WeightEntry, done: int, total: int | None) -> None:
        mark = done * 10 // total if total else done // self.STEP_BYTES
        if self.last.get(entry.file) == mark:
            return
        self.last[entry.file] = mark
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        percent = f"{100 * done // total:3d}% " if total else ""
        print(f"{entry.file}: {percent}{size}", file=self.stream, flush=True)


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return digest.hexdigest()


def hash_matches(entry: WeightEntry, digest: str) -> bool:
    expected = entry.expected_hash
    return expected is None or digest.startswith(expected)


def check(entries, directory: Path | None = None) -> list[CheckResult]:
    directory = directory or weights_dir()
    results = []
    for entry in entries:
        path = entry.path(directory)
        if not path.is_file():
            results.append(CheckResult(entry, path, "missing"))
            continue
        digest = sha256_of(path)
        state = "unverified" if entry.expected_hash is None else ("ok" if hash_matches(entry, digest) else "mismatch")
        results.append(CheckResult(entry, path, state, digest, path.stat().st_size))
    return results


def mismatch_error(entry: WeightEntry, path: Path, digest: str, removed: bool) -> DataError:
    if removed:
        what, again = "the download was removed", f"run `{entry.fetch_command()}` again"
    else:
        what, again = "the file is left in place", f"replace it: `{entry.fetch_command()} --force`"
    return DataError(f"{path.name} has sha256 {digest[:16]}... but the catalog expects {entry.expected_hash} "
                     f"(baseline {entry.name}); {what}", file=str(path),
                     fix=f"{again}; if that fails too the server has another file: download it from {entry.page} "
                         "and compare, or use train.pretrained: none")


def _manual_error(entry: WeightEntry, path: Path, reason: str) -> DataError:
    return DataError(f"{reason} for {entry.file} (baseline {entry.name})", file=str(path),
                     fix=f"download it by hand from {entry.page} and save it as {path} (or in ${WEIGHTS_ENV}); "
                         f"then `ssa-bench weights check {entry.name}`")


def _open(url: str, start: int):
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def fetch(entry: WeightEntry, directory: Path | None = None, progress: Progress | None = None,
          force: bool = False) -> Path:
    """The entry's file in ``directory`` (downloaded, resumed or already there and verified)."""
    directory = directory or weights_dir()
    path = entry.path(directory)
    if path.is_file() and not force:
        digest = sha256_of(path)
        if not hash_matches(entry, digest):
            raise mismatch_error(entry, path, digest, removed=False)
        if progress:
            size = path.stat().st_size
            progress(entry, size, size)
        return path
    if not entry.url:
        raise _manual_error(entry, path, "the authors publish no direct download link")
    directory.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    digest = hashlib.sha256()
    try:
        response = _open(entry.url, start)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:          # the part is as long as (or longer than) the file: redo
            part.unlink()
            return fetch(entry, directory, progress, force)
        raise DataError(f"downloading {entry.file} failed: HTTP {error.code} {error.reason} from {entry.url}",
                        file=str(path), fix=f"try again later, or download it by hand from {entry.page} and save "
                                            f"it as {path}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"cannot reach {entry.url}: {reason}", file=str(path),
                        fix=f"on a machine without internet, fetch on one that has it and copy the file to {path} "
                            f"(or set {WEIGHTS_ENV} to a shared folder)") from None
    with response:
        if (response.headers.get("Content-Type") or "").lower().startswith("text/html"):
            raise _manual_error(entry, path, "the server answered with a web page instead of the file")
        resumed = start > 0 and response.status == 206
        if start and not resumed:                # the server ignored the Range: start over
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        mode = "ab" if resumed else "wb"
        if resumed:
            with open(part, "rb") as handle:     # the hash covers the whole file, old bytes first
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        done = start
        if progress:
            progress(entry, done, total)
        with open(part, mode) as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(entry, done, total)
            except (OSError, http.client.HTTPException, ValueError) as error:
                out.flush()
                raise DataError(f"download of {entry.file} stopped at {done} of {total or '?'} bytes ({error})",
                                file=str(part), fix=f"run `{entry.fetch_command()}` again: it resumes") from None
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done < total:
        raise DataError(f"download of {entry.file} stopped at {done} of {total} bytes", file=str(part),
                        fix=f"run `{entry.fetch_command()}` again: it resumes")
    hexdigest = digest.hexdigest()
    if not hash_matches(entry, hexdigest):
        part.unlink(missing_ok=True)
        raise mismatch_error(entry, path, hexdigest, removed=True)
    os.replace(part, path)
    fsync_dir(directory)
    return path
