"""The executor interface: what every backend (local, SLURM) shares.

``Executor.run(runs, attach, dry_run) -> Outcome`` is the one entry point ``ssa-bench run`` calls.
Around the backend-specific :meth:`Executor.execute`, the base class owns what must not differ
between backends: the ``--max-parallel`` check, which runs still need executing
(:func:`select_runs`, with the store's rule that a valid record means done), which runs are in
flight elsewhere (:func:`in_flight`: a live claim, or what the run's own backend says of the
process or job its state names), and the preparation of a run about to be trained again (results
dropped for ``--force``, damaged files moved aside, kept).
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from rich.console import Console

from ssa_bench.errors import UserError
from ssa_bench.store import Store

# Each executor name and the class that runs it. Imported on demand (:func:`backend`): the SLURM
# backend is not needed by local runs, and a backend module imports this one.
BACKENDS = {
    "local": "ssa_bench.executors.local:LocalExecutor",
    "slurm": "ssa_bench.executors.slurm:SlurmExecutor",
}


def backend(name: str) -> type["Executor"]:
    """The Executor class of a BACKENDS name."""
    module, attribute = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass
class Outcome:
    """What a ``run`` achieved: ``code`` 0 when every run it executed or followed is done."""
    code: int
    failed: list[str] = field(default_factory=list)
    claimed_elsewhere: list[str] = field(default_factory=list)


def in_flight(store: Store, run_id: str, state: dict | None = None) -> bool:
    """Queued or running somewhere that may still finish it.

    A live claim says so for every executor. Without one, the backend named in the run's state
    answers (``Executor.state_in_flight``); a state naming no known backend (written before states
    named theirs) is judged as a local one.
    """
    if store.claim_is_live(run_id):
        return True
    state = state if state is not None else store.read_state(run_id)
    if not isinstance(state, dict) or state.get("state") not in ("queued", "running"):
        return False
    name = state.get("executor")
    return backend(name if name in BACKENDS else "local").state_in_flight(state)


def select_runs(runs: list, store: Store, rerun_failed: bool = False, force: bool = False):
    """(to_run, skipped), changing nothing on disk (a dry run calls it too; :func:`prepare_runs`
    does the changes). Default: every run not done and not in flight (missing, pending, failed,
    damaged, stale); ``rerun_failed``: only the failed and damaged ones; ``force``: done ones too."""
    _check_runs_dir(store)
    to_run, skipped = [], []
    for run in runs:
        view = store.view(run.id)
        done = view.state == "done"
        if in_flight(store, run.id, view.info):
            skipped.append(run)
        elif done and not force:
            skipped.append(run)
        elif rerun_failed and view.state not in ("failed", "damaged") and not (done and force):
            skipped.append(run)
        else:
            to_run.append(run)
    return to_run, skipped


def prepare_runs(runs: list, store: Store) -> list[str]:
    """Just before ``runs`` execute: a done run (``--force``) loses its record, stage results,
    checkpoints and dumps, so it trains again from iteration 0; damaged files are moved aside as
    ``<name>.damaged-<time>`` (kept, for a look). Returns the paths moved aside."""
    moved = []
    for run in runs:
        if store.view(run.id).state == "done":
            store.forget_results(run.id)
        moved += store.set_aside_damage(run.id)
    return moved


def _check_runs_dir(store: Store) -> None:
    damage = store.layout_damage()
    if damage is not None:
        raise UserError(damage.what, file=damage.path, fix=damage.fix)


class Executor(ABC):
    """One backend. Subclasses implement :meth:`execute` (and :meth:`describe` for dry runs)."""

    name = "executor"

    def __init__(self, store: Store, *, max_parallel: int | None = None, console: Console | None = None):
        if max_parallel is not None and (isinstance(max_parallel, bool) or not isinstance(max_parallel, int)
                                         or max_parallel < 1):
            raise UserError("--max-parallel must be at least 1", key="--max-parallel", fix="pass a positive number")
        self.store = store
        self.max_parallel = max_parallel
        self.console = console or Console(stderr=True)

    def select(self, runs: list, *, rerun_failed: bool = False, force: bool = False):
        return select_runs(runs, self.store, rerun_failed=rerun_failed, force=force)

    def attachable(self, skipped: list) -> list:
        """Skipped runs this backend can follow to the end (in flight and not done)."""
        return [run for run in skipped if self.store.view(run.id).state != "done"
                and in_flight(self.store, run.id)]

    def run(self, runs: list, attach: list | None = None, dry_run: bool = False) -> Outcome:
        attach = list(attach or [])
        if dry_run:
            self.describe(list(runs))
            return Outcome(0)
        if not runs and not attach:
            return Outcome(0)
        moved = prepare_runs(runs, self.store)
        for path in moved:
            self.console.print(f"damaged file moved aside (kept): {path}", highlight=False, soft_wrap=True)
        return self.execute(list(runs), attach)

    def describe(self, runs: list) -> None:
        """Dry run: say what would be executed; nothing is written."""

    @staticmethod
    @abstractmethod
    def state_in_flight(state: dict) -> bool:
        """Whether the worker or job that a 'queued' or 'running' state of this backend names may
        still finish the run (asked by :func:`in_flight` when no live claim says so)."""

    @abstractmethod
    def execute(self, runs: list, attach: list) -> Outcome:
        """Execute ``runs`` (claiming each first) and follow ``attach``; return the outcome."""
