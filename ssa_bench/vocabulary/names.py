"""Names the user may write in a spec: baselines and datasets, with the facts planning needs.

Pure data, no torch: planning, validation and status must stay fast. ``baseline_info`` and
``dataset_info`` are the one check of a name against these tables, for every command and stage. How a name becomes an mmseg
config lives in :mod:`ssa_bench.configs`; the demo data generator in :mod:`ssa_bench.data`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ssa_bench.errors import UserError


@dataclass(frozen=True)
class BaselineInfo:
    name: str
    title: str                 # how the paper's tables name it, e.g. "SegNeXt-T"
    backbone: str              # the paper's "Backbone" column
    family: str                # "general" or "lightweight" (Table 1's two halves)
    # Rough training cost on one V100 at 512x512, batch 16 over 4 GPUs, seconds per iteration;
    # used only for `plan`'s compute estimate.
    gpu_s_per_iter: float
    available: bool = True     # False: the row can be planned, building it says what is missing
    needs: str = ""            # what is missing when not available


BASELINES: dict[str, BaselineInfo] = {b.name: b for b in [
    BaselineInfo("fcn_r101", "FCN", "ResNet101", "general", 0.55),
    BaselineInfo("ocrnet_hr48", "OCRNet", "HRNet-W48", "general", 0.60),
    BaselineInfo("upernet_swin_t", "UperNet", "Swin-T", "general", 0.45),
    BaselineInfo("upernet_swin_b", "UperNet", "Swin-B", "general", 0.65),
    BaselineInfo("upernet_swin_l", "UperNet", "Swin-L", "general", 0.95),
    BaselineInfo("segformer_b5", "SegFormer", "MiT-B5", "general", 0.70),
    BaselineInfo("segnext_t", "SegNeXt-T", "MSCAN-T", "lightweight", 0.20),
    BaselineInfo("seaformer_b", "SeaFormer-B", "SeaFormer-B", "lightweight", 0.15),
    BaselineInfo("seaformer_l", "SeaFormer-L", "SeaFormer-L", "lightweight", 0.18),
    BaselineInfo("afformer_b", "AFFormer-B", "AFFormer-B", "lightweight", 0.15),
    # A port (ssa_bench.models.backbones.vit_adapter): its multi-scale deformable attention runs
    # on mmcv's pure-PyTorch sampling, about 13 s per 512x512 forward on 2 CPU cores.
    BaselineInfo("vit_adapter_l", "ViT-Adapter", "ViT-Adapter-L", "general", 2.0),
    # Not in the paper: a slimmed SegFormer (MiT with 16-channel stem) that trains in about a
    # minute on 2 CPU cores; the cpu-demo profile maps every baseline onto it.
    BaselineInfo("segformer_mini", "SegFormer-mini", "MiT-mini", "lightweight", 0.02),
]}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str                 # the paper's column header
    num_classes: int
    crop_size: tuple[int, int]
    max_iters: int             # the paper's schedule
    default_root: str          # relative to $SSA_BENCH_DATA (default ./data)
    reduce_zero_label: bool
    how_to_get: str = ""       # what `ssa-bench data check` tells the user when it is missing
    generated: bool = False    # True for the embedded demo data (made on demand)
    class_names: tuple[str, ...] = field(default=(), repr=False)


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("ade20k", "ADE20K", 150, (512, 512), 160_000, "ade/ADEChallengeData2016", True,
                "download ADEChallengeData2016.zip from the MIT Scene Parsing site and unzip it"),
    DatasetInfo("coco_stuff10k", "COCO-Stuff-10K", 171, (512, 512), 80_000, "coco_stuff10k", False,
                "download cocostuff-10k-v1.1.zip and convert it with mmseg's tools/dataset_converters/coco_stuff10k.py"),
    DatasetInfo("pascal_context59", "PASCAL-Context", 59, (480, 480), 80_000, "VOCdevkit/VOC2010", True,
                "download VOC2010 and trainval_merged.json, convert with mmseg's tools/dataset_converters/pascal_context.py"),
    DatasetInfo("demo_shapes", "Demo shapes", 8, (64, 64), 400, "demo_shapes", True,
                "generated on first use (ssa-bench data make)", generated=True),
    # Demo data that behaves like real data: 128x128 test scenes after 64x64 training crops,
    # classes that vary more across images (the schedule study's data set).
    DatasetInfo("demo_scenes", "Demo scenes", 8, (64, 64), 2000, "demo_scenes", True,
                "generated on first use", generated=True),
]}


def baseline_info(name: str, key: str = "baseline") -> BaselineInfo:
    """The catalog entry of a baseline name; an unknown name is a UserError at ``key``."""
    return _known(BASELINES, name, "baseline", key)


def dataset_info(name: str, key: str = "dataset") -> DatasetInfo:
    """The catalog entry of a dataset name; an unknown name is a UserError at ``key``."""
    return _known(DATASETS, name, "dataset", key)


def _known(table: dict, name: str, kind: str, key: str):
    if name not in table:
        raise UserError(f"unknown {kind} '{name}'", key=key, fix=f"use one of: {', '.join(table)}")
    return table[name]
