"""What every test folder shares: the repository root (on pytest's path through pyproject's
``pythonpath``, so helpers are imported as ``tests.<folder>.<module>``) and a fixture that runs a
test from it, as a user runs ``ssa-bench`` from a checkout (spec paths like tables/table3.yaml
resolve under experiments/)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def from_repo_root(monkeypatch) -> Path:
    monkeypatch.chdir(REPO)
    return REPO


def pytest_configure(config) -> None:
    # Under pytest-xdist (`make test` runs two workers on two cores), one torch thread per worker:
    # two workers with two threads each on two cores spend their time waiting on each other.
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(config, items) -> None:
    # The SLURM tests share one single-node cluster (two CPUs, jobs of one test would queue behind
    # another's): under pytest-xdist they all run, in order, on one worker.
    for item in items:
        if item.get_closest_marker("slurm") is not None:
            item.add_marker(pytest.mark.xdist_group("slurm"))
