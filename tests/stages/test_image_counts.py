"""The evaluation's per-image evidence (issue 27, item 1): the IoU metric keeps every image's
per-class counts, the file holds them compactly, and their sums are the metric's own totals."""
from __future__ import annotations

import numpy as np
import pytest

from ssa_bench.store.image_counts import encode_image_counts, read_image_counts
from ssa_bench.store.records import Damaged


def _metric(n_classes: int):
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    from ssa_bench.stages.iou_metric import SSABenchIoUMetric

    metric = SSABenchIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": [f"c{index}" for index in range(n_classes)]}
    return metric


def _feed(metric, rng, n_images: int, n_classes: int, batch: int = 3) -> None:
    import torch

    samples = []
    for index in range(n_images):
        label = torch.from_numpy(rng.integers(0, n_classes - 1, (1, 23, 31)))     # last class never labelled
        label[0, :2] = 255                                                          # ignored pixels
        pred = torch.where(torch.from_numpy(rng.random((1, 23, 31)) < 0.7), label,
                           torch.from_numpy(rng.integers(0, n_classes, (1, 23, 31))))
        pred[pred == 255] = 0
        samples.append({"pred_sem_seg": {"data": pred}, "gt_sem_seg": {"data": label},
                        "img_path": f"/data/demo/img_dir/val/{index:04d}.png"})
    for start in range(0, n_images, batch):
        metric.process({}, samples[start:start + batch])


def test_per_image_counts_sum_to_the_metrics_own_totals_and_give_its_numbers():
    from ssa_bench.statistics import ImageCounts, point_metrics

    metric, rng = _metric(5), np.random.default_rng(0)
    _feed(metric, rng, 10, 5)
    numbers = metric.compute_metrics(metric.results)
    counts = metric.image_counts
    assert counts["intersection"].shape == (10, 5) and counts["names"][:2] == ["0000.png", "0001.png"]
    for key in ("intersection", "union", "label"):
        assert np.array_equal(counts[key].sum(axis=0), counts["totals"][key])
    assert (counts["label"][:, 4] == 0).all() and counts["union"][:, 4].sum() > 0     # predicted, never labelled
    # Through the file and back: the same numbers mmseg printed (it rounds to 2 decimals).
    stored = read_image_counts_from_bytes(encode_image_counts(
        counts["names"], counts["intersection"], counts["union"], counts["label"]))
    ours = point_metrics(ImageCounts.from_arrays(stored))
    for key in ("mIoU", "mAcc", "aAcc"):
        assert round(ours[key], 2) == pytest.approx(float(numbers[key]), abs=1e-4)   # mmseg: float32


def read_image_counts_from_bytes(data: bytes):
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "evaluate_counts.npz")
        with open(path, "wb") as handle:
            handle.write(data)
        return read_image_counts(path)


def test_the_file_is_compact_and_validated(tmp_path):
    small = np.array([[3, 0], [250, 7]])
    data = encode_image_counts(["a.png", "b.png"], small, small + 2, small + 1)
    path = tmp_path / "evaluate_counts.npz"
    path.write_bytes(data)
    with np.load(path) as archive:
        assert archive["intersection"].dtype == np.uint8 and archive["union"].dtype == np.uint8
    wide = encode_image_counts(["a"], np.array([[70000]]), np.array([[70000]]), np.array([[70000]]))
    path.write_bytes(wide)
    with np.load(path) as archive:
        assert archive["label"].dtype == np.uint32
    assert read_image_counts(str(path))["label"].dtype == np.int64
    assert read_image_counts(str(tmp_path / "absent.npz")) is None           # an older record: no evidence
    path.write_bytes(data[: len(data) // 2])
    assert isinstance(read_image_counts(str(path)), Damaged)                 # cut short
    path.write_bytes(encode_image_counts(["a"], np.array([[5]]), np.array([[4]]), np.array([[5]])))
    damaged = read_image_counts(str(path))
    assert isinstance(damaged, Damaged) and "cannot be" in damaged.what       # intersection above union


# -- found by mutation testing (tools/mutation.py store) -------------------------------------------
def test_every_kind_of_damage_names_the_file_and_the_fix(tmp_path):
    from ssa_bench.store import image_counts

    path = tmp_path / "evaluate_counts.npz"
    good = np.array([[3, 1]])
    cases = {
        "lacks the arrays ['label']": dict(names=np.array(["a"]), intersection=good, union=good),
        "holds arrays of shapes": dict(names=np.array(["a", "b"]), intersection=good, union=good, label=good),
        "non-integer": dict(names=np.array(["a"]), intersection=good * 0.5, union=good, label=good),
        "shapes [(2,)]": dict(names=np.array(["a", "b"]), intersection=np.array([1, 2]),
                              union=np.array([1, 2]), label=np.array([1, 2])),
    }
    for expected, arrays in cases.items():
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        damaged = read_image_counts(str(path))
        assert isinstance(damaged, Damaged), expected
        assert damaged.path == str(path) and expected in damaged.what and damaged.fix == image_counts._FIX
    path.unlink()
    path.mkdir()
    damaged = read_image_counts(str(path))
    assert damaged.path == str(path) and "directory" in damaged.what and damaged.fix == image_counts._FIX
    path.rmdir()
    path.write_bytes(b"not a zip")
    damaged = read_image_counts(str(path))
    assert damaged.path == str(path) and ".npz" in damaged.what and damaged.fix == image_counts._FIX


def test_encoding_keeps_the_names_and_refuses_negative_counts(tmp_path):
    path = tmp_path / "evaluate_counts.npz"
    path.write_bytes(encode_image_counts(["a.png", 7], np.array([[1], [2]]), np.array([[1], [2]]),
                                         np.array([[1], [2]])))
    assert read_image_counts(str(path))["names"] == ("a.png", "7")
    with pytest.raises(ValueError, match="negative union count"):
        encode_image_counts(["a"], np.array([[1]]), np.array([[-1]]), np.array([[1]]))
    empty = encode_image_counts([], np.zeros((0, 2), int), np.zeros((0, 2), int), np.zeros((0, 2), int))
    path.write_bytes(empty)
    assert read_image_counts(str(path))["intersection"].shape == (0, 2)


def test_the_bootstrap_draws_file_round_trips_and_a_cut_or_foreign_file_is_damaged(tmp_path):
    from ssa_bench.statistics import ImageCounts, RunDraws, draw_runs
    from ssa_bench.store.image_counts import encode_bootstrap_draws, read_bootstrap_draws

    rng = np.random.default_rng(0)
    label = rng.integers(1, 50, (12, 3))
    counts = ImageCounts(tuple(f"{i}.png" for i in range(12)), label // 2, label + 3, label)
    (draws,) = draw_runs([counts], n_resamples=40, seed=1)
    data = encode_bootstrap_draws(draws.to_arrays())
    path = tmp_path / "evaluate_draws.bin"
    path.write_bytes(data)
    back = RunDraws.from_arrays(read_bootstrap_draws(str(path)))
    assert (back.images, back.n_images, back.n_classes, back.n_resamples, back.seed, back.point) == \
        (draws.images, 12, 3, 40, 1, draws.point)
    for metric in draws.resampled:
        np.testing.assert_array_equal(back.resampled[metric], draws.resampled[metric])
        np.testing.assert_array_equal(back.left_out[metric], draws.left_out[metric])
    assert read_bootstrap_draws(str(tmp_path / "absent.bin")) is None
    for broken, why in ((data[:-8], "cut short"), (b"PK\x03\x04", "not a bootstrap draws file"),
                        (data[:40], "unreadable header")):
        path.write_bytes(broken)
        damaged = read_bootstrap_draws(str(path))
        assert isinstance(damaged, Damaged) and why in str(damaged), (why, damaged)


def test_every_damage_of_the_bootstrap_draws_file_names_the_file_and_the_fix(tmp_path):
    from ssa_bench.statistics import ImageCounts, draw_runs
    from ssa_bench.store.image_counts import encode_bootstrap_draws, read_bootstrap_draws

    label = np.random.default_rng(0).integers(1, 50, (6, 2))
    (draws,) = draw_runs([ImageCounts(tuple(f"{i}.png" for i in range(6)), label // 2, label + 3, label)],
                         n_resamples=10, seed=1)
    data = encode_bootstrap_draws(draws.to_arrays())
    fix = "delete it: reports then resample the run's per-image counts instead"
    (tmp_path / "a-file").write_bytes(b"")
    (tmp_path / "folder.bin").mkdir()
    body = len(data) - data.index(b"\n", data.index(b"{")) - 1       # the draws after the header line
    cases = {"cut.bin": (data[:-8], f"holds {body - 8} bytes of draws where its header promises {body} (cut short?)"),
             "foreign.bin": (b"PK\x03\x04", "is not a bootstrap draws file"),
             "header.bin": (data[:40], "has an unreadable header (")}
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    cases["folder.bin"] = (None, "is a directory where a file should be")
    cases["a-file/draws.bin"] = (None, "cannot be read ([Errno 20] Not a directory")
    for name, (_, what) in cases.items():
        path = str(tmp_path / name)
        damaged = read_bootstrap_draws(path)
        assert isinstance(damaged, Damaged) and (damaged.path, damaged.fix) == (path, fix), name
        assert damaged.what.startswith(what), (name, damaged.what)
        assert damaged.message() == f"{path}: {damaged.what}; {fix}"
