"""What the figures read from the store, and which of a spec's runs each figure shows.

Every number a figure draws comes from a run's record.json or its dump/*.npz; when one is missing
the figure is skipped (or the panel left empty) with a `Missing` note naming the run and the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ssa_bench.report.gather import results_root
from ssa_bench.store import Damaged, Store


class Missing(Exception):
    """An input a figure needs is absent; the message is the one-line note shown to the user."""


@dataclass
class RunData:
    """One run of the spec as the figures see it (lazy: files are read when asked for)."""
    run: object
    root: str

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def label(self) -> str:
        seed = self.run.seed
        return self.run.label if not seed else f"{self.run.label} (seed {seed})"

    @property
    def ssa(self) -> dict:
        return (self.run.config or {}).get("ssa") or {}

    @property
    def is_ssa(self) -> bool:
        return bool(self.ssa.get("enabled"))

    @property
    def dataset(self) -> str:
        return (self.run.config or {}).get("dataset", "")

    def class_names(self, num_classes: int) -> list[str]:
        """The dataset's class names in class-index order: the inline dataset's list, else the
        record's per-class IoU keys (mmseg's metainfo order), else the catalog's."""
        names = ((self.run.config or {}).get("dataset_def") or {}).get("classes")
        if not names:
            try:
                names = list(((self.record().get("metrics") or {}).get("per_class_iou") or {}))
            except Missing:
                names = None
        if not names:
            return class_names(self.dataset, num_classes)
        names = [str(n) for n in names][:num_classes]
        return names + [f"class {i}" for i in range(len(names), num_classes)]

    @property
    def store(self) -> Store:
        return Store(self.root)

    def describe(self) -> str:
        return f"run {self.id} ({self.label})"

    def recorded(self, key: str, what: str) -> list:
        """The record's non-empty list under ``key``; :class:`Missing` saying the record has no
        ``what`` when it is empty or absent, or why there is no record."""
        values = self.record().get(key) or []
        if not values:
            raise Missing(f"{self.describe()}: record.json has no {what}")
        return values

    def record(self) -> dict:
        state, record = self.store.verdict(self.id)
        if record is None:
            damaged = self.store.read_record(self.id)
            if isinstance(damaged, Damaged):
                raise Missing(f"{self.describe()}: {damaged.message()}")
            raise Missing(f"{self.describe()}: no record.json (state {state})")
        return record

    def npz(self, name: str) -> dict:
        """dump/<name>.npz as a dict of arrays."""
        path = os.path.join(self.store.paths(self.id).dump_dir, f"{name}.npz")
        if not os.path.exists(path):
            # Relative to the run: the note already names the run, and the store decides where runs live.
            raise Missing(f"{self.describe()}: missing dump/{name}.npz")
        with np.load(path) as data:
            return {key: data[key] for key in data.files}

    def artefact(self, name: str) -> str:
        """Path of an artefact relative to the results root (for the provenance note)."""
        return os.path.relpath(os.path.join(self.store.paths(self.id).run_dir, name), self.root)


def run_data(runs, store) -> list[RunData]:
    """The spec's distinct runs in spec order (two rows naming one training share a run)."""
    root = str(results_root(store))
    seen, out = set(), []
    for run in runs:
        if run.id not in seen:
            seen.add(run.id)
            out.append(RunData(run, root))
    return out


def baseline_runs(data: list[RunData]) -> list[RunData]:
    return [d for d in data if not d.is_ssa]


def ssa_runs(data: list[RunData]) -> list[RunData]:
    return [d for d in data if d.is_ssa]


_DISTILLATION = ("w_g", "w_rd", "w_sd", "w_pd")


def _completeness(run: RunData) -> tuple:
    ssa = run.ssa
    return (bool(ssa.get("sepa")) + bool(ssa.get("sppa")),
            sum(float(ssa.get(key) or 0) > 0 for key in _DISTILLATION))


def main_ssa_run(data: list[RunData]) -> RunData | None:
    """The spec's 'SSA (Ours)': the SSA run with the most of the method switched on (both
    adaptations, then the most distillation terms); the last such row on a tie, as tables end
    with the full method."""
    candidates = ssa_runs(data)
    if not candidates:
        return None
    best = max(_completeness(r) for r in candidates)
    return [r for r in candidates if _completeness(r) == best][-1]


def same_dataset_baseline(data: list[RunData], ssa_run: RunData | None) -> RunData | None:
    """The baseline run that the SSA run is compared with: same baseline model and dataset."""
    if ssa_run is None:
        return None
    config = ssa_run.run.config or {}
    for run in baseline_runs(data):
        other = run.run.config or {}
        if other.get("baseline") == config.get("baseline") and other.get("dataset") == config.get("dataset"):
            return run
    return None


def sd_pair(data: list[RunData]) -> tuple[RunData | None, RunData | None]:
    """(SEPA run without L_sd, SEPA run with L_sd) that differ in the fewest SSA settings, so
    Fig. 3 isolates semantic distillation as far as the spec allows; spec order breaks ties."""
    sepa = [r for r in ssa_runs(data) if r.ssa.get("sepa")]
    without = [r for r in sepa if not float(r.ssa.get("w_sd") or 0) > 0]
    with_sd = [r for r in sepa if float(r.ssa.get("w_sd") or 0) > 0]
    if not without or not with_sd:
        return (without[0] if without else None), (with_sd[0] if with_sd else None)

    def distance(a: RunData, b: RunData) -> int:
        keys = set(a.ssa) | set(b.ssa)
        return sum(a.ssa.get(k) != b.ssa.get(k) for k in keys)

    pairs = [(distance(a, b), i, j) for i, a in enumerate(without) for j, b in enumerate(with_sd)]
    _, i, j = min(pairs)
    return without[i], with_sd[j]


def class_names(dataset: str, num_classes: int) -> list[str]:
    from ssa_bench.vocabulary.names import DATASETS

    info = DATASETS.get(dataset)
    names = list(info.class_names) if info else []
    if len(names) >= num_classes:
        return names[:num_classes]
    return names + [f"class {i}" for i in range(len(names), num_classes)]
