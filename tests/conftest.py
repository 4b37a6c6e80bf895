"""What every test folder shares: the repository root (on pytest's path through pyproject's
``pythonpath``, so helpers are imported as ``tests.<folder>.<module>``) and a fixture that runs a
test from it, as a user runs ``ssa-bench`` from a checkout (spec paths like tables/table3.yaml
resolve under experiments/)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def from_repo_root(monkeypatch) -> Path:
    monkeypatch.chdir(REPO)
    return REPO


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> str:
    """A $SSA_BENCH_DATA folder with the demo data, generated once for the session and only read
    by the tests that train on it (tests that damage demo data make their own copy)."""
    from ssa_bench.data import dataset_root, make_demo

    home = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSA_BENCH_DATA", str(home))
        make_demo(dataset_root("demo_shapes"))
    return str(home)


@pytest.fixture(scope="session")
def figure_runs(tmp_path_factory, demo_data):
    """(spec_path, spec, runs, store) of three runs trained for 4 iterations by the real worker --
    Baseline, '+ SEPA + SPPA' (no teacher, w_sd = 0), 'SSA (Ours)' (teacher, w_sd = 1) -- shared
    by the figure and notebook tests, which only read them (tests that damage them copy first)."""
    from tests.report.figure_runs import train_spec

    return train_spec(tmp_path_factory.mktemp("figruns"), demo_data)


def pytest_configure(config):
    """Under ``pytest -n N`` (pytest-xdist) each worker computes on one thread: N workers with
    torch's default of one thread per core would oversubscribe the cores N times over."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


@pytest.fixture
def paper_data_layout(tmp_path, monkeypatch) -> Path:
    """A $SSA_BENCH_DATA holding the folders every paper data set must have, empty: what the pre-run
    check of `run` and `run --dry-run` looks at, for tests of planning and submission (nothing
    trains on it)."""
    from ssa_bench.data import REQUIRED, dataset_root

    home = tmp_path / "paper-data"
    monkeypatch.setenv("SSA_BENCH_DATA", str(home))
    for name in ("ade20k", "coco_stuff10k", "pascal_context59"):
        for part in REQUIRED[name]:
            target = dataset_root(name) / part
            if target.suffix == ".txt":
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("x\n")
            else:
                target.mkdir(parents=True, exist_ok=True)
    return home
