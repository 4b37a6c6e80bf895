"""The results store: ``<root>/runs/<id>/`` per run; it owns the layout, every write and every read.

- layout: :class:`RunPaths` (``Store.paths(run_id)``); nobody joins run paths by hand;
- writes: one atomic writer (:mod:`ssa_bench.store.atomic`) for every file under the results root;
- reads: one validated reader (:mod:`ssa_bench.store.records`): a parsed, checked object, None when
  absent, or a :class:`Damaged` value -- never an exception;
- claims: one claim per run (:mod:`ssa_bench.store.claims`), so one run is trained by one process.

A valid record.json means done, whatever state.json says (the state is a hint for status tables).
No torch here: planning, status and reporting read the store and must stay fast.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ssa_bench.store import claims, records
from ssa_bench.store.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from ssa_bench.store.claims import Owner, register_liveness
from ssa_bench.store.paths import STAGES, RunPaths, run_paths, runs_dir
from ssa_bench.store.records import STATES, Damaged, load_json
from ssa_bench.store.storage import StorageError, guard

__all__ = ["STAGES", "STATES", "Damaged", "Owner", "RunPaths", "RunView", "StorageError", "Store",
           "default_root", "read_json", "register_liveness", "write_bytes_atomic", "write_json_atomic",
           "write_text_atomic"]

# A state that is not a failure carries no stale traceback or failure reason from an earlier attempt.
_FAILURE_KEYS = ("traceback", "reason")


def default_root() -> str:
    return os.environ.get("SSA_BENCH_RESULTS") or "results"


def read_json(path: str | os.PathLike):
    """Any JSON file outside a run's layout (figure provenance, ...): the value, or None when the
    file is absent or damaged."""
    value = load_json(os.fspath(path))
    return None if isinstance(value, Damaged) else value


@dataclass
class RunView:
    """What the store knows about one run, with the 'record is the truth' rule applied.

    ``state``: 'done' (a valid record), 'damaged' (no valid record and a damaged file that decides
    what `run` does: the record, the run directory or runs/ itself), else state.json's state
    ('pending' when absent or damaged: it is only a hint). ``damage`` lists every damaged file.
    """
    run_id: str
    state: str
    info: dict = field(default_factory=dict)
    record: dict | None = None
    damage: list[Damaged] = field(default_factory=list)


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = str(Path(root or default_root()).absolute())

    # -- layout --------------------------------------------------------------------------------
    def paths(self, run_id: str) -> RunPaths:
        return run_paths(self.root, run_id)

    def run_dir(self, run_id: str) -> str:
        """The run's directory, created."""
        path = self.paths(run_id).run_dir
        os.makedirs(path, exist_ok=True)
        return path

    def work_dir(self, run_id: str) -> str:
        """mmengine's work_dir of the run, created."""
        path = self.paths(run_id).work_dir
        os.makedirs(path, exist_ok=True)
        return path

    def path(self, run_id: str, name: str) -> str:
        """A file in the run's directory by name, for files outside :class:`RunPaths` (tests)."""
        return os.path.join(self.paths(run_id).run_dir, name)

    def resolve(self, run_id: str, path: str | None) -> str | None:
        """A path state.json names (traceback, log): relative ones are relative to the run's folder,
        so a moved results folder still finds them; absolute ones (a SLURM log) as they are."""
        if not path or os.path.isabs(path):
            return path
        return os.path.join(self.paths(run_id).run_dir, path)

    def stage_path(self, run_id: str, stage: str) -> str:
        return self.paths(run_id).stage(stage)

    def run_ids(self) -> list[str]:
        """Ids of the run directories present (entries that are not directories are left out)."""
        top = runs_dir(self.root)
        try:
            names = os.listdir(top)
        except (NotADirectoryError, FileNotFoundError, PermissionError):
            return []
        return sorted(name for name in names if os.path.isdir(os.path.join(top, name)))

    # -- writes (all atomic) -------------------------------------------------------------------
    def write_json(self, path: str | os.PathLike, obj) -> None:
        """A JSON file anywhere under the results root (reports, figure provenance)."""
        write_json_atomic(path, obj)

    def write_text(self, path: str | os.PathLike, text: str) -> None:
        write_text_atomic(path, text)

    def write_bytes(self, path: str | os.PathLike, data: bytes) -> None:
        write_bytes_atomic(path, data)

    def write_run(self, run) -> None:
        """run.json: what the run is, so a worker on another host needs nothing but the id."""
        path = self.paths(run.id).config
        if isinstance(records.read_run_config(path), dict):
            return
        write_json_atomic(path, {"id": run.id, "config": run.config, "label": getattr(run, "label", None),
                                 "created": _now()})

    def set_state(self, run_id: str, state: str, **info) -> dict:
        """Merge `info` into the run's state; failure details are dropped when it stops failing.
        A damaged state.json is replaced (it is a hint; the damage is not worth keeping)."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {STATES}")
        current = self.read_state(run_id)
        current = dict(current) if isinstance(current, dict) else {}
        if state != "failed":
            for key in _FAILURE_KEYS:
                current.pop(key, None)
        current.update(info)
        current.update(state=state, updated=_now())
        if "host" not in info and (state in ("running", "done", "failed") or "host" not in current):
            current["host"] = socket.gethostname()  # where it last ran, for `status`
        path = self.paths(run_id).state
        if os.path.isdir(path):
            self.set_aside(path)
        write_json_atomic(path, current)
        return current

    def write_progress(self, run_id: str, stage: str, iteration: int | None = None,
                       max_iters: int | None = None) -> None:
        write_json_atomic(self.paths(run_id).progress,
                          {"stage": stage, "iter": iteration, "max_iters": max_iters, "updated": _now()})

    def write_stage(self, run_id: str, stage: str, result: dict) -> None:
        write_json_atomic(self.paths(run_id).stage(stage), result)

    def write_record(self, run_id: str, record: dict) -> None:
        write_json_atomic(self.paths(run_id).record, record)

    def write_traceback(self, run_id: str, text: str) -> str:
        """traceback.txt; returns its name relative to the run's folder (what state.json keeps)."""
        path = self.paths(run_id).traceback
        write_text_atomic(path, text)
        return os.path.basename(path)

    def set_aside(self, path: str) -> str:
        """Move a damaged file (or directory) out of the way, keeping it: ``<name>.damaged-<time>``."""
        aside = f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        with guard(path):
            os.rename(path, aside)
        return aside

    def set_aside_damage(self, run_id: str) -> list[str]:
        """Before a run is trained again: move its damaged files aside (kept, renamed) -- a record,
        state or stage file, or a file where the run's directory should be -- so the worker neither
        trips on them nor silently overwrites them."""
        moved = []
        for damaged in self.view(run_id).damage:
            # runs/ itself is never moved: it is refused before any run starts (executors.base).
            if damaged.path != runs_dir(self.root) and os.path.lexists(damaged.path):
                moved.append(self.set_aside(damaged.path))
        return moved

    def forget_results(self, run_id: str) -> None:
        """--force: drop the record, the stage markers, checkpoints and dumps, so the run trains
        again from iteration 0 (run.json and state.json stay)."""
        paths = self.paths(run_id)
        for directory in (paths.work_dir, paths.dump_dir):
            shutil.rmtree(directory, ignore_errors=True)
        for path in (paths.record, paths.progress, paths.traceback):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if os.path.isdir(paths.stages_dir):
            for name in os.listdir(paths.stages_dir):
                entry = os.path.join(paths.stages_dir, name)
                if os.path.isdir(entry):       # damage: a directory where a stage file belongs
                    shutil.rmtree(entry)
                else:
                    os.unlink(entry)

    # -- validated reads: a value, None (absent) or Damaged ------------------------------------
    def read_run(self, run_id: str):
        return records.read_run_config(self.paths(run_id).config)

    def read_config(self, run_id: str) -> dict:
        from ssa_bench.errors import UserError

        run = self.read_run(run_id)
        path = self.paths(run_id).config
        if run is None:
            raise FileNotFoundError(f"{path} does not exist; plan the run first (`ssa-bench run`)")
        if isinstance(run, Damaged):
            raise UserError(run.what, file=run.path, fix=run.fix)
        return run["config"]

    def read_state(self, run_id: str):
        return records.read_state(self.paths(run_id).state)

    def read_progress(self, run_id: str):
        return records.read_progress(self.paths(run_id).progress)

    def read_stage(self, run_id: str, stage: str):
        return records.read_stage(self.paths(run_id).stage(stage))

    def read_record(self, run_id: str):
        return records.read_record(self.paths(run_id).record)

    def read_claim(self, run_id: str):
        return records.read_claim(self.paths(run_id).claim)

    def record(self, run_id: str) -> dict | None:
        """The run's record if it is valid, else None."""
        value = self.read_record(run_id)
        return value if isinstance(value, dict) else None

    def stage_done(self, run_id: str, stage: str) -> bool:
        """A valid cached result of ``stage`` exists (a damaged one means: run the stage again)."""
        return isinstance(self.read_stage(run_id, stage), dict)

    def layout_damage(self) -> Damaged | None:
        """runs/ itself is not a directory: no run can be read or written."""
        top = runs_dir(self.root)
        if os.path.lexists(top) and not os.path.isdir(top):
            return Damaged(top, "is a file where the runs/ directory should be",
                           "move it away (it holds no run) and rerun")
        return None

    def verdict(self, run_id: str) -> tuple[str, dict | None]:
        """(state, valid record or None): the cheap part of :meth:`view`, for reading thousands of
        runs (reports). state.json is read only when there is no valid record."""
        record = self.read_record(run_id)
        if isinstance(record, dict):
            return "done", record
        if isinstance(record, Damaged) or self.layout_damage() is not None:
            return "damaged", None
        state = self.read_state(run_id)
        name = state.get("state", "pending") if isinstance(state, dict) else "pending"
        return ("pending" if name == "done" else name), None

    def states(self, run_ids) -> dict[str, str]:
        """{run id: the verdict's state} for many runs (`plan` of thousands): one listing of runs/
        tells which runs have a folder at all; the others are pending without another look."""
        if self.layout_damage() is not None:
            return {run_id: "damaged" for run_id in run_ids}
        try:
            present = set(os.listdir(runs_dir(self.root)))
        except (FileNotFoundError, PermissionError):
            present = set()
        return {run_id: self.verdict(run_id)[0] if run_id in present else "pending" for run_id in run_ids}

    def damaged_files(self, run_ids) -> list[Damaged]:
        """The damaged record.json and state.json files of these runs, the layout's damage first:
        what `plan` and `figures` must mention, since the verdict alone hides a damaged state.json
        beside a valid record (the run is done) and a figure drawn from the other runs would hide
        a damaged record."""
        layout = self.layout_damage()
        if layout is not None:
            return [layout]
        try:
            present = set(os.listdir(runs_dir(self.root)))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []
        found = []
        for run_id in dict.fromkeys(run_ids):
            if run_id not in present:
                continue
            paths = self.paths(run_id)
            if not os.path.isdir(paths.run_dir):
                found.append(Damaged(paths.run_dir, "is a file where the run's directory should be",
                                     "delete it (or move it aside) to rerun the run"))
                continue
            found += [v for v in (self.read_record(run_id), self.read_state(run_id)) if isinstance(v, Damaged)]
        return found

    def view(self, run_id: str) -> RunView:
        """The run as `status` and `run` see it, with every damaged file listed."""
        layout = self.layout_damage()
        if layout is not None:
            return RunView(run_id, "damaged", damage=[layout])
        paths = self.paths(run_id)
        if os.path.lexists(paths.run_dir) and not os.path.isdir(paths.run_dir):
            return RunView(run_id, "damaged", damage=[Damaged(paths.run_dir, "is a file where the run's "
                                                                             "directory should be",
                                                              "delete it (or move it aside) to rerun the run")])
        record = self.read_record(run_id)
        state = self.read_state(run_id)
        damage = [value for value in (record, state) if isinstance(value, Damaged)]
        for stage in STAGES:
            value = self.read_stage(run_id, stage)
            if isinstance(value, Damaged):
                damage.append(value)
        info = state if isinstance(state, dict) else {}
        if isinstance(record, dict):
            return RunView(run_id, "done", info, record, damage)
        if isinstance(record, Damaged):
            return RunView(run_id, "damaged", info, None, damage)
        name = info.get("state", "pending")
        # A 'done' hint without a record is a lie of the hint: the run is not done.
        return RunView(run_id, "pending" if name == "done" else name, info, None, damage)

    # -- claims (ssa_bench.store.claims) -------------------------------------------------------
    def claim(self, run_id: str, owner: Owner) -> bool:
        """Claim the run for ``owner``; False when a live other owner holds it."""
        self.run_dir(run_id)
        return claims.claim(self.paths(run_id).claim, owner)

    def claim_holder(self, run_id: str) -> Owner | None:
        """Who holds the run's claim (live or stale); None when unclaimed or the claim is damaged."""
        return claims.holder(self.paths(run_id).claim)

    def claim_is_live(self, run_id: str) -> bool:
        """Someone (this process included) holds a claim that is not stale."""
        path = self.paths(run_id).claim
        return os.path.lexists(path) and not claims.is_stale(path)

    def transfer_claim(self, run_id: str, old_owner: Owner, new_owner: Owner) -> bool:
        return claims.transfer(self.paths(run_id).claim, old_owner, new_owner)

    def release_claim(self, run_id: str, owner: Owner) -> None:
        """Give the claim up; a no-op unless ``owner`` holds it (nobody releases another's claim)."""
        claims.release(self.paths(run_id).claim, owner)

    def heartbeat_claim(self, run_id: str, owner: Owner) -> bool:
        return claims.heartbeat(self.paths(run_id).claim, owner)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
