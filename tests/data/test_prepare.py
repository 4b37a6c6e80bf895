"""`ssa-bench data prepare`: tiny fake archives in the published layouts, converted by mmseg's own
converters end to end, then checked (counts against the split sizes, label values).

Nothing is downloaded: every archive is written here. PASCAL-Context's converter imports the PASCAL
in Detail API (`detail`), which is not installed here; a stand-in module with the three calls the
converter makes (`Detail(json, image_dir, phase)`, `getImgs()`, `getMask(img)`) is put on the path.
"""
from __future__ import annotations

import dataclasses
import io
import json
import tarfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssa_bench import data
from ssa_bench.cli import main
from ssa_bench.data import prepare
from ssa_bench.data.recipes import DETAIL_INSTALL, RECIPES
from ssa_bench.errors import DataError


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "data"
    monkeypatch.setenv("SSA_BENCH_DATA", str(home))
    return home


def sized(name: str, **sizes: int) -> None:
    """Make the recipe of `name` expect the fake archive's split sizes (by split name)."""
    recipe = RECIPES[name]
    splits = tuple(dataclasses.replace(s, expected=sizes[s.name]) for s in recipe.splits)
    RECIPES[name] = dataclasses.replace(recipe, splits=splits)


@pytest.fixture(autouse=True)
def restore_recipes():
    saved = dict(RECIPES)
    yield
    RECIPES.clear()
    RECIPES.update(saved)


def jpeg_bytes(seed: int, size=(12, 9)) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- COCO

COCO_TRAIN = ["COCO_train2014_000000000077", "COCO_train2014_000000000078", "COCO_train2014_000000000079"]
COCO_TEST = ["COCO_train2014_000000000080", "COCO_train2014_000000000081"]
# Raw COCO-Stuff ids: 0 unlabeled, 1 person, 13 (stop sign: the first id after the gap at 12), 182 wood
COCO_RAW = np.array([[0, 1, 13], [182, 182, 1]], dtype=np.uint16)


def make_coco_zip(folder: Path, names=(COCO_TRAIN, COCO_TEST), drop_mat: str | None = None) -> Path:
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cocostuff-10k-v1.1.zip"
    train, test = names
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("imageLists/train.txt", "".join(f"{n}\n" for n in train))
        archive.writestr("imageLists/test.txt", "".join(f"{n}\n" for n in test))
        archive.writestr("imageLists/all.txt", "".join(f"{n}\n" for n in train + test))
        for index, name in enumerate(train + test):
            archive.writestr(f"images/{name}.jpg", jpeg_bytes(index, size=(3, 2)))
            if name == drop_mat:
                continue
            buffer = io.BytesIO()
            savemat(buffer, {"S": COCO_RAW, "names": np.array(["unlabeled", "person"], dtype=object)})
            archive.writestr(f"annotations/{name}.mat", buffer.getvalue())
    return path


def test_coco_stuff10k_end_to_end(tmp_path, data_home, capsys):
    sized("coco_stuff10k", train2014=3, test2014=2)
    make_coco_zip(tmp_path / "downloads")
    assert main(["data", "prepare", "coco_stuff10k", "--from", str(tmp_path / "downloads"), "--jobs", "2"]) == 0
    root = data_home / "coco_stuff10k"
    for split, names in (("train2014", COCO_TRAIN), ("test2014", COCO_TEST)):
        assert sorted(p.stem for p in (root / "images" / split).glob("*.jpg")) == names
        labels = sorted((root / "annotations" / split).glob("*_labelTrainIds.png"))
        assert [p.name for p in labels] == [f"{n}_labelTrainIds.png" for n in names]
    label = np.asarray(Image.open(root / "annotations" / "train2014" / f"{COCO_TRAIN[0]}_labelTrainIds.png"))
    # mmseg's id map: 0 -> 0 (unlabeled), 1 -> 1, 13 -> 12 (the 11 unused thing ids are dropped), 182 -> 171
    assert label.tolist() == [[0, 1, 12], [171, 171, 1]]
    assert not (root / "_unpacked").exists()        # the raw archive is not kept by default
    out = capsys.readouterr().out
    assert "train2014: 3 images, 3 labels (expected 3) ok" in out
    assert "test2014: 2 images, 2 labels (expected 2) ok" in out
    assert "labels on disk: 0..171" in out and "the model sees 0..170 + 255" in out
    assert "coco_stuff10k ready at" in out
    # where the runs look: `data check` finds it, and --check-only passes
    assert {r["name"]: r["found"] for r in data.check()}["coco_stuff10k"]
    assert main(["data", "prepare", "coco_stuff10k", "--check-only"]) == 0


def test_coco_wrong_counts_are_reported(tmp_path, data_home, capsys):
    make_coco_zip(tmp_path / "downloads")            # 3 + 2 images, the recipe expects 9000 + 1000
    assert main(["data", "prepare", "coco_stuff10k", "--from", str(tmp_path / "downloads"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]
    assert len(error_lines) == 1
    assert "train2014: 3 images and 3 labels, expected 9000 of each" in error_lines[0]
    assert "test2014: 2 images and 2 labels, expected 1000 of each" in error_lines[0]
    assert "cocostuff-10k-v1.1.zip" in error_lines[0]
    assert "(expected 9000) WRONG" in err          # the findings are printed before the error


def test_coco_incomplete_archive(tmp_path):
    make_coco_zip(tmp_path / "downloads", drop_mat=COCO_TEST[1])
    with pytest.raises(DataError, match=r"1 of the 2 test2014 images listed in imageLists have no image or \.mat"):
        prepare.prepare("coco_stuff10k", tmp_path / "downloads")


def test_coco_unpacked_folder_is_accepted(tmp_path, data_home):
    sized("coco_stuff10k", train2014=3, test2014=2)
    archive = make_coco_zip(tmp_path / "zip")
    unpacked = tmp_path / "downloads" / "cocostuff-10k-v1.1"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(unpacked)
    result = prepare.prepare("coco_stuff10k", tmp_path / "downloads", jobs=1)
    assert result.ok and result.label_values == [0, 1, 12, 171]
    assert (unpacked / "imageLists" / "train.txt").is_file()     # the user's folder is left as it was


def test_missing_archive_is_one_line_naming_file_and_url(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for name, file, url in (("coco_stuff10k", "cocostuff-10k-v1.1.zip", "calvin.inf.ed.ac.uk"),
                            ("ade20k", "ADEChallengeData2016.zip", "data.csail.mit.edu"),
                            ("pascal_context59", "VOCtrainval_03-May-2010.tar", "host.robots.ox.ac.uk")):
        assert main(["data", "prepare", name, "--from", str(tmp_path / "empty")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("ssa-bench: error:")
        assert str(tmp_path / "empty" / file) in err and url in err


def test_bad_arguments(tmp_path, capsys):
    assert main(["data", "prepare", "cityscapes", "--from", str(tmp_path)]) == 2
    assert "use one of: ade20k, coco_stuff10k, pascal_context59" in capsys.readouterr().err
    assert main(["data", "prepare", "ade20k"]) == 2
    assert "needs --from DIR" in capsys.readouterr().err
    assert main(["data", "prepare", "ade20k", "--from", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_damaged_archive(tmp_path):
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "ADEChallengeData2016.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable archive"):
        prepare.prepare("ade20k", tmp_path / "downloads")


def test_check_only_on_a_missing_dataset(capsys):
    assert main(["data", "prepare", "coco_stuff10k", "--check-only"]) == 2
    err = capsys.readouterr().err
    assert "0 images and 0 labels, expected 9000" in err and "ssa-bench data prepare coco_stuff10k --from DIR" in err


# --------------------------------------------------------------------------------------------- ADE20K

def make_ade_zip(folder: Path, counts=(3, 2), label_max=150) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ADEChallengeData2016.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ADEChallengeData2016/objectInfo150.txt", "Idx\tRatio\tTrain\tVal\tName\n")
        for split, count in zip(("training", "validation"), counts):
            for index in range(count):
                name = f"ADE_{split[:5]}_{index:08d}"
                archive.writestr(f"ADEChallengeData2016/images/{split}/{name}.jpg", jpeg_bytes(index))
                archive.writestr(f"ADEChallengeData2016/annotations/{split}/{name}.png",
                                 png_bytes(np.array([[0, 1], [label_max, 7]])))
    return path


def test_ade20k_unpacks_and_checks(tmp_path, data_home, capsys):
    sized("ade20k", training=3, validation=2)
    make_ade_zip(tmp_path / "downloads")
    assert main(["data", "prepare", "ade20k", "--from", str(tmp_path / "downloads")]) == 0
    root = data_home / "ade" / "ADEChallengeData2016"
    assert len(list((root / "images" / "training").glob("*.jpg"))) == 3
    assert len(list((root / "annotations" / "validation").glob("*.png"))) == 2
    out = capsys.readouterr().out
    assert "training: 3 images, 3 labels (expected 3) ok" in out
    assert "labels on disk: 0..150" in out and "the model sees 0..149 + 255" in out
    assert {r["name"]: r["found"] for r in data.check()}["ade20k"]


def test_ade20k_real_sizes_and_bad_labels(tmp_path, capsys):
    make_ade_zip(tmp_path / "downloads", label_max=200)
    assert main(["data", "prepare", "ade20k", "--from", str(tmp_path / "downloads")]) == 2
    err = capsys.readouterr().err
    assert "training: 3 images and 3 labels, expected 20210 of each" in err
    assert "validation: 2 images and 2 labels, expected 2000 of each" in err
    assert "label values [200] outside 0..150" in err


def test_ade20k_unpacked_folder_is_moved(tmp_path, data_home):
    sized("ade20k", training=3, validation=2)
    with zipfile.ZipFile(make_ade_zip(tmp_path / "zip")) as zipped:
        zipped.extractall(tmp_path / "downloads")
    result = prepare.prepare("ade20k", tmp_path / "downloads")
    assert result.ok and result.root == data_home / "ade" / "ADEChallengeData2016"
    assert not (tmp_path / "downloads" / "ADEChallengeData2016").exists()


# ------------------------------------------------------------------------------------ PASCAL-Context

DETAIL_STUB = textwrap.dedent('''
    """Stand-in for the PASCAL in Detail API: the calls mmseg's pascal_context.py makes."""
    import json

    import numpy as np


    class Detail:
        def __init__(self, annotation_file, image_folder, phase):
            with open(annotation_file) as handle:
                self.data = json.load(handle)
            self.phase = phase

        def getImgs(self):
            return [img for img in self.data["images"] if img["phase"] == self.phase]

        def getMask(self, img):
            return np.array(self.data["masks"][str(img["image_id"])], dtype=float)
''')

PC_TRAIN = ["2008_000002", "2008_000003", "2008_000007"]
PC_VAL = ["2008_000009", "2008_000016"]
# Category ids of the merged annotations that mmseg keeps: 0 (background), 2 (the smallest), 458 (the largest)
PC_MASK = [[0, 2, 2], [458, 458, 0]]


@pytest.fixture
def detail_stub(tmp_path, monkeypatch):
    package = tmp_path / "stub" / "detail"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(DETAIL_STUB)
    monkeypatch.syspath_prepend(str(tmp_path / "stub"))
    monkeypatch.delitem(__import__("sys").modules, "detail", raising=False)


def make_pascal_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, masks = [], {}
    for image_id, (name, phase) in enumerate([(n, "train") for n in PC_TRAIN] + [(n, "val") for n in PC_VAL]):
        images.append({"image_id": image_id, "file_name": f"{name}.jpg", "phase": phase, "height": 2, "width": 3})
        masks[str(image_id)] = PC_MASK
    (folder / "trainval_merged.json").write_text(json.dumps({"images": images, "masks": masks}))
    with tarfile.open(folder / "VOCtrainval_03-May-2010.tar", "w") as tar:
        members = {f"VOCdevkit/VOC2010/JPEGImages/{n}.jpg": jpeg_bytes(i, size=(3, 2))
                   for i, n in enumerate(PC_TRAIN + PC_VAL + ["2010_999999"])}
        members["VOCdevkit/VOC2010/Annotations/2008_000002.xml"] = b"<annotation/>"
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_pascal_context59_end_to_end(tmp_path, data_home, detail_stub, capsys):
    sized("pascal_context59", train=3, val=2)
    make_pascal_inputs(tmp_path / "downloads")
    assert main(["data", "prepare", "pascal_context59", "--from", str(tmp_path / "downloads")]) == 0
    root = data_home / "VOCdevkit" / "VOC2010"
    assert (root / "ImageSets/SegmentationContext/train.txt").read_text().split() == PC_TRAIN
    assert (root / "ImageSets/SegmentationContext/val.txt").read_text().split() == PC_VAL
    assert not (root / "Annotations").exists()       # only the images are unpacked from the VOC tar
    label = np.asarray(Image.open(root / "SegmentationClassContext" / f"{PC_VAL[0]}.png"))
    assert label.tolist() == [[0, 1, 1], [59, 59, 0]]    # mmseg's 60-id map: 0 background, 1..59
    out = capsys.readouterr().out
    assert "train: 3 images, 3 labels (expected 3) ok" in out and "val: 2 images, 2 labels (expected 2) ok" in out
    assert "labels on disk: 0..59" in out and "the model sees 0..58 + 255" in out
    assert {r["name"]: r["found"] for r in data.check()}["pascal_context59"]


def test_pascal_context59_from_an_unpacked_devkit(tmp_path, data_home, detail_stub):
    """The tar already unpacked, the annotations where mmseg's docs put them (VOC2010/)."""
    sized("pascal_context59", train=3, val=2)
    make_pascal_inputs(tmp_path / "zip")
    downloads = tmp_path / "downloads"
    with tarfile.open(tmp_path / "zip" / "VOCtrainval_03-May-2010.tar") as tar:
        tar.extractall(downloads, filter="data")
    (tmp_path / "zip" / "trainval_merged.json").rename(downloads / "VOCdevkit" / "VOC2010" / "trainval_merged.json")
    result = prepare.prepare("pascal_context59", downloads)
    assert result.ok and result.label_values == [0, 1, 59]
    assert len(list((data_home / "VOCdevkit" / "VOC2010" / "JPEGImages").glob("*.jpg"))) == 6


def test_pascal_context59_without_the_detail_api(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "detail", None)     # import detail -> ImportError
    make_pascal_inputs(tmp_path / "downloads")
    assert main(["data", "prepare", "pascal_context59", "--from", str(tmp_path / "downloads")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert DETAIL_INSTALL in err and "not the unrelated PyPI package 'detail'" in err


def test_pascal_context59_missing_annotations(tmp_path, detail_stub, capsys):
    make_pascal_inputs(tmp_path / "downloads")
    (tmp_path / "downloads" / "trainval_merged.json").unlink()
    assert main(["data", "prepare", "pascal_context59", "--from", str(tmp_path / "downloads")]) == 2
    err = capsys.readouterr().err
    assert "trainval_merged.json not found" in err and "codalabuser.blob.core.windows.net" in err


# ------------------------------------------------------------------------------ facts against mmseg

def test_recipes_match_mmseg_datasets_and_configs():
    """Split folders, suffixes, class counts and the reduce-zero-label convention are mmseg's."""
    import os

    from mmengine.config import Config

    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    from mmseg.datasets import ADE20KDataset, COCOStuffDataset, PascalContextDataset59

    from ssa_bench.vocabulary.names import DATASETS
    from ssa_bench.configs.baselines import mmseg_config_dir
    from ssa_bench.configs.dataloaders import MMSEG_DATASET_FILES

    classes = {"ade20k": ADE20KDataset, "coco_stuff10k": COCOStuffDataset, "pascal_context59": PascalContextDataset59}
    for name, recipe in RECIPES.items():
        assert recipe.num_classes == len(classes[name].METAINFO["classes"]) == DATASETS[name].num_classes
        assert recipe.max_label == recipe.num_classes           # disk 0 is ignored, 1..N are the classes
        cfg = Config.fromfile(os.path.join(mmseg_config_dir(), MMSEG_DATASET_FILES[name]))
        for split, loader in zip(recipe.splits, (cfg.train_dataloader, cfg.val_dataloader)):
            dataset = loader.dataset
            assert dataset.data_prefix.img_path == split.images
            assert dataset.data_prefix.seg_map_path == split.labels
            assert dataset.get("ann_file", None) in (split.list_file, None)
            loads = [s for s in dataset.pipeline if s["type"] == "LoadAnnotations"]
            assert loads and all(s.get("reduce_zero_label") for s in loads)
        assert data.REQUIRED[name]                           # `data check` knows the dataset
    assert COCOStuffDataset(data_root="/nonexistent", lazy_init=True, reduce_zero_label=True).seg_map_suffix \
        == RECIPES["coco_stuff10k"].splits[0].seg_suffix
