"""Runs with stable ids (:mod:`ssa_bench.matrix.run`) and their cost; which of them a `run` executes is
ssa_bench.executors.base.select_runs."""
from __future__ import annotations


from ssa_bench.vocabulary.names import BASELINES


# One run type from the matrix on (issue 15): defined with the loader, re-exported here.
from ssa_bench.matrix.run import ID_LENGTH, ID_NEUTRAL_DEFAULTS, Run, hashed_view, run_id  # noqa: F401

# CPU cost of the demo model per image at 64x64, seconds, with the constant cost of a run
# (imports, evaluation, measurement, dump) on top; measured on 2 cores, one thread per run.
CPU_SECONDS_PER_IMAGE_64 = 0.012
CPU_RUN_OVERHEAD_S = 25.0


def plan(spec) -> list[Run]:
    """The spec's runs (the loader already gave each its id)."""
    return list(spec.runs)


def is_cpu_estimate(config: dict) -> bool:
    """Whether estimate_seconds counts CPU time (else wall-clock on the paper's GPUs)."""
    return config["train"].get("device") == "cpu" or config["baseline"] == "segformer_mini"


def estimate_seconds(config: dict) -> float:
    """Rough compute of one run: GPU time at the paper's scale, CPU time for a CPU run."""
    train = config["train"]
    if is_cpu_estimate(config):
        height, width = train["crop_size"]
        per_iter = CPU_SECONDS_PER_IMAGE_64 * train["batch_size"] * (height * width) / (64 * 64)
        return CPU_RUN_OVERHEAD_S + per_iter * train["max_iters"]
    per_iter = BASELINES[config["baseline"]].gpu_s_per_iter * train["batch_size"] / 16
    return per_iter * train["max_iters"]
