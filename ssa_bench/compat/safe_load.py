"""The one way ssa-bench reads a checkpoint file: torch's safe loader and an explicit allowlist.

A ``.pth`` file is a pickle, and unpickling can call any function the file names. Every checkpoint
ssa-bench reads -- a ``train.pretrained`` file, a run's own resume checkpoint, the
``StrictPretrained`` initialiser's file, and everything mmengine loads for us (``compat``
routes mmengine's local-file loader here) -- goes through :func:`load_checkpoint_file`:

1. :func:`check_checkpoint_is_safe` walks the file's pickle opcodes (``pickletools``; nothing is
   executed) and refuses, in one line naming the file and the type, any global reference outside
   :data:`ALLOWED_GLOBALS` and torch's own tensor-rebuilding set. The pre-run check calls it too,
   so a hostile or odd file is refused before any job is queued.
2. ``torch.load(weights_only=True)`` with exactly the allowlist below in force (torch's
   restricted unpickler: the second, independent line of defence).

A file the user trusts by name (:data:`TRUST_ENV`) is loaded with the full unpickler instead, and
:func:`trusted_loads` reports it so the run's record says so. Trust is an environment variable,
not a spec key: it is a decision of the person who runs, about files on their machine; a spec
handed over with a checkpoint must not be able to switch the check off, and trusting a file does
not change what is computed, so it must not change a run's id (a hash of its config).

No torch import at module level: the pre-run check runs in the planning process.
"""
from __future__ import annotations

import io
import os
import pickletools
import tarfile
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path

from ssa_bench.errors import DataError, UserError

TRUST_ENV = "SSA_BENCH_TRUST_CHECKPOINTS"

# Globals a checkpoint may reference beyond torch's own tensor/storage/dtype set, with the files
# that need each. Found by writing real checkpoints and walking their pickle opcodes
# (tests/weights/test_safe_load.py writes them again and checks this list is what they need).
ALLOWED_GLOBALS: dict[str, str] = {
    # mmengine training checkpoints (a run's iter_N.pth, what Runner.resume and load_from read):
    # message_hub.log_scalars holds one HistoryBuffer per logged scalar, whose history is a
    # numpy array pickled through _reconstruct/ndarray/dtype (+ _codecs.encode for its bytes,
    # which torch allows by default) and whose statistics_methods are HistoryBuffer's own
    # functions, pickled as getattr(HistoryBuffer, 'mean') -- see _history_buffer_method.
    "mmengine.logging.history_buffer.HistoryBuffer": "mmengine training checkpoint (message_hub)",
    "builtins.getattr": "mmengine training checkpoint (HistoryBuffer.statistics_methods; restricted)",
    "numpy._core.multiarray._reconstruct": "mmengine training checkpoint (numpy >= 2 arrays)",
    "numpy._core.multiarray.scalar": "mmengine training checkpoint (numpy >= 2 scalars)",
    "numpy.ndarray": "mmengine training checkpoint (numpy arrays)",
    "numpy.dtype": "mmengine training checkpoint (numpy arrays and scalars)",
    # (numpy 1.x wrote these as numpy.core.multiarray.*; no file ssa-bench reads needs them, so
    # such a file is refused by name and can be trusted by name)
    # timm's CheckpointSaver and DeiT's save_on_master store the training script's argparse
    # namespace under 'args' (the SeaFormer-B/L and AFFormer-base classification checkpoints of
    # the catalog come from such scripts: their state dicts sit under state_dict/state_dict_ema/model)
    "argparse.Namespace": "timm / DeiT classification checkpoint ('args')",
}

# torch's restricted unpickler allows these by default (tensors, storages, dtypes, OrderedDict);
# the common ones are named here so the scan needs no torch import; any other torch.* name is
# looked up in torch's own default set (see _torch_allows).
_TORCH_DEFAULTS = {
    "collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.bytearray",
    "builtins.set", "builtins.complex", "torch.Size", "torch.device", "torch.Tensor",
    "torch.nn.parameter.Parameter", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
}
_STORAGES = {f"torch.{kind}Storage" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                                  "Short", "Char", "Byte", "Bool")}

_trusted_loads: list[str] = []


def _reference(module: str, name: str) -> str:
    """``module.name`` as torch's restricted unpickler resolves it (Python 2 names mapped)."""
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


def _torch_allows(reference: str) -> bool:
    if reference in _TORCH_DEFAULTS or reference in _STORAGES:
        return True
    if not reference.startswith("torch."):
        return False
    from torch import _weights_only_unpickler    # a rarer tensor type: ask torch itself

    return reference in _weights_only_unpickler._get_allowed_globals()


def allowed(reference: str) -> bool:
    return reference in ALLOWED_GLOBALS or _torch_allows(reference)


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}


def _references_in(stream) -> list[str]:
    """Every global one pickle in ``stream`` refers to, read from its opcodes (nothing runs).

    ``STACK_GLOBAL`` takes its two names from the stack; they are followed through the memo
    (strings only) well enough to name them -- torch's restricted unpickler does not accept the
    opcode at all, so an unnamed one is refused as such."""
    found, memo, last = [], {}, None
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        pushed = None
        if name in ("GLOBAL", "INST"):
            module, _, attr = arg.partition(" ")
            found.append(_reference(module, attr))
        elif name == "STACK_GLOBAL":
            module, attr = last if isinstance(last, tuple) else (None, None)
            found.append(_reference(module, attr) if module and attr else "<STACK_GLOBAL from computed names>")
        elif name in ("EXT1", "EXT2", "EXT4"):
            found.append(f"<copyreg extension {arg}>")
        elif name in _STRING_OPS:
            pushed = arg
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[len(memo) if name == "MEMOIZE" else arg] = last[1] if isinstance(last, tuple) else None
            continue
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed = memo.get(arg)
        # the last two strings pushed in a row: what a STACK_GLOBAL that follows would read
        if isinstance(pushed, str):
            previous = last[1] if isinstance(last, tuple) else None
            last = (previous, pushed)
        else:
            last = None
    return found


def _pickles_of(path: Path) -> list[tuple[str, bytes | None]]:
    """(label, bytes) of every pickle torch would unpickle from ``path``; bytes None for the legacy
    pickle sequence, read from the file itself. Raises DataError when it is no checkpoint."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    # the same test torch makes (a zip's local-file magic at offset 0), so the scan reads what
    # torch.load will read
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                # every entry (by its directory record, not its name: a name may appear twice)
                pickles = [(info.filename, archive.read(info)) for info in archive.infolist()
                           if info.filename == "data.pkl" or info.filename.endswith("/data.pkl")]
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise DataError(f"is not a readable PyTorch checkpoint (damaged zip: {error})", file=str(path),
                            fix="fetch or write the file again") from None
        if not pickles:
            raise DataError("is a zip file without data.pkl, not a PyTorch checkpoint", file=str(path),
                            fix="point at the .pth file torch.save wrote")
        return pickles
    if head[:1] == b"\x80":
        return [("legacy", None)]
    if tarfile.is_tarfile(path):
        raise UserError("is in torch's legacy .tar format (PyTorch < 0.4), which torch cannot load safely",
                        file=str(path), fix=f"re-save it with a current torch where you trust it, or trust it "
                        f"by adding its path to {TRUST_ENV}")
    raise DataError(f"is not a PyTorch checkpoint (starts with {head!r})", file=str(path),
                    fix="fetch the file again (`ssa-bench weights check` compares it with its published hash)")


def _scan(path: Path) -> list[str]:
    references = []
    for label, data in _pickles_of(path):
        try:
            if data is not None:
                references += _references_in(io.BytesIO(data))
                continue
            # legacy (PyTorch 0.4-1.5) file: magic number, protocol, sys_info, the object, its
            # storage keys -- five pickles, then raw storage bytes
            with open(path, "rb") as handle:
                for _ in range(5):
                    if not handle.peek(1)[:1]:
                        break
                    references += _references_in(handle)
        except (ValueError, EOFError) as error:   # pickletools' account of a damaged stream
            raise DataError(f"is not a readable PyTorch checkpoint ({label}: {error})", file=str(path),
                            fix="fetch or write the file again") from None
    return references


def check_checkpoint_is_safe(path: str | Path, key: str | None = None) -> None:
    """Raise :class:`UserError` when ``path`` refers to a global the safe loader does not allow.

    Reads the pickle's opcodes only; nothing in the file runs. A file trusted by name
    (:data:`TRUST_ENV`) passes. ``key`` names the setting the path came from (train.pretrained)."""
    path = Path(path)
    if is_trusted(path):
        return
    if not path.is_file():
        raise DataError("checkpoint does not exist", file=str(path), key=key,
                        fix="point at an existing .pth file")
    refused = [reference for reference in _scan(path) if not allowed(reference)]
    if refused:
        others = f" (and {len(set(refused)) - 1} more)" if len(set(refused)) > 1 else ""
        raise UserError(f"checkpoint refers to {refused[0]}{others}, which the safe loader does not allow "
                        "(unpickling it could run code); nothing was loaded", file=str(path), key=key,
                        fix=f"use a file that holds tensors only, or, if you trust this file, add its path "
                        f"to {TRUST_ENV} (paths separated by '{os.pathsep}')")


def trusted_paths() -> set[str]:
    return {os.path.realpath(item) for item in os.environ.get(TRUST_ENV, "").split(os.pathsep) if item.strip()}


def is_trusted(path: str | Path) -> bool:
    return os.path.realpath(path) in trusted_paths()


def trusted_loads() -> list[str]:
    """The trusted files this process has loaded with the full unpickler, in order."""
    return list(_trusted_loads)


def _history_buffer_method(owner, name: str):
    """What the pickles of mmengine checkpoints call ``getattr`` for: one of HistoryBuffer's
    statistics methods, and nothing else (a general getattr would let a file reach any attribute
    of an allowed class)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    # HistoryBuffer.__init__ registers these four (its class-level registry is empty until then)
    if owner is HistoryBuffer and name in ("min", "max", "current", "mean", *HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    import pickle

    raise pickle.UnpicklingError(f"getattr({owner!r}, {name!r}) is not allowed: only HistoryBuffer's "
                                 f"statistics methods are")


def _safe_globals() -> list:
    """The allowlist as torch takes it: objects, or (object, name) where the object is ours."""
    import argparse

    import numpy
    from mmengine.logging.history_buffer import HistoryBuffer
    from numpy._core import multiarray

    entries = [
        (HistoryBuffer, "mmengine.logging.history_buffer.HistoryBuffer"),
        (_history_buffer_method, "builtins.getattr"),
        (numpy.ndarray, "numpy.ndarray"),
        (numpy.dtype, "numpy.dtype"),
        (argparse.Namespace, "argparse.Namespace"),
    ]
    entries += [(multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
                (multiarray.scalar, "numpy._core.multiarray.scalar")]
    assert {name for _, name in entries} == set(ALLOWED_GLOBALS), "the allowlist and its objects disagree"
    # Not names in a file but types torch must let BUILD set the state of: numpy.dtype('f8') is a
    # numpy.dtypes.Float64DType, whose byte order etc. the pickle sets next. Numeric kinds only
    # (object, string and void dtypes stay refused: an object array would unpickle arbitrary items).
    entries += sorted({type(numpy.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}, key=str)
    return entries


def _unpickler_reason(text: str) -> str:
    """The part of torch's refusal that says what was refused (the rest is boilerplate)."""
    marker = "WeightsUnpickler error:"
    rest = text.split(marker, 1)[1] if marker in text else text
    lines = [line.strip() for line in rest.splitlines() if line.strip()]
    return lines[0] if lines else ""


def load_checkpoint_file(path: str | Path, map_location="cpu", key: str | None = None):
    """``torch.load`` of a local checkpoint file, safely (see the module docstring)."""
    import pickle

    import torch

    path = Path(path)
    if is_trusted(path):
        try:
            checkpoint = torch.load(str(path), map_location=map_location, weights_only=False)
        except pickle.UnpicklingError as error:
            # TORCH_FORCE_WEIGHTS_ONLY_LOAD=1 makes torch ignore weights_only=False
            raise UserError(f"trusted checkpoint could not be read ({_unpickler_reason(str(error))[:200]})",
                            file=str(path), key=key,
                            fix="unset TORCH_FORCE_WEIGHTS_ONLY_LOAD, which overrides the trust") from None
        _trusted_loads.append(os.path.realpath(path))
        return checkpoint
    check_checkpoint_is_safe(path, key)
    with torch.serialization.safe_globals(_safe_globals()):
        try:
            return torch.load(str(path), map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as error:
            # the scan passed but torch's restricted unpickler refused: say which file and why
            reason = _unpickler_reason(str(error)) or type(error).__name__
            raise UserError(f"the safe loader refused this checkpoint ({reason[:200]}); nothing was loaded",
                            file=str(path), key=key,
                            fix=f"if you trust this file, add its path to {TRUST_ENV}") from None
