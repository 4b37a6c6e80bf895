"""What the SSA authors' configs (xwmaxwma/SSA-Seg @e67fc2f) set per run beyond the recipe:
evaluation and checkpoint intervals, which checkpoint is kept as the result, and the test
resize. Pure data (the paper profile and the composer read it; no mmseg import).

Every value is a fact of tests/fixtures/authors_configs/facts.json, where its file:line is;
tests/configs/test_authors_configs.py compares each composed run with it.
"""
from __future__ import annotations

# baseline -> dataset -> (evaluation interval, checkpoint interval) of the authors' config.
_INTERVALS = {
    "ocrnet_hr48": {"ade20k": (8000, 8000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    "upernet_swin_t": {"ade20k": (8000, 16000), "coco_stuff10k": (4000, 8000), "pascal_context59": (4000, 8000)},
    "upernet_swin_b": {"ade20k": (8000, 16000), "coco_stuff10k": (4000, 8000)},
    "upernet_swin_l": {"ade20k": (8000, 16000), "coco_stuff10k": (4000, 8000), "pascal_context59": (4000, 8000)},
    "segformer_b5": {"ade20k": (8000, 8000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    # ADE20K: the ViT-Adapter authors' 16000 (their file), 8000 in the SSA authors' _ssa file
    "vit_adapter_l": {"ade20k": (16000, 1000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    "afformer_b": {"ade20k": (8000, 8000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    "seaformer_b": {"ade20k": (4000, 4000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    "seaformer_l": {"ade20k": (4000, 4000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
    "segnext_t": {"ade20k": (8000, 8000), "coco_stuff10k": (4000, 4000), "pascal_context59": (4000, 4000)},
}
# (baseline, dataset) whose SSA file sets another evaluation interval than the baseline's file.
_SSA_EVAL_INTERVAL = {("vit_adapter_l", "ade20k"): 8000}

# Which checkpoint the authors' runs keep: configs/protocol.py (AUTHORS_BEST_CHECKPOINT_BASELINES).

# (baseline, dataset) -> the test pipeline's keep-ratio resize scale where it is not the data
# set's (ViT-Adapter-L on PASCAL-Context: short side 520, long side up to 4096).
_TEST_SCALE = {("vit_adapter_l", "pascal_context59"): (4096, 520)}
# Test-time ResizeToMultiple(size_divisor=32): in the authors' ADE20K data set base
# (configs/_base_/datasets/ade20k.py:28), not in their COCO-Stuff / PASCAL-Context bases, and in
# each of the ViT-Adapter-L test pipelines.
_SIZE_DIVISOR_DATASETS = ("ade20k",)
_SIZE_DIVISOR_BASELINES = ("vit_adapter_l",)
SIZE_DIVISOR = 32


def has_authors_config(baseline: str, dataset: str) -> bool:
    return dataset in _INTERVALS.get(baseline, {})


def intervals(baseline: str, dataset: str, ssa: bool) -> tuple[int, int] | None:
    """(evaluation interval, checkpoint interval) of the authors' config, or None without one."""
    if not has_authors_config(baseline, dataset):
        return None
    evaluation, checkpoint = _INTERVALS[baseline][dataset]
    if ssa:
        evaluation = _SSA_EVAL_INTERVAL.get((baseline, dataset), evaluation)
    return evaluation, checkpoint


def test_scale(baseline: str, dataset: str) -> tuple[int, int] | None:
    return _TEST_SCALE.get((baseline, dataset))


def test_size_divisor(baseline: str, dataset: str) -> int | None:
    """32 where the authors' test pipeline rounds the resized image up to a multiple of 32."""
    if dataset in _SIZE_DIVISOR_DATASETS or baseline in _SIZE_DIVISOR_BASELINES:
        return SIZE_DIVISOR
    return None


# Per-GPU batch: every authors' config trains 16 images per iteration (README.md:36, "Batch
# size: 16"; the paper, Sec. 4.2) as samples_per_gpu x GPUs, 4 x 4 except these runs of 2 x 8.
PAPER_BATCH = 16
_TWO_PER_GPU = {("vit_adapter_l", "ade20k", False), ("vit_adapter_l", "ade20k", True),
                ("vit_adapter_l", "pascal_context59", False), ("upernet_swin_b", "ade20k", True)}
# Baselines whose normalisation statistics are per GPU in the authors' runs: AFFormer-B's plain
# BN (SSA-Seg's train.py does not convert it to SyncBN). Every other baseline's BN is SyncBN
# (statistics over the whole batch of 16, however it is split) or LN/GN (per image).
PER_GPU_BN_BASELINES = ("afformer_b",)


def authors_batch_split(baseline: str, dataset: str, ssa: bool) -> tuple[int, int] | None:
    """(samples_per_gpu, GPUs) of the authors' run, or None without an authors' config."""
    if not has_authors_config(baseline, dataset):
        return None
    per_gpu = 2 if (baseline, dataset, bool(ssa)) in _TWO_PER_GPU else 4
    return per_gpu, PAPER_BATCH // per_gpu


def batch_split_record(config: dict, world_size: int) -> dict:
    """What a run's record says about its batch split: images per GPU and GPUs here and in the
    authors' run, and a note where the split changes what the model computes (BN statistics)."""
    total = int(config["train"]["batch_size"])
    per_gpu = total // max(1, world_size)
    ssa = bool((config.get("ssa") or {}).get("enabled"))
    authors = authors_batch_split(config["baseline"], config["dataset"], ssa)
    note = None
    if (authors is not None and config["baseline"] in PER_GPU_BN_BASELINES
            and per_gpu != authors[0]):
        note = (f"{config['baseline']}: BN statistics over {per_gpu} images per GPU x {world_size} "
                f"(the authors: {authors[0]} x {authors[1]}); slurm: {{gpus: {authors[1]}}} splits as they did")
    return {"per_gpu": per_gpu, "gpus": int(world_size),
            "authors": list(authors) if authors else None, "note": note}
