"""The demo data set as an mmseg dataset class (imported by configs through ``custom_imports``)."""
from __future__ import annotations

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ssa_bench.data.demo import CLASSES


def _palette(count: int) -> list[list[int]]:
    import colorsys

    return [[int(255 * c) for c in colorsys.hsv_to_rgb(i / count, 0.9, 0.95)] for i in range(count)]


@DATASETS.register_module(force=True)
class DemoShapesDataset(BaseSegDataset):
    METAINFO = dict(classes=CLASSES, palette=_palette(len(CLASSES)))

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png",
                 reduce_zero_label: bool = True, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
