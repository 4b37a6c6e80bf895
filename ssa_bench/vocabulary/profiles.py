"""The profiles a spec can be run under and their fixed defaults, as data (how a profile is
applied to a row is ``ssa_bench.matrix.profiles``).

``paper``: the spec's baselines and datasets with the paper's training defaults (batch 16, the
dataset's crop and schedule). ``cpu-demo``: any table mapped onto the embedded demo data and a
small SegFormer, with the demo's schedule below.
"""
from __future__ import annotations

PAPER_BATCH_SIZE = 16          # 4 GPUs x 4 images in the authors' configs

# The one place the CPU demo's schedule is set (tuned so Table 3's seven runs finish within ten
# minutes on two cores, two runs at a time: measured 6.5 min at 2000 iterations; see README).
CPU_DEMO = {
    "baseline": "segformer_mini",
    "dataset": "demo_shapes",
    # the demo model has no pretrained checkpoint: every demo run trains from scratch
    "train": {"max_iters": 2000, "batch_size": 8, "crop_size": [64, 64], "val_interval": 500,
              "checkpoint_interval": 500, "num_workers": 0, "device": "cpu", "pretrained": "none"},
    "measure": {"input_size": [64, 64], "latency_warmup": 2, "latency_iters": 10, "threads": 1},
}

PROFILES = ("paper", "cpu-demo")
