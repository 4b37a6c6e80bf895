"""Strict loading of a pretrained backbone, as an mmengine weight initialiser.

``init_cfg=dict(type='StrictPretrained', checkpoint=PATH, module='backbone', mapping={...})`` on a
*segmentor* (``configs/baselines.py`` attaches it): the checkpoint is read, its names mapped
(``ssa_bench.weights.mapping``), compared with the backbone's state dict, and any backbone tensor
left unloaded (other than the mapping's declared ``fresh`` ones), any unexpected key and any shape
mismatch raises :class:`CheckpointMismatchError` naming the first keys and the counts. mmengine's
own ``Pretrained`` loads with ``strict=False`` and logs one warning, which is how a checkpoint
could load 0 of 762 tensors unnoticed.

Why on the segmentor and not the backbone: mmengine applies a module's own non-``Pretrained``
``init_cfg`` *before* its children's ``init_weights``, which would overwrite what was loaded, and
some backbones (mmseg's Swin) replace ``init_weights`` and read ``init_cfg['checkpoint']``
themselves, non-strictly. So the initialiser, called on the segmentor, first runs the backbone's
own initialisation when the mapping declares fresh layers (they keep it), then loads over it, then
marks the backbone initialised so the segmentor does not initialise it again.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mmengine.logging import print_log
from mmengine.model import BaseModule, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from ssa_bench.errors import DataError
from ssa_bench.weights.catalog import WEIGHTS_ENV, entry_for
from ssa_bench.weights.mapping import (UNTRACKED_SUFFIXES, KeyMapping, LoadReport, compare,
                                       mismatch_error, shape_of)
from ssa_bench.compat.safe_load import load_checkpoint_file

INITIALISER = "StrictPretrained"


def read_checkpoint(path: str | Path) -> Mapping:
    """A checkpoint file as a mapping, on the CPU, read by the one safe loader
    (:mod:`ssa_bench.compat.safe_load`: torch's restricted unpickler and an explicit allowlist; a
    file needing anything else is refused in one line unless the user trusts it by name)."""
    return load_checkpoint_file(path, map_location="cpu", key="train.pretrained")


def match_checkpoint(module: nn.Module, checkpoint: str | Path, mapping: KeyMapping,
                     target: str) -> tuple[dict, LoadReport]:
    """The mapped state dict and its comparison with ``module``; raises on any difference."""
    state = mapping.apply(read_checkpoint(checkpoint))
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    report = compare(expected, {name: shape_of(value) for name, value in state.items()}, mapping)
    if not report.ok:
        raise mismatch_error(report, str(checkpoint), target)
    return state, report


def assign(module: nn.Module, state: dict, report: LoadReport, mapping: KeyMapping, checkpoint: str | Path,
           target: str) -> None:
    result = module.load_state_dict(state, strict=False)
    # torch's own account must agree with the comparison (e.g. a module whose state_dict hooks
    # rename keys would show here)
    left = [k for k in result.missing_keys if not (mapping.is_fresh(k) or k.endswith(UNTRACKED_SUFFIXES))]
    if left or result.unexpected_keys:
        report.missing, report.unexpected = left, list(result.unexpected_keys)
        raise mismatch_error(report, str(checkpoint), target)


def load_strictly(module: nn.Module, checkpoint: str | Path, mapping: KeyMapping, target: str) -> LoadReport:
    """Load ``checkpoint`` into ``module`` through ``mapping``; raise on any difference."""
    state, report = match_checkpoint(module, checkpoint, mapping, target)
    assign(module, state, report, mapping, checkpoint, target)
    return report


def missing_checkpoint_error(checkpoint: str, baseline: str) -> DataError:
    entry = entry_for(baseline)
    if entry is not None and Path(checkpoint).name == entry.file:
        fix = (f"run `{entry.fetch_command()}` (or copy the file there, or set {WEIGHTS_ENV} to the folder that "
               "holds it); train.pretrained: none trains from scratch on purpose")
    else:
        fix = "point train.pretrained at an existing file, or none to train from scratch on purpose " \
              "(nothing is downloaded at run time)"
    return DataError(f"pretrained checkpoint {checkpoint} of baseline '{baseline}' does not exist",
                     key="train.pretrained", fix=fix)


def _mark_initialised(module: nn.Module) -> None:
    # BaseModule.init_weights skips children whose `is_init` is set; on a BaseModule it is the
    # read-only property over `_is_init`.
    if isinstance(module, BaseModule):
        module._is_init = True
    else:
        module.is_init = True


@WEIGHT_INITIALIZERS.register_module(name=INITIALISER)
class StrictPretrainedInit:
    """Initialise ``model.<module>`` from ``checkpoint``, strictly (see the module docstring)."""

    def __init__(self, checkpoint: str, module: str = "backbone", mapping: dict | None = None,
                 name: str | None = None) -> None:
        if not module:
            raise ValueError("StrictPretrained needs module= (e.g. 'backbone'): it initialises a submodule "
                             "of the model it is attached to")
        self.checkpoint = str(checkpoint)
        self.module = module
        self.mapping = KeyMapping.from_dict(mapping)
        self.name = name or module

    def __call__(self, model: nn.Module) -> None:
        target = model.get_submodule(self.module)
        what = f"{self.name} ({type(target).__name__})"
        if not Path(self.checkpoint).is_file():
            raise missing_checkpoint_error(self.checkpoint, self.name)
        state, report = match_checkpoint(target, self.checkpoint, self.mapping, what)
        # The backbone's own initialisation matters only for the tensors the checkpoint does not
        # cover on purpose; without any, every tensor is overwritten and the (slow, for a large
        # backbone) init is skipped.
        if report.fresh and hasattr(target, "init_weights") and not getattr(target, "is_init", False):
            target.init_weights()
        assign(target, state, report, self.mapping, self.checkpoint, what)
        _mark_initialised(target)
        fresh = f", {len(report.fresh)} new tensors left to the backbone's init" if report.fresh else ""
        print_log(f"{INITIALISER}: loaded {report.loaded} tensors of {what} from {self.checkpoint}{fresh}",
                  logger="current")
        if hasattr(model, "_params_init_info"):
            update_init_info(model, init_info=f"{INITIALISER}: load from {self.checkpoint}")
