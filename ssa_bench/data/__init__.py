"""Where data sets live, whether they are there, and the embedded demo data.

Roots: ``$SSA_BENCH_DATA`` (default ``./data``) joined with the catalog's ``default_root`` for the
paper's data sets and the demo; an inline dataset of a spec gives its own root. ``prepare`` turns the
downloaded archives of the paper's data sets into that layout (``ssa-bench data prepare``). A missing data set
is a one-line ``DataError`` before anything is queued; the demo is generated on first use.
No torch, no mmseg here (``ssa-bench data check`` must be instant).
"""
from __future__ import annotations

import os
from pathlib import Path

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.errors import DataError

# What must exist under a root for mmseg's dataset class to find the training and validation data.
REQUIRED = {
    "ade20k": ("images/training", "annotations/training", "images/validation", "annotations/validation"),
    "coco_stuff10k": ("images/train2014", "annotations/train2014", "images/test2014", "annotations/test2014"),
    "pascal_context59": ("JPEGImages", "SegmentationClassContext", "ImageSets/SegmentationContext/train.txt",
                         "ImageSets/SegmentationContext/val.txt"),
    "demo_shapes": ("images/training", "annotations/training", "images/validation", "annotations/validation"),
    "demo_scenes": ("images/training", "annotations/training", "images/validation", "annotations/validation"),
}
ADE_LAYOUT = REQUIRED["ade20k"]


def data_home() -> Path:
    return Path(os.environ.get("SSA_BENCH_DATA") or "data").absolute()


def dataset_root(name: str, dataset_def: dict | None = None) -> Path:
    if dataset_def:
        return Path(dataset_def["root"]).expanduser().absolute()
    return data_home() / DATASETS[name].default_root


def make_demo(root: str | os.PathLike | None = None, name: str = "demo_shapes") -> Path:
    from ssa_bench.data import demo

    return demo.make(root or dataset_root(name), name)


def _how_to_get(name: str) -> str:
    from ssa_bench.data.recipes import RECIPES, how_to_prepare

    return how_to_prepare(name) if name in RECIPES else DATASETS[name].how_to_get


def _missing(name: str, root: Path, dataset_def: dict | None) -> list[str]:
    required = ADE_LAYOUT if dataset_def else REQUIRED[name]
    missing = [part for part in required if not (root / part).exists()]
    if dataset_def and not missing:
        # a user's folders may be there but empty: the run would fail after it started
        suffix = dataset_def.get("img_suffix", ".jpg")
        missing = [f"{split} images (*{suffix})" for split in ("images/training", "images/validation")
                   if not any(path.name.endswith(suffix) for path in (root / split).iterdir())]
    return missing


def check() -> list[dict]:
    """Each catalog data set: found or not, where it is expected, and what to do."""
    results = []
    for name, info in DATASETS.items():
        root = dataset_root(name)
        if info.generated:
            from ssa_bench.data import demo

            found = demo.is_valid(root, name)
            fix = "run `ssa-bench data make` (or any run generates it)"
        else:
            found = not _missing(name, root, None)
            fix = f"{_how_to_get(name)}; it goes to {root} (set SSA_BENCH_DATA to use another folder)"
        results.append({"name": name, "found": found, "path": str(root), "fix": fix})
    return results


def ensure_datasets(configs) -> None:
    """Generate the demo if a run needs it; raise DataError for any other missing data set."""
    seen = set()
    for config in configs:
        name, definition = config["dataset"], config.get("dataset_def")
        root = dataset_root(name, definition)
        if (name, str(root)) in seen:
            continue
        seen.add((name, str(root)))
        if not definition and DATASETS[name].generated:
            make_demo(root, name)
            continue
        missing = _missing(name, root, definition)
        if missing:
            how = ("put it there in ADE20K layout (images/{training,validation}, annotations/{training,validation})"
                   if definition else _how_to_get(name))
            raise DataError(f"dataset '{name}' not found at {root} (missing {missing[0]})", key="dataset",
                            fix=f"{how}; or set SSA_BENCH_DATA to the folder that holds it; "
                                "`ssa-bench data check` lists every data set")
