"""Run each pending run on this machine, one worker subprocess per run, with a live status table.

A subprocess per run keeps one run's crash, memory or leaked threads from touching the others and is
the same entry point a SLURM array task calls (``python -m ssa_bench.worker``), so both executors
exercise one code path. The parent only spawns, watches ``progress.json``/``state.json`` and draws.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ssa_bench.plan import Run
from ssa_bench.store import Store

POLL_SECONDS = 0.5


@dataclass
class _Active:
    run: Run
    process: subprocess.Popen
    started: float
    log_path: str


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


def _spawn(run: Run, store: Store, threads: int) -> _Active:
    run_dir = store.run_dir(run.id)
    log_path = os.path.join(run_dir, "worker.log")
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ssa_bench.worker", "--results-dir", store.root, run.id],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_worker_env(threads),
    )
    log.close()
    store.set_state(run.id, "running", executor="local", pid=process.pid, job_id=None)
    return _Active(run, process, time.time(), log_path)


def _finish(active: _Active, store: Store, progress: _Progress) -> None:
    code = active.process.returncode
    state = store.read_state(active.run.id) or {}
    if code == 0 and state.get("state") == "done":
        progress.done += 1
        return
    if state.get("state") != "failed":
        # The worker died before it could record its own failure (killed, out of memory).
        store.set_state(active.run.id, "failed", traceback=active.log_path,
                        reason=f"worker exited with code {code} without recording a result")
    progress.failed += 1
    progress.failed_ids.append(active.run.id)


def _status_table(active: list[_Active], pending: list[Run], progress: _Progress,
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


def run_local(runs: list[Run], store: Store, *, max_parallel: int | None = None,
              console: Console | None = None) -> int:
    """Execute ``runs`` here; return 0 when all finished, 1 when any failed."""
    console = console or Console(stderr=True)
    max_parallel = max(1, max_parallel or default_parallelism(runs))
    threads = max(1, (os.cpu_count() or 1) // max_parallel)
    pending = list(runs)
    for run in pending:
        store.write_run(run)
        store.set_state(run.id, "queued", executor="local")
    progress = _Progress(total=len(pending))
    active: list[_Active] = []
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while pending or active:
                while pending and len(active) < max_parallel:
                    active.append(_spawn(pending.pop(0), store, threads))
                for item in [a for a in active if a.process.poll() is not None]:
                    _finish(item, store, progress)
                    active.remove(item)
                live.update(_status_table(active, pending, progress, store))
                if pending or active:
                    time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for item in active:
            item.process.terminate()
        for item in active:
            try:
                item.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.process.kill()
            store.set_state(item.run.id, "failed", traceback=item.log_path,
                            reason="interrupted (Ctrl-C); rerun the same command to continue")
        for run in pending:
            # Only what this submitter queued and never started goes back to pending: another
            # submitter on the same results may have run it meanwhile, and a finished run must
            # stay done.
            if (store.read_state(run.id) or {}).get("state") == "queued":
                store.set_state(run.id, "pending")
        raise
    for run_id in progress.failed_ids:
        state = store.read_state(run_id) or {}
        console.print(f"[red]failed[/red] {run_id}: {state.get('traceback') or state.get('reason')}")
    return 1 if progress.failed else 0
