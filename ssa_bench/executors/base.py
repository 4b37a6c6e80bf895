"""The executor interface: what every backend (local, SLURM) shares.

``Executor.run(runs, attach, dry_run) -> Outcome`` is the one entry point ``ssa-bench run`` calls.
Around the backend-specific :meth:`Executor.execute`, the base class owns what must not differ
between backends: the ``--max-parallel`` check, which runs still need executing
(:func:`select_runs`, with the store's rule that a valid record means done), which runs are in
flight elsewhere (:func:`in_flight`: a live claim, or a SLURM job the disk says is queued), and
the preparation of a run about to be trained again (results dropped for ``--force``, damaged files
moved aside, kept).
"""
from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from rich.console import Console

from ssa_bench.errors import UserError
from ssa_bench.store import Store
from ssa_bench.store.claims import _pid_alive


@dataclass
class Outcome:
    """What a ``run`` achieved: ``code`` 0 when every run it executed or followed is done."""
    code: int
    failed: list[str] = field(default_factory=list)
    claimed_elsewhere: list[str] = field(default_factory=list)


def in_flight(store: Store, run_id: str, state: dict | None = None) -> bool:
    """Queued or running somewhere that may still finish it.

    A live claim says so for every executor. Without one, a SLURM job is trusted until `status`
    (sacct) says otherwise; a local worker only while its process lives on this host -- after a
    Ctrl-C or a reboot its 'running' is stale.
    """
    if store.claim_is_live(run_id):
        return True
    state = state if state is not None else store.read_state(run_id)
    if not isinstance(state, dict) or state.get("state") not in ("queued", "running"):
        return False
    if state.get("executor") == "slurm":
        return True
    if state.get("host") not in (None, socket.gethostname()):
        return True
    # A local "running" state without a pid (written by an older version, or cut short) has no
    # process to ask; os.kill(0, 0) would ask our own process group and call it alive forever.
    pid = state.get("pid")
    return state.get("state") == "running" and isinstance(pid, int) and pid > 0 and _pid_alive(pid)


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

    @abstractmethod
    def execute(self, runs: list, attach: list) -> Outcome:
        """Execute ``runs`` (claiming each first) and follow ``attach``; return the outcome."""
