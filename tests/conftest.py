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

