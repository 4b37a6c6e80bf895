"""What killed submitters leave behind: runs queued without a job id, and submitit's temporary files.

A submitter killed inside ``sbatch`` never learns its job id: its runs stay 'queued' with no job
(an orphan submission; the job, if SLURM accepted it, takes the run over when it starts, see
:mod:`ssa_bench.executors.slurm.claims`). submitit writes each task's pickle and the sbatch file
under a temporary name and renames them after sbatch answers; a submitter killed in between
leaves them in the results' ``slurm/`` folder.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ssa_bench.executors.slurm import claims

STRAY_PATTERNS = ("*.pkl", ".submission_file_*.sh")
STRAY_AGE_S = 600.0


def orphan_submission(store, run_id: str, state: dict | None = None, grace_s: float = 60.0) -> str | None:
    """Why ``run_id`` is an orphan submission -- queued by a submitter that died inside sbatch,
    before it learnt the job id -- or None when it is not one."""
    state = state if state is not None else (store.read_state(run_id) or {})
    if state.get("state") != "queued" or state.get("job_id"):
        return None
    holder = store.claim_holder(run_id)
    if holder is not None and holder.kind == "submitter":
        if claims.process_alive(holder) is not False:
            return None            # still submitting (or on another host: it hands over or times out)
        who = claims.describe(holder)
    elif holder is None:
        try:
            if time.time() - os.path.getmtime(store.paths(run_id).state) <= grace_s:
                return None
        except OSError:
            pass
        who = "a submitter"
    else:
        return None                # a job holds it: it is that job's run
    return (f"orphan submission: {who} was killed while submitting (inside sbatch); its job, if "
            f"SLURM accepted it, takes the run over when it starts, otherwise `ssa-bench run` "
            f"submits it again")


def clean_stray_submission_files(folder: Path, max_age_s: float = STRAY_AGE_S) -> list[Path]:
    """Remove the temporary files of killed submissions (older than any submission takes)."""
    removed = []
    now = time.time()
    for pattern in STRAY_PATTERNS:
        for path in folder.glob(pattern):
            try:
                if path.is_file() and now - path.stat().st_mtime > max_age_s:
                    path.unlink()
                    removed.append(path)
            except OSError:
                pass
    return removed
