"""`ssa-bench status SPEC`: every run's state, with what SLURM says about its job (pending reason,
node, attempts: ``ssa_bench.executors.slurm.status``) and a local `running` run whose worker is gone
shown as failed."""
from __future__ import annotations

import json
import os
import sys
from argparse import Namespace

from rich.table import Table

from ssa_bench.commands.shared import err, load, out, print_hint, state_of


def cmd_status(args: Namespace) -> int:
    spec, runs, store = load(args)
    print_hint(args, spec, runs, store)
    infos = {}
    if any(state_of(store, r.id).get("executor") == "slurm" for r in runs):
        from ssa_bench.executors.slurm import refresh_states
        from ssa_bench.store import StorageError

        try:
            infos = refresh_states(store, runs) or {}
        except StorageError as error:
            # A full or read-only results folder: show what is on disk rather than nothing.
            err.print(f"[yellow]warning:[/yellow] could not bring the states up to date with SLURM: "
                      f"{error.one_line()}", highlight=False, soft_wrap=True)
    rows = [_status_row(run, store, infos) for run in runs]
    if args.json:
        # One run per line: still one JSON array, written by the C encoder (indent= would use the
        # pure-Python one, ~6 s for 10,000 runs).
        sys.stdout.write("[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n")
        return 0
    table = Table(title=f"{spec.title or spec.name} -- profile {spec.profile}", title_justify="left")
    for column in ("id", "row", "state", "attempts", "node", "progress", "details"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "failed": "red", "running": "yellow", "queued": "cyan"}
    for row in rows:
        name = " / ".join(str(p) for p in (row["section"], row["label"], row["column"]) if p)
        progress = f"{row['iter']}/{row['max_iters']}" if row["iter"] is not None else ""
        colour = colours.get(row["state"], "white")
        table.add_row(row["id"], name, f"[{colour}]{row['state']}[/{colour}]", str(row["attempts"] or ""),
                      row["node"] or "", progress, _status_details(row), )
    out.print(table)
    return 0


def _status_row(run, store, infos: dict) -> dict:
    """One run's line of `status`: its state with what SLURM says about its job."""
    state = state_of(store, run.id)
    if state["state"] == "running" and state.get("executor") != "slurm":
        from ssa_bench.executors.base import in_flight

        if not in_flight(store, run.id, state):
            # Its worker is gone without a word (killed, or the disk was too full to write one):
            # 'running' would be a lie that stays forever.
            log = os.path.basename(store.paths(run.id).worker_log)
            state = {**state, "state": "failed", "traceback": log, "reason": state.get("reason") or
                     f"the worker (pid {state.get('pid')}) ended without recording a result; see {log} "
                     f"and rerun the same `ssa-bench run`"}
    from ssa_bench.executors.slurm import job_columns

    progress = store.read_progress(run.id) or {}
    attempts = state.get("attempts") or []
    job_id = state.get("job_id")
    slurm = job_columns(store, run.id, state, infos)
    node = slurm["node"]
    if state.get("executor") == "local" or (not node and state["state"] in ("running", "done", "failed")):
        node = node or state.get("host")
    return {"id": run.id, "label": run.label, "section": run.section, "column": run.column,
            "seed": run.seed, "state": state["state"], "traceback": store.resolve(run.id, state.get("traceback")),
            "reason": slurm["orphan"] or state.get("reason"), "job_id": job_id,
            "slurm_state": slurm["slurm_state"], "slurm_reason": slurm["slurm_reason"],
            "attempts": len(attempts) or state.get("attempt") or None, "requeued": state.get("requeued") or 0,
            "node": node, "iter": progress.get("iter"), "max_iters": progress.get("max_iters")}


def _status_details(row: dict) -> str:
    job = f"job {row['job_id']}" if row["job_id"] else ""
    if row["state"] == "failed":
        parts = [row["reason"] or "failed", f"traceback: {row['traceback']}" if row["traceback"] else ""]
        return "; ".join(p for p in parts if p)
    if row["state"] == "queued":
        reason = row["slurm_reason"]
        if reason:
            from ssa_bench.executors.slurm import pending_text

            waiting = pending_text(reason, row["job_id"], row["requeued"])
            return f"{job}, {waiting}" if job else waiting
        return ", ".join(p for p in (job, row["reason"] or "") if p)
    return job or (row["reason"] or "")
