"""The evaluation's per-image evidence file (``RunPaths.image_counts``): for every test image and
class the intersection, union and label pixel counts, in test-set order, with the images' names.

Each count array is stored in the smallest unsigned integer type that holds its largest value and
the file is ``np.savez_compressed`` (ADE20K's 2000 x 150 x 3 counts: well under a megabyte);
``read_image_counts`` returns the arrays widened to int64, ``None`` when the file is absent (a
record older than the file, which reports treat as "no per-image evidence"), or ``Damaged``.
numpy is imported on call: the store's other readers stay import-light.

Beside it, ``RunPaths.bootstrap_draws``: the run's bootstrap draws for report tables (the arrays of
``statistics.RunDraws``: a few float vectors, ~50 kB for ADE20K), read back by reports instead of
resampling the counts. Derived data: a missing or damaged draws file only costs the report time.
"""
from __future__ import annotations

import io
import json
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


DRAW_ARRAYS = ("images", "shape", "point", "resampled", "left_out")
_DRAWS_MAGIC = b"ssa-bench bootstrap draws 1\n"


def encode_bootstrap_draws(arrays: dict) -> bytes:
    """The draws file's bytes (``RunDraws.to_arrays()``): a magic line, one JSON line with the
    names, shapes and small arrays, then the two float64 matrices raw (little-endian). Not .npz: a
    report reads one of these per run, and a zip's members and headers cost ten times the read."""
    import numpy as np

    resampled = np.ascontiguousarray(arrays["resampled"], dtype="<f8")
    left_out = np.ascontiguousarray(arrays["left_out"], dtype="<f8")
    header = {"images": str(arrays["images"]), "shape": [int(v) for v in arrays["shape"]],
              "point": [float(v) for v in arrays["point"]], "resampled": list(resampled.shape),
              "left_out": list(left_out.shape)}
    return _DRAWS_MAGIC + json.dumps(header).encode() + b"\n" + resampled.tobytes() + left_out.tobytes()


def read_bootstrap_draws(path: str):
    """The draws file's arrays, None when absent, or Damaged (another format, cut short)."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return Damaged(path, "is a directory where a file should be", _DRAWS_FIX)
    except OSError as error:
        return Damaged(path, f"cannot be read ({str(error)[:80]})", _DRAWS_FIX)
    if not data.startswith(_DRAWS_MAGIC):
        return Damaged(path, "is not a bootstrap draws file", _DRAWS_FIX)
    end = data.find(b"\n", len(_DRAWS_MAGIC))
    try:
        header = json.loads(data[len(_DRAWS_MAGIC):end]) if end > 0 else None
        shapes = [tuple(int(n) for n in header[key]) for key in ("resampled", "left_out")]
        sizes = [shape[0] * shape[1] * 8 for shape in shapes]
        body = data[end + 1:]
        if len(body) != sum(sizes):
            return Damaged(path, f"holds {len(body)} bytes of draws where its header promises {sum(sizes)} "
                           "(cut short?)", _DRAWS_FIX)
        resampled = np.frombuffer(body, dtype="<f8", count=sizes[0] // 8).reshape(shapes[0])
        left_out = np.frombuffer(body, dtype="<f8", offset=sizes[0]).reshape(shapes[1])
        return {"images": header["images"], "shape": np.asarray(header["shape"], dtype=np.int64),
                "point": np.asarray(header["point"], dtype=np.float64), "resampled": resampled,
                "left_out": left_out}
    except (ValueError, TypeError, KeyError, IndexError) as error:
        return Damaged(path, f"has an unreadable header ({str(error)[:80]})", _DRAWS_FIX)


_DRAWS_FIX = "delete it: reports then resample the run's per-image counts instead"
