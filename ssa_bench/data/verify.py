"""The check of a prepared data set against its recipe: every split's images and labels counted and
paired, label values in range (``verify``), and ``check_prepared`` where the runs look for it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ssa_bench.errors import DataError
from ssa_bench.data.progress import Reporter
from ssa_bench.data.recipes import IGNORE_INDEX, RECIPES, how_to_prepare


@dataclass
class SplitReport:
    name: str
    expected: int
    images: int
    labels: int
    missing_labels: list[str] = field(default_factory=list)   # image names without a label file
    missing_images: list[str] = field(default_factory=list)   # listed (PASCAL-Context) but absent

    @property
    def ok(self) -> bool:
        return (self.images == self.expected and self.labels == self.expected
                and not self.missing_labels and not self.missing_images)


@dataclass
class Verification:
    dataset: str
    root: Path
    splits: list[SplitReport]
    label_values: list[int]            # every value found in the label files, sorted
    max_label: int
    zero_means: str
    num_classes: int

    @property
    def bad_values(self) -> list[int]:
        return [v for v in self.label_values if v > self.max_label and v != IGNORE_INDEX]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.splits) and not self.bad_values and bool(self.label_values)

    def problems(self) -> list[str]:
        out = []
        for split in self.splits:
            if split.images != split.expected or split.labels != split.expected:
                out.append(f"{split.name}: {split.images} images and {split.labels} labels, expected "
                           f"{split.expected} of each")
            if split.missing_images:
                out.append(f"{split.name}: {len(split.missing_images)} listed images missing "
                           f"(first: {split.missing_images[0]})")
            if split.missing_labels:
                out.append(f"{split.name}: {len(split.missing_labels)} images without a label "
                           f"(first: {split.missing_labels[0]})")
        if self.bad_values:
            out.append(f"label values {self.bad_values[:5]} outside 0..{self.max_label} (and {IGNORE_INDEX})")
        if not self.label_values:
            out.append("no label files")
        return out

    def model_labels(self) -> str:
        """What the model sees after mmseg's reduce-zero-label: disk k -> k-1, disk 0 -> 255."""
        if not self.label_values:
            return "-"
        seen = sorted({IGNORE_INDEX if v in (0, IGNORE_INDEX) else v - 1 for v in self.label_values})
        classes = [v for v in seen if v != IGNORE_INDEX]
        text = f"{classes[0]}..{classes[-1]}" if classes else "none"
        return text + (f" + {IGNORE_INDEX}" if IGNORE_INDEX in seen else "")

    def summary(self) -> list[str]:
        lines = [f"{self.dataset} at {self.root}"]
        for split in self.splits:
            mark = "ok" if split.ok else "WRONG"
            lines.append(f"  {split.name}: {split.images} images, {split.labels} labels "
                         f"(expected {split.expected}) {mark}")
        if self.label_values:
            lines.append(f"  labels on disk: {self.label_values[0]}..{self.label_values[-1]} "
                         f"({len(self.label_values)} distinct values; 0 = {self.zero_means}); the model sees "
                         f"{self.model_labels()} ({self.num_classes} classes, reduce_zero_label)")
        return lines


def _names(folder: Path, suffix: str) -> set[str]:
    if not folder.is_dir():
        return set()
    return {entry.name[: -len(suffix)] for entry in os.scandir(folder) if entry.name.endswith(suffix)}


def _label_values(path: Path) -> set[int]:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return set(np.unique(np.asarray(image)).tolist())


def verify(name: str, root: str | os.PathLike | None = None, reporter: Reporter | None = None) -> Verification:
    """Count images and labels per split against the published sizes and read every label's values."""
    from ssa_bench.data import dataset_root

    recipe = RECIPES[name]
    root = Path(root) if root is not None else dataset_root(name)
    reporter = reporter or Reporter()
    splits, label_files = [], []
    for split in recipe.splits:
        images = _names(root / split.images, split.img_suffix)
        labels = _names(root / split.labels, split.seg_suffix)
        if split.list_file:
            list_path = root / split.list_file
            listed = [line.strip() for line in list_path.read_text().splitlines() if line.strip()] \
                if list_path.is_file() else []
            report = SplitReport(split.name, split.expected, len([n for n in listed if n in images]),
                                 len([n for n in listed if n in labels]),
                                 missing_labels=sorted(n for n in listed if n in images and n not in labels),
                                 missing_images=sorted(n for n in listed if n not in images))
            names = [n for n in listed if n in labels]
        else:
            report = SplitReport(split.name, split.expected, len(images), len(labels),
                                 missing_labels=sorted(images - labels))
            names = sorted(labels)
        splits.append(report)
        label_files += [root / split.labels / f"{n}{split.seg_suffix}" for n in names]
    values: set[int] = set()
    for path in reporter.track(label_files, len(label_files), f"{name}: reading labels"):
        values |= _label_values(path)
    return Verification(name, root, splits, sorted(values), recipe.max_label, recipe.zero_means, recipe.num_classes)


def check_prepared(name: str, reporter: Reporter | None = None) -> Verification:
    """verify() of the dataset where the runs look for it; DataError when it does not match."""
    from ssa_bench.data import dataset_root

    root = dataset_root(name)
    result = verify(name, root, reporter)
    if not result.ok:
        for line in result.summary():
            reporter.note(line)
        raise DataError(f"{name} does not match the published dataset: {'; '.join(result.problems())}",
                        file=str(root), fix=how_to_prepare(name))
    return result
