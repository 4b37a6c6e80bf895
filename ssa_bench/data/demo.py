"""The embedded demo data sets, generated, deterministic, in ADE20K layout.

``demo_shapes`` (the cpu-demo profile's): 64x64 images, trained on 64x64 crops and tested whole, so
train and test see the same image size. ``demo_scenes`` behaves more like real data (the schedule
study's): 128x128 scenes tested whole after training on 64x64 crops (a classifier's spatial
softmax meets a four times larger map at test, as on ADE20K or street scenes), and a class's look
moves further between images (hue shift 0.2 against 0.125 between two classes' mean hues).

Eight classes of regular shapes in dense, cluttered 64x64 scenes. What makes it a test of SSA
rather than of a fixed classifier: a class's look (hue, saturation, brightness, texture) is drawn
anew for every image, and every image has its own colour cast, so a class's features shift from
image to image; within one image all objects of a class share one look. A pixel's class is
therefore best told from how it relates to the other pixels of its image (SSA's adapted
prototypes), with shape as the stable cue. Label 0 is unlabelled clutter (ignored, ADE20K's
reduce-zero-label convention), about a third of the pixels; classes are 1..8 on disk.

numpy + PIL only; a few seconds for a whole set.
"""
from __future__ import annotations

import colorsys
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from dataclasses import dataclass

CLASSES = ("disc", "square", "triangle", "ring", "cross", "diamond", "bar", "ellipse")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Variant:
    name: str
    version: int
    size: int                  # images are size x size
    splits: dict
    seed: int
    # How far a class's hue moves between images, against the 1/8 between two classes' mean hues
    # (with the colour cast on top, neighbouring classes overlap in colour across images).
    hue_shift: float
    objects: tuple[int, int]   # objects per image, [low, high)
    clutter: tuple[int, int]   # unlabelled blobs per image, [low, high)


VARIANTS = {v.name: v for v in [
    Variant("demo_shapes", 3, 64, {"training": 320, "validation": 80}, 20240511, 0.11,
            (14, 20), (2, 5)),
    # Four times the area with four times the objects: the same object sizes and density.
    Variant("demo_scenes", 1, 128, {"training": 320, "validation": 80}, 20240512, 0.2,
            (56, 80), (8, 20)),
]}
DEFAULT = "demo_shapes"
# Kept for the callers that know only the first demo.
SIZE = VARIANTS[DEFAULT].size
SPLITS = VARIANTS[DEFAULT].splits


# Every shape lies within 1.25 r of its centre (the bar's corner); the box around it is cut at
# 1.3 r + 2 px. Drawing in that box instead of the whole image is ~10x faster and, as each pixel
# gets the same arithmetic, gives the same bytes (the data's checksum does not change).
_REACH = 1.3


def _box(size: int, cy: float, cx: float, reach: float) -> tuple[slice, slice]:
    return (slice(max(0, int(cy - reach) - 2), min(size, int(cy + reach) + 3)),
            slice(max(0, int(cx - reach) - 2), min(size, int(cx + reach) + 3)))


def _mask(kind: str, box: tuple[slice, slice], cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    """The shape's pixels within ``box`` (a window of the image from ``_box``)."""
    yy, xx = np.mgrid[box].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy          # rotated coordinates
    if kind == "disc":
        return dx ** 2 + dy ** 2 <= r ** 2
    if kind == "square":
        return (np.abs(u) <= r * 0.8) & (np.abs(v) <= r * 0.8)
    if kind == "triangle":
        return (v >= -r * 0.6) & (v <= r * 0.9 - 1.7 * np.abs(u))
    if kind == "ring":
        d2 = dx ** 2 + dy ** 2
        return (d2 <= r ** 2) & (d2 >= (0.55 * r) ** 2)
    if kind == "cross":
        return ((np.abs(u) <= r * 0.3) & (np.abs(v) <= r)) | ((np.abs(v) <= r * 0.3) & (np.abs(u) <= r))
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= r
    if kind == "bar":
        return (np.abs(u) <= r * 1.2) & (np.abs(v) <= r * 0.35)
    if kind == "ellipse":
        return (u / (r * 1.1)) ** 2 + (v / (r * 0.55)) ** 2 <= 1.0
    raise ValueError(kind)


def _class_colour(index: int, rng: np.random.Generator, hue_shift: float) -> np.ndarray:
    hue = (index / len(CLASSES) + rng.uniform(-hue_shift, hue_shift)) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.95), rng.uniform(0.55, 1.0)), np.float32)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return np.ones((size, size), np.float32)
    if kind == 1:
        return 1.0 + rng.normal(0, 0.12, (size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    period, phase = rng.uniform(3, 7), rng.uniform(0, 6.3)
    direction = rng.uniform(0, np.pi)
    return (1.0 + 0.18 * np.sin((np.cos(direction) * xx + np.sin(direction) * yy) * 2 * np.pi / period + phase)
            ).astype(np.float32)


def make_sample(rng: np.random.Generator, variant: Variant = VARIANTS[DEFAULT]
                ) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 HxWx3, label uint8 HxW) pair."""
    size = variant.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    slope = rng.uniform(-0.3, 0.3, (2, 3)).astype(np.float32)
    image = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
    image += rng.normal(0, 0.06, (size, size, 3)).astype(np.float32)
    label = np.zeros((size, size), np.uint8)
    # Clutter: blobs in random colours that belong to no class.
    for _ in range(rng.integers(*variant.clutter)):
        cy, cx = rng.uniform(0, size, 2)
        box = _box(size, cy, cx, 6)
        blob = (yy[box] * size - cy) ** 2 + (xx[box] * size - cx) ** 2 <= rng.uniform(2, 6) ** 2
        image[box][blob] = rng.uniform(0, 1, 3)
    # A few classes per image. Each has *one* look in this image (colour, brightness, texture) that
    # differs from its look in other images: compact within an image, shifting across images.
    present = rng.choice(len(CLASSES), size=int(rng.integers(2, 5)), replace=False)
    looks = {int(c): (_class_colour(int(c), rng, variant.hue_shift), _texture(rng, size))
             for c in present}
    # Dense scenes (objects occlude each other) so that, as in ADE20K, most pixels are labelled:
    # a mostly-ignored image would shrink mmseg's cross-entropy (averaged over all pixels) against
    # SSA's losses (averaged over labelled ones) and distort every comparison.
    for _ in range(rng.integers(*variant.objects)):
        index = int(rng.choice(present))
        r = rng.uniform(8, 16)
        cy, cx = rng.uniform(r * 0.6, size - r * 0.6, 2)
        # A diamond is a square on its corner: both keep their orientation (up to a tilt), or
        # they would be one shape at two sizes.
        tilt = rng.uniform(-0.25, 0.25) if CLASSES[index] in ("square", "diamond") else rng.uniform(0, np.pi)
        box = _box(size, cy, cx, _REACH * r)
        mask = _mask(CLASSES[index], box, cy, cx, r, tilt)
        if mask.sum() < 12:
            continue
        colour, texture = looks[index]
        image[box][mask] = colour[None, :] * texture[box][mask][:, None] * rng.uniform(0.93, 1.07)
        label[box][mask] = index + 1
    # The image-level shift that a fixed prototype cannot follow: colour cast and brightness.
    cast = rng.uniform(0.65, 1.35, 3).astype(np.float32)
    image = image * cast * rng.uniform(0.75, 1.2) + rng.uniform(-0.08, 0.08)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), label


def _generate(target: Path, variant: Variant) -> None:
    rng = np.random.default_rng(variant.seed)
    for split, count in variant.splits.items():
        (target / "images" / split).mkdir(parents=True)
        (target / "annotations" / split).mkdir(parents=True)
        for index in range(count):
            image, label = make_sample(rng, variant)
            name = f"demo_{split[:3]}_{index:04d}"
            Image.fromarray(image).save(target / "images" / split / f"{name}.jpg", quality=95)
            Image.fromarray(label).save(target / "annotations" / split / f"{name}.png")


def checksum(root: Path) -> str:
    digest = hashlib.sha256()
    for folder in ("images", "annotations"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def is_valid(root: Path, name: str = DEFAULT) -> bool:
    """A complete copy of the current version (a half-written or stale copy is not)."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    variant = VARIANTS[name]
    return (manifest.get("variant", DEFAULT) == name and manifest.get("version") == variant.version
            and manifest.get("checksum") == checksum(Path(root)))


def make(root: str | os.PathLike, name: str = DEFAULT) -> Path:
    """Generate the data set ``name`` at ``root`` unless a valid copy is there; atomic (temp dir
    + rename)."""
    root = Path(root)
    variant = VARIANTS[name]
    if is_valid(root, name):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _generate(tmp, variant)
    manifest = {"variant": name, "version": variant.version, "classes": list(CLASSES),
                "splits": variant.splits, "seed": variant.seed, "size": variant.size,
                "checksum": checksum(tmp)}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if root.exists():
        stale = root.parent / f".{root.name}.stale-{os.getpid()}"
        os.replace(root, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:
        # Another process finished first: keep theirs if it is valid.
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_valid(root, name):
            raise
    return root
