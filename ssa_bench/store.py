"""The results store: ``<root>/runs/<id>/`` per run, the only writer under the results root.

Layout and file formats are in docs/ARCHITECTURE.md. Every JSON write is atomic (temp file in the
same directory, fsync, ``os.replace``) so a killed worker or a Ctrl-C never leaves a half-written
record that a later ``gather`` would choke on: a reader sees the old file or the new one.
No torch here: planning, status and reporting read the store and must stay fast.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

STATES = ("pending", "queued", "running", "done", "failed")
STAGES = ("train", "evaluate", "measure", "dump")
# A state that is not a failure carries no stale traceback or failure reason from an earlier attempt.
_FAILURE_KEYS = ("traceback", "reason")


def default_root() -> str:
    return os.environ.get("SSA_BENCH_RESULTS") or "results"


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=2, sort_keys=False, default=_json_default)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _json_default(value):
    # numpy scalars and paths end up in records; store them as plain JSON values.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | os.PathLike):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        # Only possible for files written by something other than this module; treat as absent.
        return None


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = str(Path(root or default_root()).absolute())

    # -- paths ---------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> str:
        path = os.path.join(self.root, "runs", run_id)
        os.makedirs(path, exist_ok=True)
        return path

    def path(self, run_id: str, name: str) -> str:
        return os.path.join(self.root, "runs", run_id, name)

    def stage_path(self, run_id: str, stage: str) -> str:
        return os.path.join(self.root, "runs", run_id, "stages", f"{stage}.json")

    def work_dir(self, run_id: str) -> str:
        path = os.path.join(self.run_dir(run_id), "work_dir")
        os.makedirs(path, exist_ok=True)
        return path

    def dump_dir(self, run_id: str) -> str:
        path = os.path.join(self.run_dir(run_id), "dump")
        os.makedirs(path, exist_ok=True)
        return path

    # -- writes --------------------------------------------------------------------------------
    def write_json(self, path: str | os.PathLike, obj) -> None:
        write_json_atomic(path, obj)

    def write_run(self, run) -> None:
        """run.json: what the run is, so a worker on another host needs nothing but the id."""
        path = self.path(run.id, "run.json")
        if os.path.exists(path):
            return
        self.run_dir(run.id)
        write_json_atomic(path, {"id": run.id, "config": run.config, "label": getattr(run, "label", None),
                                 "created": _now()})

    def set_state(self, run_id: str, state: str, **info) -> dict:
        """Merge `info` into the run's state; failure details are dropped when it stops failing."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {STATES}")
        current = self.read_state(run_id) or {}
        if state != "failed":
            for key in _FAILURE_KEYS:
                current.pop(key, None)
        current.update(info)
        current.update(state=state, updated=_now())
        if "host" not in info and (state in ("running", "done", "failed") or "host" not in current):
            current["host"] = socket.gethostname()  # where it last ran, for `status`
        write_json_atomic(self.path(run_id, "state.json"), current)
        return current

    def write_progress(self, run_id: str, stage: str, iteration: int | None = None,
                       max_iters: int | None = None) -> None:
        write_json_atomic(self.path(run_id, "progress.json"),
                          {"stage": stage, "iter": iteration, "max_iters": max_iters, "updated": _now()})

    def write_stage(self, run_id: str, stage: str, result: dict) -> None:
        write_json_atomic(self.stage_path(run_id, stage), result)

    def write_record(self, run_id: str, record: dict) -> None:
        write_json_atomic(self.path(run_id, "record.json"), record)

    def write_traceback(self, run_id: str, text: str) -> str:
        path = self.path(run_id, "traceback.txt")
        write_text_atomic(path, text)
        return path

    def forget_results(self, run_id: str) -> None:
        """--force: drop the record, the stage markers, checkpoints and dumps, so the run trains
        again from iteration 0 (run.json and state.json stay)."""
        import shutil

        for name in ("work_dir", "dump"):
            shutil.rmtree(self.path(run_id, name), ignore_errors=True)
        for name in ("record.json", "progress.json", "traceback.txt"):
            try:
                os.unlink(self.path(run_id, name))
            except FileNotFoundError:
                pass
        stages = self.path(run_id, "stages")
        if os.path.isdir(stages):
            for name in os.listdir(stages):
                os.unlink(os.path.join(stages, name))

    # -- reads ---------------------------------------------------------------------------------
    def read_run(self, run_id: str) -> dict | None:
        return read_json(self.path(run_id, "run.json"))

    def read_config(self, run_id: str) -> dict:
        run = self.read_run(run_id)
        if run is None:
            raise FileNotFoundError(f"{self.path(run_id, 'run.json')} does not exist; plan the run first")
        return run["config"]

    def read_state(self, run_id: str) -> dict | None:
        return read_json(self.path(run_id, "state.json"))

    def read_progress(self, run_id: str) -> dict | None:
        return read_json(self.path(run_id, "progress.json"))

    def read_stage(self, run_id: str, stage: str) -> dict | None:
        return read_json(self.stage_path(run_id, stage))

    def stage_done(self, run_id: str, stage: str) -> bool:
        return os.path.exists(self.stage_path(run_id, stage))

    def record(self, run_id: str) -> dict | None:
        return read_json(self.path(run_id, "record.json"))

    def is_done(self, run_id: str) -> bool:
        state = self.read_state(run_id) or {}
        return state.get("state") == "done" and os.path.exists(self.path(run_id, "record.json"))

    def run_ids(self) -> list[str]:
        runs = os.path.join(self.root, "runs")
        return sorted(os.listdir(runs)) if os.path.isdir(runs) else []


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
