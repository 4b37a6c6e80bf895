"""Real run artefacts for the figure and notebook tests: a tiny spec (baseline, SSA without and
with semantic distillation) trained for a few iterations through the real worker, so records,
curves and dumps are exactly what `ssa-bench run` writes -- no shapes made up by hand."""
from __future__ import annotations

from pathlib import Path

SPEC_YAML = """\
name: figtest
title: "Figure test: baseline, SSA without and with L_sd"
base:
  baseline: segformer_mini
  dataset: demo_shapes
  train: {max_iters: 4, batch_size: 2, crop_size: [64, 64], val_interval: 2,
          checkpoint_interval: 4, num_workers: 0, device: cpu}
  measure: {input_size: [64, 64], latency_warmup: 1, latency_iters: 2, threads: 1}
  ssa: {enabled: true, w_g: 0, w_rd: 0, w_sd: 0, w_pd: 0}
rows:
  - label: Baseline
    ssa: {enabled: false}
  - label: + SEPA + SPPA
  - label: SSA (Ours)
    ssa: {w_g: 1, w_rd: 1, w_sd: 1, w_pd: 1}
report:
  columns: [gflops, mIoU]
"""


def write_spec(directory: Path) -> Path:
    path = Path(directory) / "figtest.yaml"
    path.write_text(SPEC_YAML, encoding="utf-8")
    return path


def train_spec(directory: Path, data_home: str) -> tuple:
    """Write the spec under `directory`, run every run with the worker into `directory/results`,
    on the demo data under `data_home` ($SSA_BENCH_DATA). Returns (spec_path, spec, runs, store)."""
    from ssa_bench.matrix import load_spec, plan
    from ssa_bench.store import Store
    from ssa_bench.worker import execute_run

    import pytest

    directory = Path(directory)
    spec_path = write_spec(directory)
    spec = load_spec(str(spec_path))
    runs = plan(spec)
    store = Store(directory / "results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSA_BENCH_DATA", data_home)
        patch.setenv("SSA_BENCH_THREADS", "1")
        for run in runs:
            store.write_run(run)
            execute_run(store.root, run.id)
    return spec_path, spec, runs, store
