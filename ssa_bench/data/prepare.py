"""``ssa-bench data prepare DATASET --from DIR``: downloaded archives -> the layout the configs read,
then a check of the result.

The conversions are mmseg's own (``mmseg/.mim/tools/dataset_converters/coco_stuff10k.py`` and
``pascal_context.py``, loaded from the installed wheel and called function by function, so a new
mmseg release converts as it converts); this module only unpacks the archives, feeds the converters
their inputs, reports progress and checks what came out:

=================  ==========================================  ============  =====================
dataset            archives in ``--from DIR``                  splits        labels on disk
=================  ==========================================  ============  =====================
ade20k             ADEChallengeData2016.zip                    20210 / 2000  0..150, 0 = "other"
coco_stuff10k      cocostuff-10k-v1.1.zip                      9000 / 1000   0..171, 0 = unlabeled
pascal_context59   VOCtrainval_03-May-2010.tar,                4996 / 5104   0..59, 0 = background
                   trainval_merged.json
=================  ==========================================  ============  =====================

All three datasets use mmseg's reduce-zero-label convention (``COCOStuffDataset`` for the 10k
version, ``PascalContextDataset59``, ``ADE20KDataset``): disk label 0 becomes 255 (ignored) and k
becomes class k-1, so the model sees 0..170 / 0..58 / 0..149 and 255.

An archive may also be given already unpacked (the folder it unpacks to, inside ``--from DIR``).
The output goes to ``dataset_root(name)``: ``$SSA_BENCH_DATA`` (default ``./data``) joined with the
catalog's ``default_root``, where ``ssa-bench data check`` and the runs look.

No torch and no mmseg import here (the converters import only numpy, PIL, scipy and mmengine.utils).
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

from ssa_bench.errors import DataError


# --------------------------------------------------------------------------------------------------
# What each dataset is made from and what it must look like afterwards


@dataclass(frozen=True)
class Archive:
    file: str                  # the file name as published
    url: str                   # where to download it
    unpacked: str              # the folder it unpacks to (accepted instead of the archive)
    marker: str                # a path that exists inside the unpacked folder
    also: tuple[str, ...] = ()  # other places in DIR the file may be (mmseg's docs put it there)


@dataclass(frozen=True)
class Split:
    name: str                  # how mmseg's config names the split's folder / list
    images: str                # folder relative to the dataset root
    labels: str
    expected: int              # the published size of the split
    img_suffix: str = ".jpg"
    seg_suffix: str = ".png"
    list_file: str | None = None   # PASCAL-Context: the split is a list of names


@dataclass(frozen=True)
class Recipe:
    name: str
    archives: tuple[Archive, ...]
    splits: tuple[Split, ...]
    max_label: int             # largest label value on disk (0 = ignored, reduce-zero-label)
    zero_means: str            # what disk label 0 is
    num_classes: int           # classes the model predicts (mmseg's dataset class)
    converter: str | None      # mmseg's converter script, None: the archive is already converted


COCO_ZIP = Archive("cocostuff-10k-v1.1.zip",
                   "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/cocostuff-10k-v1.1.zip",
                   "cocostuff-10k-v1.1", "imageLists/train.txt")
VOC_TAR = Archive("VOCtrainval_03-May-2010.tar",
                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
                  "VOCdevkit", "VOC2010/JPEGImages")
CONTEXT_JSON = Archive("trainval_merged.json",
                       "https://codalabuser.blob.core.windows.net/public/trainval_merged.json "
                       "(the PASCAL-Context annotations, linked from https://cs.stanford.edu/~roozbeh/pascal-context/)",
                       "", "", also=("VOCdevkit/VOC2010/trainval_merged.json", "VOC2010/trainval_merged.json"))
ADE_ZIP = Archive("ADEChallengeData2016.zip",
                  "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
                  "ADEChallengeData2016", "images/training")

RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("ade20k", (ADE_ZIP,),
           (Split("training", "images/training", "annotations/training", 20210),
            Split("validation", "images/validation", "annotations/validation", 2000)),
           max_label=150, zero_means="other (ignored)", num_classes=150, converter=None),
    Recipe("coco_stuff10k", (COCO_ZIP,),
           (Split("train2014", "images/train2014", "annotations/train2014", 9000,
                  seg_suffix="_labelTrainIds.png"),
            Split("test2014", "images/test2014", "annotations/test2014", 1000,
                  seg_suffix="_labelTrainIds.png")),
           max_label=171, zero_means="unlabeled (ignored)", num_classes=171, converter="coco_stuff10k.py"),
    Recipe("pascal_context59", (VOC_TAR, CONTEXT_JSON),
           (Split("train", "JPEGImages", "SegmentationClassContext", 4996,
                  list_file="ImageSets/SegmentationContext/train.txt"),
            Split("val", "JPEGImages", "SegmentationClassContext", 5104,
                  list_file="ImageSets/SegmentationContext/val.txt")),
           max_label=59, zero_means="background (ignored)", num_classes=59, converter="pascal_context.py"),
]}

IGNORE_INDEX = 255
DETAIL_INSTALL = "pip install 'git+https://github.com/zhanghang1989/detail-api.git#subdirectory=PythonAPI'"


def how_to_prepare(name: str) -> str:
    """The one-line instruction `data check` and a missing dataset print."""
    recipe = RECIPES[name]
    files = " and ".join(a.file for a in recipe.archives)
    return f"download {files} into a folder DIR and run `ssa-bench data prepare {name} --from DIR`"


# --------------------------------------------------------------------------------------------------
# Progress: the CLI passes a reporter drawing bars; the default is silent


class Reporter:
    """Where prepare() tells what it does. Subclass to draw progress (the CLI uses rich)."""

    def note(self, text: str) -> None:
        pass

    def track(self, items: Iterable, total: int, description: str) -> Iterator:
        yield from items


class RichReporter(Reporter):
    """Progress bars and notes on a rich console (the CLI's stderr)."""

    def __init__(self, console) -> None:
        self.console = console

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def track(self, items: Iterable, total: int, description: str) -> Iterator:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                yield item
                progress.advance(task)


# --------------------------------------------------------------------------------------------------
# The check


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


# --------------------------------------------------------------------------------------------------
# Unpacking


def _find_input(source: Path, archive: Archive) -> Path:
    """The archive file in DIR, or the folder it unpacks to; a DataError naming both otherwise."""
    candidates = [source / archive.file] + [source / other for other in archive.also]
    if archive.unpacked:
        candidates += [source / archive.unpacked, source]
    for candidate in candidates:
        if candidate.is_file() and candidate.name == archive.file:
            return candidate
        if candidate.is_dir() and archive.marker and (candidate / archive.marker).exists():
            return candidate
    raise DataError(f"{archive.file} not found in {source}", file=str(source / archive.file), key="--from",
                    fix=f"download it from {archive.url} into {source}")


def _extract(archive: Path, destination: Path, reporter: Reporter, keep=lambda member: True) -> None:
    """Unpack a .zip or .tar(.gz) into destination with progress (only members `keep` accepts)."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.infolist() if keep(m.filename)]
                for member in reporter.track(members, len(members), f"unpacking {archive.name}"):
                    zipped.extract(member, destination)
            return
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if keep(m.name)]
            for member in reporter.track(members, len(members), f"unpacking {archive.name}"):
                tar.extract(member, destination, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        # tarfile's "could not be opened" lists each method tried on its own line: one line here
        why = "; ".join(part.strip(" -") for part in str(error).splitlines() if part.strip(" -"))
        raise DataError(f"{archive} is not a readable archive ({why})", file=str(archive), key="--from",
                        fix="download it again (the file is damaged or incomplete)") from None


def _move_or_copy(source: Path, destination: Path, reporter: Reporter) -> None:
    if source.resolve() == destination.resolve():
        return
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, destination)
        reporter.note(f"moved {source} -> {destination}")
    except OSError:
        shutil.copytree(source, destination)
        reporter.note(f"copied {source} -> {destination}")


def _found_folder(base: Path, marker: str) -> Path | None:
    """The folder under `base` (itself or up to two levels down) that holds `marker`."""
    for depth in range(3):
        for candidate in sorted(base.glob("/".join(["*"] * depth)) if depth else [base]):
            if candidate.is_dir() and (candidate / marker).exists():
                return candidate
    return None


# --------------------------------------------------------------------------------------------------
# mmseg's converters


def converter_path(script: str) -> Path:
    spec = importlib.util.find_spec("mmseg")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("mmsegmentation is not installed", key="data prepare",
                        fix="install the package (pip install -e .) in this environment")
    path = Path(list(spec.submodule_search_locations)[0]) / ".mim" / "tools" / "dataset_converters" / script
    if not path.is_file():
        raise DataError(f"mmseg's converter {script} is missing from the installed wheel", file=str(path),
                        key="data prepare", fix="reinstall mmsegmentation==1.2.2")
    return path


def load_converter(script: str):
    """mmseg's converter script as a module (registered in sys.modules so worker processes find it)."""
    module_name = f"_ssa_bench_mmseg_converter_{Path(script).stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, converter_path(script))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def require_detail_api() -> None:
    """pascal_context.py imports `Detail` from the PASCAL in Detail API (module `detail`)."""
    try:
        from detail import Detail  # noqa: F401
    except ImportError:
        raise DataError("converting PASCAL-Context needs the PASCAL in Detail API (Python module 'detail'), "
                        "which is not installed", key="pascal_context59",
                        fix=f"{DETAIL_INSTALL} (not the unrelated PyPI package 'detail'), then run this again") from None


def _convert_coco(raw: Path, root: Path, reporter: Reporter, jobs: int) -> None:
    converter = load_converter("coco_stuff10k.py")
    train, test = converter.generate_coco_list(str(raw))
    for folder in ("images/train2014", "images/test2014", "annotations/train2014", "annotations/test2014"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for items, is_train, split in ((train, True, "train2014"), (test, False, "test2014")):
        missing = [img for img, mat in items
                   if not (raw / "images" / img).is_file() or not (raw / "annotations" / mat).is_file()]
        if missing:
            raise DataError(f"{len(missing)} of the {len(items)} {split} images listed in imageLists have no "
                            f"image or .mat annotation (first: {missing[0]})", file=str(raw), key="--from",
                            fix=f"download {COCO_ZIP.file} again from {COCO_ZIP.url}")
        convert = partial(converter.convert_to_trainID, in_img_dir=str(raw / "images"),
                          in_ann_dir=str(raw / "annotations"), out_img_dir=str(root / "images"),
                          out_mask_dir=str(root / "annotations"), is_train=is_train)
        description = f"coco_stuff10k: converting {split}"
        if jobs > 1 and len(items) > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for _ in reporter.track(pool.imap_unordered(convert, items, chunksize=16), len(items), description):
                    pass
        else:
            for item in reporter.track(items, len(items), description):
                convert(item)


def _convert_pascal_context(devkit: Path, annotations: Path, reporter: Reporter) -> None:
    require_detail_api()
    converter = load_converter("pascal_context.py")
    voc = devkit / "VOC2010"
    out_dir = voc / "SegmentationClassContext"
    lists = voc / "ImageSets" / "SegmentationContext"
    out_dir.mkdir(parents=True, exist_ok=True)
    lists.mkdir(parents=True, exist_ok=True)
    for phase in ("train", "val"):
        # What the converter's main() does, with our progress instead of mmengine's.
        detail = converter.Detail(str(annotations), str(voc / "JPEGImages"), phase)
        images = detail.getImgs()
        names = [converter.generate_labels(image, detail=detail, out_dir=str(out_dir))
                 for image in reporter.track(images, len(images), f"pascal_context59: converting {phase}")]
        (lists / f"{phase}.txt").write_text("".join(f"{name}\n" for name in sorted(names)))


# --------------------------------------------------------------------------------------------------
# The command


def prepare(name: str, source: str | os.PathLike, reporter: Reporter | None = None,
            jobs: int | None = None, keep_raw: bool = False) -> Verification:
    """Unpack and convert the archives in `source` into dataset_root(name), then verify the result.

    Raises DataError (one line) for a missing or damaged archive, a missing converter dependency,
    and a result that does not match the published split sizes or label range.
    """
    from ssa_bench.data import dataset_root

    if name not in RECIPES:
        raise DataError(f"no preparation for dataset '{name}'", key="DATASET",
                        fix=f"use one of: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    source = Path(source).expanduser().absolute()
    if not source.is_dir():
        raise DataError(f"--from {source} is not a folder", file=str(source), key="--from",
                        fix=f"give the folder holding {' and '.join(a.file for a in recipe.archives)}")
    reporter = reporter or Reporter()
    jobs = max(1, jobs or min(8, os.cpu_count() or 1))
    root = dataset_root(name)
    inputs = [_find_input(source, archive) for archive in recipe.archives]
    if name == "pascal_context59":
        require_detail_api()          # before unpacking 2 GB for nothing
    reporter.note(f"{name}: from {', '.join(str(p) for p in inputs)} into {root}")

    if name == "ade20k":
        (found,) = inputs
        if found.is_file():
            _extract(found, root.parent, reporter)
            found = _found_folder(root.parent, ADE_ZIP.marker) or root
        _move_or_copy(found, root, reporter)
    elif name == "coco_stuff10k":
        (found,) = inputs
        staging = None
        if found.is_file():
            staging = root / "_unpacked"
            _extract(found, staging, reporter)
            found = _found_folder(staging, COCO_ZIP.marker)
            if found is None:
                raise DataError(f"{COCO_ZIP.file} holds no {COCO_ZIP.marker}", file=str(inputs[0]), key="--from",
                                fix=f"download it again from {COCO_ZIP.url}")
        _convert_coco(found, root, reporter, jobs)
        if staging is not None and not keep_raw:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        images, annotations = inputs
        devkit = root.parent                      # <data>/VOCdevkit; root is <data>/VOCdevkit/VOC2010
        if images.is_file():
            _extract(images, devkit.parent, reporter,
                     keep=lambda member: "/JPEGImages/" in member or member.rstrip("/").endswith("JPEGImages"))
        else:
            _move_or_copy(images / "VOC2010" / "JPEGImages", root / "JPEGImages", reporter)
        _convert_pascal_context(devkit, annotations, reporter)

    result = verify(name, root, reporter)
    if not result.ok:
        for line in result.summary():
            reporter.note(line)
        files = " and ".join(a.file for a in recipe.archives)
        raise DataError(f"{name} does not match the published dataset: {'; '.join(result.problems())}",
                        file=str(root), fix=f"check that {files} {'is' if len(recipe.archives) == 1 else 'are'} "
                                            "complete (download again) and run this again")
    return result


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

