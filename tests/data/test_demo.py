"""The embedded demo data set: deterministic, ADE20K layout, atomic, self-checking."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from ssa_bench import data
from ssa_bench.data import demo
from ssa_bench.errors import DataError


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return data.make_demo(tmp_path_factory.mktemp("d") / "demo_shapes")


def test_layout_and_labels(demo_root):
    for split, count in demo.SPLITS.items():
        images = sorted((demo_root / "images" / split).glob("*.jpg"))
        labels = sorted((demo_root / "annotations" / split).glob("*.png"))
        assert len(images) == len(labels) == count
        assert [p.stem for p in images] == [p.stem for p in labels]
    image = np.asarray(Image.open(images[0]))
    label = np.asarray(Image.open(labels[0]))
    assert image.shape == (demo.SIZE, demo.SIZE, 3) and image.dtype == np.uint8
    assert label.shape == (demo.SIZE, demo.SIZE)
    # reduce_zero_label convention: 0 is clutter, the classes are 1..8 on disk
    values = np.unique(np.concatenate([np.asarray(Image.open(p)).ravel() for p in labels]))
    assert values.min() == 0 and set(values) <= set(range(len(demo.CLASSES) + 1))
    assert len(values) == len(demo.CLASSES) + 1


def test_every_class_frequent_in_both_splits(demo_root):
    for split in demo.SPLITS:
        counts = np.zeros(len(demo.CLASSES) + 1, int)
        for path in (demo_root / "annotations" / split).glob("*.png"):
            counts += np.bincount(np.asarray(Image.open(path)).ravel(), minlength=len(counts))
        assert (counts[1:] > 0.03 * counts[1:].sum()).all(), counts


def test_class_appearance_shifts_between_images():
    # A fixed colour per class would make the task a colour lookup: the mean colour of one class
    # must vary across images by more than the colour noise within an object.
    rng = np.random.default_rng(0)
    means = []
    for _ in range(60):
        image, label = demo.make_sample(rng)
        mask = label == 1
        if mask.sum() > 30:
            means.append(image[mask].astype(float).mean(0))
    assert len(means) > 5
    assert np.std(np.array(means), axis=0).mean() > 15


# sha256 of the label maps of each variant's first 20 samples, from the code as it was when the
# demo results in docs/ were made (before shapes were drawn in their bounding boxes): the data a
# version number names must not change under a refactoring. Labels only: the images' colours go
# through float sin/cos, whose last bits may differ between CPUs' SIMD paths.
LABELS_SHA256 = {
    "demo_shapes": "f9a14e7f03ac9b92944054e9faf6c45527847d9ed0947e60d6f81078591df155",
    "demo_scenes": "9a72b40f2408a972ca58d1ab5cffc8b4e6f0d095c1a3b316be03f25e020fce69",
}


@pytest.mark.parametrize("name", sorted(LABELS_SHA256))
def test_the_labels_of_a_version_never_change(name):
    variant = demo.VARIANTS[name]
    rng = np.random.default_rng(variant.seed)
    digest = hashlib.sha256()
    for _ in range(20):
        digest.update(demo.make_sample(rng, variant)[1].tobytes())
    assert digest.hexdigest() == LABELS_SHA256[name]


def test_deterministic(tmp_path, demo_root):
    again = data.make_demo(tmp_path / "demo_shapes")
    assert demo.checksum(again) == demo.checksum(demo_root)
    manifest = json.loads((again / demo.MANIFEST).read_text())
    assert manifest["version"] == demo.VARIANTS["demo_shapes"].version
    assert manifest["checksum"] == demo.checksum(again) and manifest["variant"] == "demo_shapes"


def test_damaged_copy_is_regenerated(tmp_path, demo_root):
    root = tmp_path / "demo_shapes"
    shutil.copytree(demo_root, root)
    good = demo.checksum(root)
    assert demo.is_valid(root)
    victim = next((root / "annotations" / "training").glob("*.png"))
    victim.unlink()                                   # half-written / damaged copy
    assert not demo.is_valid(root)
    data.make_demo(root)
    assert demo.is_valid(root) and demo.checksum(root) == good
    stale = demo.VARIANTS["demo_shapes"].version - 1
    (root / demo.MANIFEST).write_text(json.dumps({"version": stale}))   # stale version
    assert not demo.is_valid(root)
    assert demo.is_valid(data.make_demo(root))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]        # no temp dirs left


def test_demo_scenes_are_larger_than_the_crops_and_vary_more(tmp_path):
    # The study's data: 128x128 scenes (tested whole after 64x64 crops), a class's colour moving
    # further between images than in demo_shapes, and the same classes.
    root = data.make_demo(tmp_path / "demo_scenes", "demo_scenes")
    assert demo.is_valid(root, "demo_scenes") and not demo.is_valid(root, "demo_shapes")
    image = np.asarray(Image.open(next((root / "images" / "validation").glob("*.jpg"))))
    assert image.shape == (128, 128, 3)
    counts = np.zeros(len(demo.CLASSES) + 1, int)
    for path in (root / "annotations" / "training").glob("*.png"):
        counts += np.bincount(np.asarray(Image.open(path)).ravel(), minlength=len(counts))
    assert (counts[1:] > 0.03 * counts[1:].sum()).all(), counts
    assert counts[1:].sum() > 0.5 * counts.sum()              # dense, as demo_shapes

    def hue_spread(name):
        rng = np.random.default_rng(0)
        means = []
        for _ in range(60):
            picture, label = demo.make_sample(rng, demo.VARIANTS[name])
            mask = label == 1
            if mask.sum() > 30:
                means.append(picture[mask].astype(float).mean(0))
        return np.std(np.array(means), axis=0).mean()

    assert hue_spread("demo_scenes") > hue_spread("demo_shapes")


def test_valid_copy_is_not_rewritten(tmp_path):
    root = data.make_demo(tmp_path / "demo_shapes")
    stamp = (root / demo.MANIFEST).stat().st_mtime_ns
    data.make_demo(root)
    assert (root / demo.MANIFEST).stat().st_mtime_ns == stamp


def test_roots_check_and_ensure(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path))
    assert data.dataset_root("demo_shapes") == tmp_path / "demo_shapes"
    inline = {"root": str(tmp_path / "mine"), "classes": ["a"], "reduce_zero_label": False}
    assert data.dataset_root("mine", inline) == tmp_path / "mine"
    rows = {row["name"]: row for row in data.check()}
    assert set(rows) >= {"ade20k", "coco_stuff10k", "pascal_context59", "demo_shapes"}
    assert not rows["ade20k"]["found"] and "ADEChallengeData2016" in rows["ade20k"]["path"]
    assert rows["ade20k"]["fix"]
    assert not rows["demo_shapes"]["found"]
    data.ensure_datasets([{"dataset": "demo_shapes", "dataset_def": None}])
    assert {row["name"]: row for row in data.check()}["demo_shapes"]["found"]
    with pytest.raises(DataError) as error:
        data.ensure_datasets([{"dataset": "ade20k", "dataset_def": None}])
    message = str(error.value)
    assert "ade20k" in message and str(tmp_path) in message and "\n" not in message
    with pytest.raises(DataError, match="mine"):
        data.ensure_datasets([{"dataset": "mine", "dataset_def": inline}])
    for part in ("images/training", "annotations/training", "images/validation", "annotations/validation"):
        (tmp_path / "mine" / part).mkdir(parents=True)
    # the folders alone are not a data set: no images is refused before any run starts
    with pytest.raises(DataError, match="images"):
        data.ensure_datasets([{"dataset": "mine", "dataset_def": inline}])
    for part in ("images/training", "images/validation"):
        (tmp_path / "mine" / part / "a.jpg").write_bytes(b"")
    data.ensure_datasets([{"dataset": "mine", "dataset_def": inline}])


def test_no_torch_or_mmseg():
    import subprocess

    code = ("import sys, ssa_bench.data as d; d.check(); "
            "assert 'torch' not in sys.modules and 'mmseg' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered_mmseg_dataset(demo_root):
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import ssa_bench.data.mmseg_datasets  # noqa: F401 -- registers DemoShapesDataset
    from mmseg.registry import DATASETS

    dataset = DATASETS.build(dict(
        type="DemoShapesDataset", data_root=str(demo_root),
        data_prefix=dict(img_path="images/validation", seg_map_path="annotations/validation"),
        pipeline=[dict(type="LoadImageFromFile"), dict(type="mmseg.LoadAnnotations")]))
    assert len(dataset) == demo.SPLITS["validation"]
    assert tuple(dataset.metainfo["classes"]) == demo.CLASSES
    sample = dataset[0]
    on_disk = np.asarray(Image.open(dataset.get_data_info(0)["seg_map_path"]))
    # 0 -> 255 (ignore), k -> k - 1
    assert (sample["gt_seg_map"][on_disk == 0] == 255).all()
    assert (sample["gt_seg_map"][on_disk > 0] == on_disk[on_disk > 0] - 1).all()
