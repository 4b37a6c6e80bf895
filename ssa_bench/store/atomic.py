"""The one atomic writer under the results root.

Write to a temp file in the target's directory, fsync, ``os.replace``: a reader (or a later
``gather``) sees the old file or the new one, never half of one, whatever kills the writer.
``tempfile.mkstemp`` would create the file 0600; results on a shared cluster must be readable by
the group/others as the user's umask allows, so the temp file is created with 0666 & ~umask, like
any ``open(path, "w")``.
"""
from __future__ import annotations

import json
import os
import uuid

from ssa_bench.store.storage import guard


def fsync_dir(directory: str) -> None:
    """Make a rename/link/unlink in ``directory`` durable (best effort: not every FS allows it)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """A full disk, a quota, a read-only or failing file system: a StorageError naming ``path``
    (the temp file removed, the old file untouched)."""
    path = os.fspath(path)
    with guard(path):
        _write(path, data)


def _write(path: str, data: bytes) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        # 0o666 is filtered by the process umask, as for any newly created file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    write_text_atomic(path, text + "\n")


def _json_default(value):
    # numpy scalars and paths end up in records; store them as plain JSON values.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
