"""Shared by the checkpoint-loading tests: one tiny real run with a real mmengine checkpoint."""
from __future__ import annotations

import pytest

from tests.stages.stage_helpers import run_config

# one tiny real run (2 iterations, checkpoint at 2) shared by the resume tests
TWO_ITERS = {"max_iters": 2, "val_interval": 2, "checkpoint_interval": 2}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, demo_data):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSA_BENCH_DATA", demo_data)
        from ssa_bench.data import ensure_datasets
        from ssa_bench.stages.train import train_stage

        config = run_config(**TWO_ITERS)
        ensure_datasets([config])
        run_dir = tmp_path_factory.mktemp("trained") / "run"
        run_dir.mkdir()
        result = train_stage(config, str(run_dir))
    assert result["iters"] == 2 and (run_dir / "work_dir" / "iter_2.pth").is_file()
    return config, run_dir
