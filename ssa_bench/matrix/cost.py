"""A run's rough compute cost, which `ssa-bench plan` prints beside it: CPU time for a CPU run (the
demo), else wall-clock on the paper's GPUs from the baseline's seconds per iteration."""
from __future__ import annotations

from ssa_bench.vocabulary.names import BASELINES

# CPU cost of the demo model per image at 64x64, seconds, with the constant cost of a run
# (imports, evaluation, measurement, dump) on top; measured on 2 cores, one thread per run.
CPU_SECONDS_PER_IMAGE_64 = 0.012
CPU_RUN_OVERHEAD_S = 25.0


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


def estimate_basis(config: dict) -> str:
    """The device class estimate_seconds assumes for this run, in words (`plan --json`'s estimate_basis)."""
    if is_cpu_estimate(config):
        return "a CPU core (one thread per run)"
    return "4 V100-class GPUs (batch 16 over 4)"
