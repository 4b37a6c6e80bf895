"""Following runs on SLURM: which of them SLURM still holds, and waiting for each to end.

Disk states (state.json, progress.json, written by the jobs) are read every second; SLURM's
accounting, shared by everyone on a cluster, every ``SSA_BENCH_SLURM_POLL_S`` seconds (30).
"""
from __future__ import annotations

import contextlib
import os
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ssa_bench.executors.slurm import accounting

POLL_DISK_S = 1.0
POLL_SLURM_S = float(os.environ.get("SSA_BENCH_SLURM_POLL_S", "30"))


def live_jobs(store, runs: list) -> set[str]:
    """Ids of runs whose job SLURM has not finished with: queued, running, or requeued after a
    node failure or preemption (never submit those again). A run on disk as failed is asked
    about too: its job may be waiting to resume (``run --rerun-failed`` during a requeue)."""
    tracked = {}
    for run in runs:
        state = store.read_state(run.id) or {}
        if state.get("executor") == "slurm" and state.get("state") != "done" and state.get("job_id"):
            tracked[run.id] = state
    if not tracked:
        return set()
    infos = accounting.query([str(state["job_id"]) for state in tracked.values()])
    if infos is None:   # SLURM does not answer: trust the disk rather than risk duplicates
        return {run_id for run_id, state in tracked.items() if state.get("state") in ("queued", "running")}
    alive = set()
    for run_id, state in tracked.items():
        info = accounting.job_info(state, infos)
        if info is None:
            # A job accounting does not know (yet) counts as alive while the disk says so.
            if state.get("state") in ("queued", "running"):
                alive.add(run_id)
        elif info.live:
            alive.add(run_id)
    accounting.refresh_states(store, [run for run in runs if run.id in tracked], infos)
    return alive


def _progress_table(runs: list, store, started: float) -> tuple[Table, dict[str, int]]:
    counts = {"done": 0, "failed": 0, "running": 0, "queued": 0}
    rows = []
    for run in runs:
        state = store.read_state(run.id) or {}
        name = state.get("state", "pending")
        counts[name] = counts.get(name, 0) + 1
        progress = store.read_progress(run.id) or {}
        running = name == "running"
        iteration = (f"{progress['iter']}/{progress.get('max_iters') or '?'}"
                     if running and progress.get("iter") is not None else "")
        waiting = f"pending: {state['slurm_reason']}" if name == "queued" and state.get("slurm_reason") else ""
        if state.get("requeued") and name == "queued":
            waiting = f"requeued; {waiting}" if waiting else "requeued"
        rows.append((run.id, str(run.label), name, str(state.get("job_id") or ""),
                     str(state.get("attempt") or ""), progress.get("stage", "") if running else waiting,
                     iteration))
    table = Table(title=f"SLURM: {counts['done']} done, {counts['failed']} failed, {counts['running']} "
                        f"running, {counts['queued']} queued of {len(runs)} ({time.time() - started:.0f}s)",
                  title_justify="left")
    for column in ("run", "label", "state", "job", "attempt", "stage / SLURM", "iteration"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table, counts


class _SlurmLines:
    """Each run's state changes (queued, running, done, failed) and its training progress as
    timestamped lines (ssa_bench.executors.progress_lines), for a submitter whose stderr is a log."""

    def __init__(self, stream) -> None:
        from ssa_bench.executors.progress_lines import ProgressLines

        self.lines = ProgressLines(stream)
        self.seen: dict[str, str] = {}

    def update(self, runs: list, store) -> None:
        for run in runs:
            state = store.read_state(run.id) or {}
            name = state.get("state", "pending")
            if name != self.seen.get(run.id):
                self.seen[run.id] = name
                job = f"job {state['job_id']}" if state.get("job_id") else ""
                if name == "running":
                    self.lines.started_as(run, ", ".join(p for p in (job, state.get("host") or "") if p))
                elif name in ("done", "failed"):
                    self.lines.finished(run, name, (state.get("reason") or "") if name == "failed" else "")
                else:
                    reason = f"pending: {state['slurm_reason']}" if state.get("slurm_reason") else ""
                    details = ", ".join(p for p in (job, reason) if p)
                    self.lines.line(run, name + (f" ({details})" if details else ""))
            if name == "running":
                self.lines.poll(run, store.read_progress(run.id) or {})


def wait_for(runs: list, store, console: Console, *, poll_slurm_s: float | None = None) -> int:
    """Follow the runs until each is done or failed; 0 when all are done."""
    poll_slurm_s = POLL_SLURM_S if poll_slurm_s is None else poll_slurm_s
    started = last_query = time.time()
    # A terminal gets the live table; a log (nohup, 2>file) a plain line per run event.
    lines = None if console.is_terminal else _SlurmLines(console.file)
    display = Live(console=console, refresh_per_second=1, transient=False) if lines is None else contextlib.nullcontext()
    with display as live:

        def show() -> dict:
            table, counts = _progress_table(runs, store, started)
            if lines is not None:
                lines.update(runs, store)
            else:
                live.update(table)
            return counts

        while True:
            if time.time() - last_query >= poll_slurm_s:
                accounting.refresh_states(store, runs)
                last_query = time.time()
            counts = show()
            if counts["done"] + counts["failed"] >= len(runs):
                # Confirm with SLURM before giving up on a 'failed': a task leaving through
                # submitit's requeue looks failed for a moment while its job is back in the queue.
                accounting.refresh_states(store, runs)
                last_query = time.time()
                counts = show()
                if counts["done"] + counts["failed"] >= len(runs):
                    break
            time.sleep(POLL_DISK_S)
    failed = [run for run in runs if (store.read_state(run.id) or {}).get("state") == "failed"]
    for run in failed:
        state = store.read_state(run.id) or {}
        console.print(f"[red]failed[/red] {run.id}: {state.get('reason') or ''} "
                      f"{('traceback: ' + store.resolve(run.id, state['traceback'])) if state.get('traceback') else ''}")
    return 1 if failed else 0
