"""One submitter at a time per results folder sends its arrays (flock on ``slurm/.submit.lock``)."""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


@contextlib.contextmanager
def submission_lock(folder: Path):
    """A second submitter started in the same instant then finds the runs claimed by the first
    one's jobs and follows them, instead of sending a second array of the runs it won the claim
    race for. (The claims alone already keep a run from being trained twice; flock may not work on
    every network file system.)"""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".submit.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass
        try:
            yield
        finally:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                pass
