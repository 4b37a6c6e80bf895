"""SLURM fixtures: the local single-node cluster (slurm/up.sh) and a results root jobs can reach.

Tests marked ``slurm`` use :func:`slurm_cluster`. It uses a running test cluster, or starts one with
slurm/up.sh (and stops it again at the end); only when that cannot work (not root, no apt, the
daemons refuse, another SLURM on this machine) are the tests skipped, with up.sh's own last words
as the reason. The tests reach the test cluster only, through SLURM_CONF (set here for the whole
process and so for every client and job it starts), whatever SLURM_CONF the caller had.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from slurm_helpers import CLUSTER_CONF

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

os.environ["SLURM_CONF"] = str(CLUSTER_CONF)


def _cluster_answers() -> bool:
    if not shutil.which("sinfo") or not CLUSTER_CONF.is_file():
        return False
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="session")
def slurm_cluster():
    started_here = False
    if not _cluster_answers():
        if os.geteuid() != 0:
            pytest.skip("SLURM is not running and slurm/up.sh needs root to start it")
        done = subprocess.run(["bash", str(REPO / "slurm" / "up.sh")], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0 or not _cluster_answers():
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            pytest.skip(f"the local SLURM cluster could not start (slurm/up.sh: {tail})")
        started_here = True
    yield
    if started_here:
        subprocess.run(["bash", str(REPO / "slurm" / "down.sh")], capture_output=True, timeout=120)


@pytest.fixture
def slurm_env(slurm_cluster, monkeypatch):
    """Environment the jobs inherit (sbatch exports it): the test workers importable, fast polls."""
    paths = [str(HERE), str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.setenv("SSA_BENCH_CLUSTERS", str(REPO / "slurm" / "clusters"))
    before = _queued_job_ids()
    yield
    # A test that failed halfway leaves its jobs holding the node's CPUs: every later test would
    # wait behind them until its own timeout.
    left = sorted(_queued_job_ids() - before)
    if left:
        subprocess.run(["scancel", *left], capture_output=True, timeout=30)


def _queued_job_ids() -> set[str]:
    done = subprocess.run(["squeue", "-h", "-o", "%A"], capture_output=True, text=True, timeout=30)
    return set(done.stdout.split())


@pytest.fixture
def results_root(tmp_path):
    # Under /tmp, which the (single) node shares with the submitter.
    root = tmp_path / "results"
    root.mkdir()
    return root
