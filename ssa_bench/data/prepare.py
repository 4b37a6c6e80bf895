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

import os
import shutil
from pathlib import Path

from ssa_bench.errors import DataError
from ssa_bench.data.archives import extract, find_input, found_folder, move_or_copy
from ssa_bench.data.converters import convert_coco, convert_pascal_context, require_detail_api
from ssa_bench.data.progress import Reporter
from ssa_bench.data.recipes import ADE_ZIP, COCO_ZIP, RECIPES
from ssa_bench.data.verify import Verification, verify


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
    inputs = [find_input(source, archive) for archive in recipe.archives]
    if name == "pascal_context59":
        require_detail_api()          # before unpacking 2 GB for nothing
    reporter.note(f"{name}: from {', '.join(str(p) for p in inputs)} into {root}")

    if name == "ade20k":
        (found,) = inputs
        if found.is_file():
            extract(found, root.parent, reporter)
            found = found_folder(root.parent, ADE_ZIP.marker) or root
        move_or_copy(found, root, reporter)
    elif name == "coco_stuff10k":
        (found,) = inputs
        staging = None
        if found.is_file():
            staging = root / "_unpacked"
            extract(found, staging, reporter)
            found = found_folder(staging, COCO_ZIP.marker)
            if found is None:
                raise DataError(f"{COCO_ZIP.file} holds no {COCO_ZIP.marker}", file=str(inputs[0]), key="--from",
                                fix=f"download it again from {COCO_ZIP.url}")
        convert_coco(found, root, reporter, jobs)
        if staging is not None and not keep_raw:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        images, annotations = inputs
        devkit = root.parent                      # <data>/VOCdevkit; root is <data>/VOCdevkit/VOC2010
        if images.is_file():
            extract(images, devkit.parent, reporter,
                     keep=lambda member: "/JPEGImages/" in member or member.rstrip("/").endswith("JPEGImages"))
        else:
            move_or_copy(images / "VOC2010" / "JPEGImages", root / "JPEGImages", reporter)
        convert_pascal_context(devkit, annotations, reporter)

    result = verify(name, root, reporter)
    if not result.ok:
        for line in result.summary():
            reporter.note(line)
        files = " and ".join(a.file for a in recipe.archives)
        raise DataError(f"{name} does not match the published dataset: {'; '.join(result.problems())}",
                        file=str(root), fix=f"check that {files} {'is' if len(recipe.archives) == 1 else 'are'} "
                                            "complete (download again) and run this again")
    return result
