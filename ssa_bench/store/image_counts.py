"""The evaluation's per-image evidence file (``RunPaths.image_counts``): for every test image and
class the intersection, union and label pixel counts, in test-set order, with the images' names.

Each count array is stored in the smallest unsigned integer type that holds its largest value and
the file is ``np.savez_compressed`` (ADE20K's 2000 x 150 x 3 counts: well under a megabyte);
``read_image_counts`` returns the arrays widened to int64, ``None`` when the file is absent (a
record older than the file, which reports treat as "no per-image evidence"), or ``Damaged``.
numpy is imported on call: the store's other readers stay import-light.
"""
from __future__ import annotations

import io
import zipfile

from ssa_bench.store.records import Damaged

ARRAYS = ("intersection", "union", "label")
_FIX = "delete it and rerun the evaluation (`ssa-bench run --force` on the run), or ignore it: reports " \
       "then fall back to the seed rule for this run"


def encode_image_counts(names, intersection, union, label) -> bytes:
    """The file's bytes (written by the evaluate stage through the store's atomic writer)."""
    import numpy as np

    arrays = {"names": np.asarray([str(name) for name in names], dtype=str)}
    for key, values in zip(ARRAYS, (intersection, union, label)):
        values = np.asarray(values)
        if values.size and values.min() < 0:
            raise ValueError(f"negative {key} count")
        arrays[key] = values.astype(np.min_scalar_type(int(values.max()) if values.size else 0))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_image_counts(path: str):
    """{'names': tuple, 'intersection' / 'union' / 'label': int64 (images, classes)}, None, or Damaged."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("names", *ARRAYS) if key not in archive.files]
            if missing:
                return Damaged(path, f"lacks the arrays {missing}", _FIX)
            names = tuple(str(name) for name in archive["names"])
            arrays = {key: archive[key] for key in ARRAYS}
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return Damaged(path, "is a directory where a file should be", _FIX)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return Damaged(path, f"is not a readable .npz archive ({str(error)[:80]})", _FIX)
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != len(names):
        return Damaged(path, f"holds arrays of shapes {sorted(shapes)} for {len(names)} images, "
                       "expected one (images, classes) shape", _FIX)
    if any(array.dtype.kind not in "ui" for array in arrays.values()):
        return Damaged(path, "holds non-integer counts", _FIX)
    arrays = {key: array.astype(np.int64) for key, array in arrays.items()}
    if (arrays["intersection"] < 0).any() or (arrays["intersection"] > arrays["union"]).any() \
            or (arrays["intersection"] > arrays["label"]).any():
        return Damaged(path, "holds counts that cannot be (negative, or an intersection above its union or "
                       "label count)", _FIX)
    return {"names": names, **arrays}
