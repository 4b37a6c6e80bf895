"""Unpacking the downloaded archives (zip, tar) or taking them already unpacked, with one-line
errors for a missing or damaged archive."""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from ssa_bench.errors import DataError
from ssa_bench.data.progress import Reporter
from ssa_bench.data.recipes import Archive


def find_input(source: Path, archive: Archive) -> Path:
    """The archive file in DIR, or the folder it unpacks to; a DataError naming both otherwise."""
    candidates = [source / archive.file] + [source / other for other in archive.also]
    if archive.unpacked:
        candidates += [source / archive.unpacked, source]
    for candidate in candidates:
        if candidate.is_file() and candidate.name == archive.file:
            return candidate
        if candidate.is_dir() and archive.marker and (candidate / archive.marker).exists():
            return candidate
    raise DataError(f"{archive.file} not found in {source}", file=str(source / archive.file), key="--from",
                    fix=f"download it from {archive.url} into {source}")


def extract(archive: Path, destination: Path, reporter: Reporter, keep=lambda member: True) -> None:
    """Unpack a .zip or .tar(.gz) into destination with progress (only members `keep` accepts)."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.infolist() if keep(m.filename)]
                for member in reporter.track(members, len(members), f"unpacking {archive.name}"):
                    zipped.extract(member, destination)
            return
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if keep(m.name)]
            for member in reporter.track(members, len(members), f"unpacking {archive.name}"):
                tar.extract(member, destination, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        # tarfile's "could not be opened" lists each method tried on its own line: one line here
        why = "; ".join(part.strip(" -") for part in str(error).splitlines() if part.strip(" -"))
        raise DataError(f"{archive} is not a readable archive ({why})", file=str(archive), key="--from",
                        fix="download it again (the file is damaged or incomplete)") from None


def move_or_copy(source: Path, destination: Path, reporter: Reporter) -> None:
    if source.resolve() == destination.resolve():
        return
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, destination)
        reporter.note(f"moved {source} -> {destination}")
    except OSError:
        shutil.copytree(source, destination)
        reporter.note(f"copied {source} -> {destination}")


def found_folder(base: Path, marker: str) -> Path | None:
    """The folder under `base` (itself or up to two levels down) that holds `marker`."""
    for depth in range(3):
        for candidate in sorted(base.glob("/".join(["*"] * depth)) if depth else [base]):
            if candidate.is_dir() and (candidate / marker).exists():
                return candidate
    return None
