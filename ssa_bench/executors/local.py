"""Run each pending run on this machine, one worker subprocess per run, with a live status table.

A subprocess per run keeps one run's crash, memory or leaked threads from touching the others and is
the same entry point a SLURM array task calls (``python -m ssa_bench.worker``), so both executors
exercise one code path. The parent only claims, spawns, watches ``progress.json``/``state.json`` and
draws.

Claims (ssa_bench.store.claims): every run is claimed by this process before anything is written
about it, so a second ``ssa-bench run`` of the same runs started at the same instant gets none of
them and follows this one's instead of training them too. At spawn the claim passes to the worker's
pid: a worker that outlives a killed submitter keeps its run. Claims are released when the worker
ends, fails or is interrupted.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ssa_bench.executors.base import Executor, Outcome, in_flight
from ssa_bench.executors.progress_lines import ProgressLines
from ssa_bench.matrix.run import Run
from ssa_bench.store import Owner, Store
from ssa_bench.store.claims import pid_alive
from ssa_bench.store.storage import StorageError

POLL_SECONDS = 0.5
# Another host sharing the results (NFS) judges this claim by its mtime: refresh well within
# ssa_bench.store.claims.HEARTBEAT_TIMEOUT_S.
HEARTBEAT_SECONDS = 60.0
WORKER_COMMAND = (sys.executable, "-m", "ssa_bench.worker")


@dataclass
class _Active:
    run: Run
    process: subprocess.Popen
    started: float
    log_path: str
    owner: Owner | None = None       # the worker's claim (None: the submitter still holds it)


@dataclass
class _Progress:
    total: int
    done: int = 0
    failed: int = 0
    failed_ids: list[str] = field(default_factory=list)


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    # Split the cores between concurrent workers instead of letting each grab all of them.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "SSA_BENCH_THREADS"):
        env[var] = str(threads)
    env["SSA_BENCH_EXECUTOR"] = "local"
    return env


def _spawn(run: Run, store: Store, threads: int, owner: Owner,
           worker_command: tuple[str, ...] = WORKER_COMMAND) -> _Active:
    log_path = store.paths(run.id).worker_log
    store.run_dir(run.id)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*worker_command, "--results-dir", store.root, run.id],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_worker_env(threads),
        )
    worker = Owner("local", socket.gethostname(), process.pid, None, time.time())
    handed = False
    try:
        handed = store.transfer_claim(run.id, owner, worker)
        store.set_state(run.id, "running", executor="local", pid=process.pid, job_id=None)
    except StorageError:
        pass        # the worker is running: it records its own state, or its failure to
    return _Active(run, process, time.time(), log_path, worker if handed else None)


def _release(active: _Active, store: Store, owner: Owner) -> None:
    try:
        store.release_claim(active.run.id, active.owner or owner)
    except StorageError:
        pass        # a claim whose pid is gone is stale: the next `run` breaks it


def _mark_failed(store: Store, run_id: str, reason: str, console: Console | None = None, **info) -> None:
    """state.json := failed. When even that cannot be written (a full or read-only file system),
    the submitter says so and goes on: `status` tells a run whose worker is gone from a running one."""
    try:
        store.set_state(run_id, "failed", reason=reason, **info)
    except StorageError as error:
        if console is not None:
            console.print(f"[red]failed[/red] {run_id}: {reason} (not recorded: {error.one_line()})",
                          highlight=False, soft_wrap=True)


def _release_quietly(store: Store, run_id: str, owner: Owner) -> None:
    try:
        store.release_claim(run_id, owner)
    except StorageError:
        pass


def _finish(active: _Active, store: Store, progress: _Progress, owner: Owner,
            lines: ProgressLines | None = None) -> None:
    code = active.process.returncode
    try:
        state = store.read_state(active.run.id) or {}
        if code == 0 and store.view(active.run.id).state == "done":
            progress.done += 1
            if lines:
                lines.finished(active.run, "done", _metrics_text(store, active.run.id))
            return
        if state.get("state") != "failed":
            # The worker died before it could record its own failure (killed, out of memory, a
            # disk too full to write it).
            _mark_failed(store, active.run.id, f"worker exited with code {code} without recording a result",
                         traceback=os.path.basename(active.log_path))
        progress.failed += 1
        progress.failed_ids.append(active.run.id)
        if lines:
            lines.finished(active.run, "failed", f"see {active.log_path}")
    finally:
        _release(active, store, owner)


def _metrics_text(store: Store, run_id: str) -> str:
    """The done run's headline numbers for its last progress line."""
    metrics = (store.record(run_id) or {}).get("metrics") or {}
    miou = metrics.get("mIoU")
    return f"mIoU {miou:.2f}" if isinstance(miou, (int, float)) else ""


def _status_table(active: list[_Active], pending: list[Run], followed: list[Run], progress: _Progress,
                  store: Store) -> Table:
    remaining = progress.total - progress.done - progress.failed
    table = Table(title=f"runs: {progress.done} done, {progress.failed} failed, "
                        f"{remaining} remaining of {progress.total}", title_justify="left")
    for column in ("run", "label", "stage", "iteration", "elapsed"):
        table.add_column(column)
    for item in active:
        info = store.read_progress(item.run.id) or {}
        iteration = f"{info.get('iter', 0)}/{info.get('max_iters', '?')}" if "iter" in info else ""
        table.add_row(item.run.id, item.run.label, info.get("stage", "starting"), iteration,
                      f"{time.time() - item.started:.0f}s")
    for run in followed:
        holder = store.claim_holder(run.id)
        table.add_row(run.id, run.label, f"run by {holder.describe() if holder else 'another process'}", "", "")
    if pending:
        table.add_row("", f"... {len(pending)} waiting", "", "", "")
    return table


def default_parallelism(runs: list[Run]) -> int:
    """CPU runs: one per core (up to 4), one thread each -- a small model trains faster as two
    single-thread processes than as one process on two threads. Anything that may use a GPU: one
    at a time, so two runs never share a device."""
    if runs and all((run.config.get("train") or {}).get("device") == "cpu" for run in runs):
        return max(1, min(os.cpu_count() or 1, 4))
    return 1


def _followable(store: Store, run: Run) -> bool:
    """Held by a live local process (here or on another host): it ends and this run can follow it.
    Runs a SLURM job holds are left to `ssa-bench status`; this executor cannot ask SLURM."""
    holder = store.claim_holder(run.id)
    return holder is not None and holder.kind in ("local", "submitter") and store.claim_is_live(run.id)


def run_local(runs: list[Run], store: Store, *, max_parallel: int | None = None,
              console: Console | None = None, attach: list[Run] | None = None,
              worker_command: tuple[str, ...] = WORKER_COMMAND) -> Outcome:
    """Execute ``runs`` here and follow ``attach`` (runs other local processes are training);
    code 0 when all finished, 1 when any failed."""
    console = console or Console(stderr=True)
    max_parallel = max(1, max_parallel or default_parallelism(runs))
    threads = max(1, (os.cpu_count() or 1) // max_parallel)
    owner = Owner.this_process("local")
    pending, followed, elsewhere, unwritable = [], [], [], []
    for run in runs:
        try:
            store.write_run(run)
            claimed = store.claim(run.id, owner)
        except StorageError as error:
            # Nothing of the run could be written (full, read-only, failing file system): it is
            # not started, the others are.
            console.print(f"[red]failed[/red] {run.id}: {error.one_line()}", highlight=False, soft_wrap=True)
            _mark_failed(store, run.id, error.one_line())
            unwritable.append(run.id)
            continue
        (pending if claimed else followed).append(run)
    for run in list(attach or []) + followed:
        if not _followable(store, run):
            elsewhere.append(run)
    followed = [run for run in list(attach or []) + followed if run not in elsewhere]
    if followed:
        console.print(f"{len(followed)} run(s) are being trained by another ssa-bench process: followed, "
                      f"not trained here")
    for run in elsewhere:
        holder = store.claim_holder(run.id)
        console.print(f"{run.id} is claimed by {holder.describe() if holder else 'another process'}: not "
                      f"trained here (`ssa-bench status` follows it)", highlight=False)
    for run in list(pending):
        try:
            store.set_state(run.id, "queued", executor="local")
        except StorageError as error:
            console.print(f"[red]failed[/red] {run.id}: {error.one_line()}", highlight=False, soft_wrap=True)
            _mark_failed(store, run.id, error.one_line())
            _release_quietly(store, run.id, owner)
            pending.remove(run)
            unwritable.append(run.id)
    progress = _Progress(total=len(pending) + len(followed) + len(unwritable), failed=len(unwritable),
                         failed_ids=list(unwritable))
    active: list[_Active] = []
    beat = time.monotonic()
    # A terminal gets the live table (transient: it gives way to one summary line at the end); a
    # log file (2>file, nohup, a SLURM log) gets a plain line per run event.
    lines = None if console.is_terminal else ProgressLines(console.file)
    if lines:
        for run in pending:
            lines.queued(run)
        for run in followed:
            holder = store.claim_holder(run.id)
            lines.followed(run, holder.describe() if holder else "another process")
    try:
        display = (Live(console=console, refresh_per_second=2, transient=True) if lines is None
                   else contextlib.nullcontext())
        with display as live:
            while pending or active or followed:
                while pending and len(active) < max_parallel:
                    run = pending.pop(0)
                    try:
                        active.append(_spawn(run, store, threads, owner, worker_command))
                        if lines:
                            lines.started(run, active[-1].process.pid)
                    except StorageError as error:     # its log could not even be opened
                        _mark_failed(store, run.id, error.one_line())
                        _release_quietly(store, run.id, owner)
                        progress.failed += 1
                        progress.failed_ids.append(run.id)
                        if lines:
                            lines.finished(run, "failed", error.one_line())
                if lines:
                    for item in active:
                        lines.poll(item.run, store.read_progress(item.run.id) or {})
                for item in [a for a in active if a.process.poll() is not None]:
                    active.remove(item)
                    _finish(item, store, progress, owner, lines)
                for run in [r for r in followed if not in_flight(store, r.id)]:
                    followed.remove(run)
                    _settle_followed(run, store, owner, progress, pending)
                    if lines:
                        verdict = store.view(run.id).state
                        lines.finished(run, verdict if verdict in ("done", "failed") else "queued here")
                if time.monotonic() - beat > HEARTBEAT_SECONDS:
                    beat = time.monotonic()
                    for run in pending:
                        store.heartbeat_claim(run.id, owner)
                    for item in active:
                        store.heartbeat_claim(item.run.id, item.owner or owner)
                if live is not None:
                    live.update(_status_table(active, pending, followed, progress, store))
                if pending or active or followed:
                    time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _interrupt(active, pending, store, owner)
        raise
    except BaseException:
        _interrupt(active, pending, store, owner, reason="the submitter crashed")
        raise
    # What stays after the live table (transient) is gone; in a log, its last line.
    console.print(f"runs: {progress.done} done, {progress.failed} failed of {progress.total}", highlight=False)
    for run_id in progress.failed_ids:
        state = store.read_state(run_id) or {}
        details = [state.get("reason"), store.resolve(run_id, state.get("traceback"))]
        console.print(f"[red]failed[/red] {run_id}: {'; '.join(d for d in details if d) or 'see its worker.log'}",
                      highlight=False, soft_wrap=True)
    return Outcome(1 if progress.failed or elsewhere else 0, failed=list(progress.failed_ids),
                   claimed_elsewhere=[run.id for run in elsewhere])


def _settle_followed(run: Run, store: Store, owner: Owner, progress: _Progress, pending: list[Run]) -> None:
    """A run another process was training is no longer in flight: done, failed, or given up
    (its submitter interrupted before it started): then this process trains it, if it can claim it."""
    view = store.view(run.id)
    if view.state == "done":
        progress.done += 1
    elif view.state == "failed":
        progress.failed += 1
        progress.failed_ids.append(run.id)
    elif store.claim(run.id, owner):
        store.set_state(run.id, "queued", executor="local")
        pending.append(run)
    else:
        progress.failed += 1
        progress.failed_ids.append(run.id)


def _interrupt(active: list[_Active], pending: list[Run], store: Store, owner: Owner,
               reason: str = "interrupted (Ctrl-C)") -> None:
    for item in active:
        item.process.terminate()
    for item in active:
        try:
            item.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            item.process.kill()
        _mark_failed(store, item.run.id, f"{reason}; rerun the same command to continue",
                     traceback=os.path.basename(item.log_path))
        _release(item, store, owner)
    for run in pending:
        # Only what this submitter queued and never started goes back to pending: a finished run
        # must stay done.
        try:
            if (store.read_state(run.id) or {}).get("state") == "queued":
                store.set_state(run.id, "pending")
        except StorageError:
            pass
        _release_quietly(store, run.id, owner)


class LocalExecutor(Executor):
    """This machine: one worker subprocess per run, ``--max-parallel`` at once."""

    name = "local"

    def __init__(self, store: Store, *, worker_command: tuple[str, ...] = WORKER_COMMAND, **options):
        super().__init__(store, **options)
        self.worker_command = tuple(worker_command)

    @staticmethod
    def state_in_flight(state: dict) -> bool:
        # A worker on another host sharing the results is trusted; one on this host only while its
        # process lives -- after a Ctrl-C or a reboot its 'running' is stale. A 'running' state
        # without a pid (written by an older version, or cut short) has no process to ask:
        # os.kill(0, 0) would ask our own process group and call it alive forever.
        if state.get("host") not in (None, socket.gethostname()):
            return True
        pid = state.get("pid")
        return state.get("state") == "running" and isinstance(pid, int) and pid > 0 and pid_alive(pid)

    def attachable(self, skipped: list) -> list:
        return [run for run in super().attachable(skipped) if _followable(self.store, run)]

    def execute(self, runs: list, attach: list) -> Outcome:
        return run_local(runs, self.store, max_parallel=self.max_parallel, console=self.console,
                         attach=attach, worker_command=self.worker_command)
