"""mmseg's own dataset converters (``mmseg/.mim/tools/dataset_converters``), loaded from the
installed wheel and fed their inputs: COCO-Stuff 10k and PASCAL-Context."""
from __future__ import annotations

import importlib.util
import multiprocessing
import sys
from functools import partial
from pathlib import Path

from ssa_bench.errors import DataError
from ssa_bench.data.progress import Reporter
from ssa_bench.data.recipes import COCO_ZIP, DETAIL_INSTALL


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


def convert_coco(raw: Path, root: Path, reporter: Reporter, jobs: int) -> None:
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


def convert_pascal_context(devkit: Path, annotations: Path, reporter: Reporter) -> None:
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
