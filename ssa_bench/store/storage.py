"""A file system that fails under the store -- full, over quota, read-only, or erroring -- as one line.

``ENOSPC``, ``EDQUOT``, ``EROFS`` and ``EIO`` are not bugs of ssa-bench nor of the user's spec; they
are where the results live. Each becomes a :class:`StorageError` naming the path and what to do. It
is a :class:`~ssa_bench.errors.UserError` (the CLI prints its one line, no traceback) and still an
``OSError`` with the original errno (code that handles OSError keeps doing so). The store's writers
raise it; the worker turns any such error raised elsewhere (mmengine's logs, torch.save) into one
with :func:`as_storage_error`.
"""
from __future__ import annotations

import errno
import os
from contextlib import contextmanager

from ssa_bench.errors import UserError

_RERUN = "then rerun the same `ssa-bench run` (each run resumes from its newest intact checkpoint)"
_WHAT = {
    errno.ENOSPC: ("no space left on the file system",
                   f"free space there (or give --results-dir on a bigger file system), {_RERUN}"),
    errno.EDQUOT: ("disk quota exceeded",
                   f"free space within your quota (`quota -s`) or give --results-dir elsewhere, {_RERUN}"),
    errno.EROFS: ("the file system is read-only",
                  f"remount it read-write or give --results-dir on a writable file system, {_RERUN}"),
    errno.EIO: ("input/output error (a failing disk or a lost network mount)",
                f"check the file system (dmesg, your admins), {_RERUN}"),
}
STORAGE_ERRNOS = frozenset(_WHAT)


class StorageError(UserError, OSError):
    """The file system under ``file`` refused a write (full, quota, read-only, I/O error)."""


def is_storage_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def as_storage_error(error: BaseException, path: str | os.PathLike | None = None) -> StorageError | None:
    """``error`` as a :class:`StorageError` (itself when it is one), or None when it is not a
    storage failure. ``path``: where it happened, when the error does not say (a failed
    ``write()`` carries no file name)."""
    if isinstance(error, StorageError):
        return error
    if not is_storage_error(error):
        return None
    what, fix = _WHAT[error.errno]
    where = error.filename or (os.fspath(path) if path is not None else None) or "the results folder"
    result = StorageError(what, file=str(where), fix=fix)
    result.errno, result.strerror, result.filename = error.errno, error.strerror, where
    return result


@contextmanager
def guard(path: str | os.PathLike):
    """Writes to ``path`` inside: a storage failure leaves as a :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        storage = as_storage_error(error, path)
        if storage is None:
            raise
        raise storage from error
