"""Shared by the stages: the run's mmengine Runner, its checkpoints and its validation curve."""
from __future__ import annotations

import glob
import json
import os
import re
import time
import uuid
import warnings

from ssa_bench.store import checkpoints
from ssa_bench.store.paths import run_paths_at
from ssa_bench.store.storage import guard


def make_runner(run_config: dict, run_dir: str, stage: str = "train", **changes):
    """An mmengine Runner for the run (``changes`` override top-level config keys)."""
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    from mmengine.runner import Runner

    from ssa_bench.configs import build_mmseg_config

    work_dir = run_paths_at(run_dir).work_dir
    cfg = build_mmseg_config(run_config, work_dir)
    if stage == "evaluate":
        from ssa_bench.configs.multi_scale import use_test_time_aug

        use_test_time_aug(cfg)      # evaluate.aug_test: multi-scale + flip; a no-op otherwise
    for key, value in changes.items():
        cfg[key] = value
    from ssa_bench.configs.tracking import training_only

    training_only(cfg, stage)       # train.log_backends: one tracked run per training, not per stage
    # mmengine keeps one logger and one visualizer per name, process-wide; the default names are
    # timestamps to the second, so a second Runner in the same process (evaluate after train, or
    # the next run of a SLURM task) would log into the previous run's files. A unique name each.
    name = f"{stage}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:8]}"
    cfg.experiment_name = name
    if cfg.get("visualizer"):
        cfg.visualizer.name = name
    import_modules((cfg.get("custom_imports") or {}).get("imports", []))
    with warnings.catch_warnings():
        # mmseg's notes to its developers (deprecations, avg_non_ignore) are noise in a run log.
        warnings.filterwarnings("ignore", category=UserWarning)
        return Runner.from_cfg(cfg)


def import_modules(imports: list[str], *, init_default_scope: bool = False) -> None:
    """Register mmseg's modules and import ``imports`` (ours: classifiers, ports, hooks), which
    register theirs on import -- what ``Config.fromfile`` does for ``custom_imports``, which a
    Config built from a dict (ours) does not do by itself. A Runner sets the default scope from
    its config; a model built without one (measuring) needs ``init_default_scope``."""
    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    import importlib

    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=init_default_scope)
    for module in imports:
        importlib.import_module(module)


def checkpoint_iter(path: str | None) -> int | None:
    match = re.search(r"iter_(\d+)\.pth$", path or "")
    return int(match.group(1)) if match else None


def latest_checkpoint(work_dir: str) -> str | None:
    """The checkpoint mmengine wrote last in ``work_dir`` (its ``last_checkpoint`` pointer, else
    the newest ``*.pth``), or None (also when ``work_dir`` does not exist: nothing trained yet)."""
    pointer = os.path.join(work_dir, "last_checkpoint")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as handle:
            path = handle.read().strip()
        if path and not os.path.isabs(path):
            path = os.path.join(work_dir, path)
        if os.path.isfile(path):
            return path
    candidates = glob.glob(os.path.join(work_dir, "*.pth"))
    return max(candidates, key=os.path.getmtime) if candidates else None


def save_checkpoint_atomic(runner, out_dir: str, filename: str, **options) -> str:
    """``runner.save_checkpoint`` made atomic: mmengine writes the file in place (``torch.save``
    to the final path), so a job killed mid-write leaves a torn ``iter_<n>.pth`` that
    ``last_checkpoint`` already names or soon will. Here it writes a temp name in ``out_dir``,
    which :func:`ssa_bench.store.checkpoints.commit` fsyncs, renames and notes. Rank 0 writes
    (``save_checkpoint`` is master-only); ``last_checkpoint`` is left to the caller. Returns the
    checkpoint's path."""
    final = os.path.join(out_dir, filename)
    temp = os.path.join(out_dir, checkpoints.temp_name(filename))
    try:
        with guard(final):      # torch.save's write() names no file: the error names the checkpoint
            runner.save_checkpoint(out_dir, os.path.basename(temp), **options)
    except BaseException:
        if runner.rank == 0 and os.path.exists(temp):
            os.unlink(temp)             # a full disk gets the partial file's space back
        raise
    if runner.rank == 0:
        checkpoints.commit(temp, final)
    return final


def _scalar_entries(work_dir: str):
    """Every entry of every ``vis_data/scalars.json`` mmengine wrote in ``work_dir`` (one file
    per start, so a resumed run yields the union), oldest start first."""
    for path in sorted(glob.glob(os.path.join(work_dir, "*", "vis_data", "scalars.json"))):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and "step" in entry:
                    yield entry


def read_curve(work_dir: str, metric: str = "mIoU") -> list[dict]:
    """Validation ``metric`` by iteration (the last value per iteration wins)."""
    points: dict[int, float] = {}
    for entry in _scalar_entries(work_dir):
        if metric in entry:
            points[int(entry["step"])] = float(entry[metric])
    return [{"iter": step, metric: value} for step, value in sorted(points.items())]


def read_loss_curves(work_dir: str) -> list[dict]:
    """Every logged training loss by iteration: the total ``loss`` and each term mmengine logs
    (``decode.loss_ce``, ``decode.loss_ssa_rd``, ``aux.loss_ce`` ...), smoothed over the logger
    interval as mmengine logs them; the last entry per iteration wins."""
    points: dict[int, dict] = {}
    for entry in _scalar_entries(work_dir):
        terms = {key: float(value) for key, value in entry.items()
                 if "loss" in key and isinstance(value, (int, float))}
        if terms:
            points[int(entry["step"])] = terms
    return [{"iter": step, **terms} for step, terms in sorted(points.items())]


def device_of(model) -> str:
    try:
        return str(next(model.parameters()).device.type)
    except StopIteration:
        return "cpu"
