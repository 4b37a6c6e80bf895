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



@pytest.fixture(scope="session")
def figure_runs(tmp_path_factory):
    """(spec_path, spec, runs, store) of three runs trained for 4 iterations by the real worker --
    Baseline, '+ SEPA + SPPA' (no teacher, w_sd = 0), 'SSA (Ours)' (teacher, w_sd = 1) -- shared
    by the figure and notebook tests, which only read them (tests that damage them copy first)."""
    from tests.report.figure_runs import train_spec

    return train_spec(tmp_path_factory.mktemp("figruns"))
