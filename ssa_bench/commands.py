"""One function per CLI command. Each returns the process exit code; UserError -> exit 2 (cli.py)."""
from __future__ import annotations

import json
from argparse import Namespace

from rich.console import Console
from rich.table import Table

from ssa_bench.errors import UserError

_out = Console(soft_wrap=True)
_err = Console(stderr=True)


def _load(args: Namespace):
    """Spec -> (spec, runs, store): the pipeline's first three pieces, shared by every command."""
    from ssa_bench.plan import plan
    from ssa_bench.spec import load_spec
    from ssa_bench.store import Store

    spec = load_spec(args.spec, profile=args.profile, overrides=args.overrides)
    runs = plan(spec)
    return spec, runs, Store(args.results_dir)


def _unique(runs):
    # A spec may name the same training twice (e.g. rows that a profile maps onto one config);
    # it is executed once.
    seen, unique = set(), []
    for run in runs:
        if run.id not in seen:
            seen.add(run.id)
            unique.append(run)
    return unique


def _state_of(store, run_id: str) -> dict:
    return store.read_state(run_id) or {"state": "pending"}


def cmd_plan(args: Namespace) -> int:
    from ssa_bench.plan import estimate_seconds

    spec, runs, store = _load(args)
    rows = []
    for run in runs:
        state = _state_of(store, run.id)
        rows.append({"id": run.id, "label": run.label, "section": run.section, "column": run.column,
                     "seed": run.seed, "state": state["state"],
                     "estimate_s": estimate_seconds(run.config), "config": run.config})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{spec.title or spec.name} -- profile {spec.profile}", title_justify="left")
    for column in ("id", "row", "seed", "state", "estimate"):
        table.add_column(column)
    for row in rows:
        name = " / ".join(str(p) for p in (row["section"], row["label"], row["column"]) if p)
        table.add_row(row["id"], name, str(row["seed"]), row["state"], _duration(row["estimate_s"]))
    _out.print(table)
    unique = {r["id"]: r for r in rows}
    pending = [r for r in unique.values() if r["state"] != "done"]
    _out.print(f"{len(rows)} rows, {len(unique)} distinct runs, {len(pending)} not done; estimated "
               f"compute for those: {_duration(sum(r['estimate_s'] for r in pending))}")
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_run(args: Namespace) -> int:
    from ssa_bench.plan import select_runs

    spec, runs, store = _load(args)
    if args.max_parallel is not None and args.max_parallel < 1:
        raise UserError("--max-parallel must be at least 1", key="--max-parallel", fix="pass a positive number")
    unique = _unique(runs)
    to_run, skipped = select_runs(unique, store, rerun_failed=args.rerun_failed, force=args.force)
    _err.print(f"{spec.name}: {len(unique)} runs, {len(skipped)} already done or in flight, "
               f"{len(to_run)} to run ({args.executor})")
    if to_run and not args.dry_run:
        from ssa_bench.data import ensure_datasets

        # Before anything is queued: a missing data set is one clear error, not N failed jobs.
        ensure_datasets([run.config for run in to_run])
    if args.executor == "slurm":
        from ssa_bench.executors.slurm import run_slurm

        from ssa_bench.plan import in_flight

        # Runs still queued or running from an earlier (interrupted) `run` are followed, not resubmitted.
        attach = [run for run in skipped if in_flight(_state_of(store, run.id))]
        code = run_slurm(to_run, store, cluster=args.cluster, max_parallel=args.max_parallel,
                         dry_run=args.dry_run, console=_err, attach=attach) \
            if (to_run or attach or args.dry_run) else 0
    elif args.dry_run:
        for run in to_run:
            _out.print(f"would run {run.id}  {run.label}")
        return 0
    else:
        from ssa_bench.executors.local import run_local

        code = run_local(to_run, store, max_parallel=args.max_parallel, console=_err) if to_run else 0
    if args.dry_run:
        return code
    if not args.no_report:
        _print_report(spec, runs, store)
    states = [_state_of(store, run.id)["state"] for run in unique]
    return 0 if code == 0 and all(s == "done" for s in states) else 1


def cmd_status(args: Namespace) -> int:
    spec, runs, store = _load(args)
    if any(_state_of(store, r.id).get("executor") == "slurm" for r in runs):
        from ssa_bench.executors.slurm import refresh_states

        refresh_states(store, runs)
    rows = []
    for run in runs:
        state = _state_of(store, run.id)
        progress = store.read_progress(run.id) or {}
        rows.append({"id": run.id, "label": run.label, "section": run.section, "column": run.column,
                     "seed": run.seed, "state": state["state"], "traceback": state.get("traceback"),
                     "reason": state.get("reason"), "job_id": state.get("job_id"),
                     "iter": progress.get("iter"), "max_iters": progress.get("max_iters")})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{spec.title or spec.name} -- profile {spec.profile}", title_justify="left")
    for column in ("id", "row", "state", "progress", "details"):
        table.add_column(column)
    colours = {"done": "green", "failed": "red", "running": "yellow", "queued": "cyan"}
    for row in rows:
        name = " / ".join(str(p) for p in (row["section"], row["label"], row["column"]) if p)
        progress = f"{row['iter']}/{row['max_iters']}" if row["iter"] is not None else ""
        details = row["traceback"] or row["reason"] or (f"job {row['job_id']}" if row["job_id"] else "")
        colour = colours.get(row["state"], "white")
        table.add_row(row["id"], name, f"[{colour}]{row['state']}[/{colour}]", progress, details or "")
    _out.print(table)
    return 0


def _print_report(spec, runs, store) -> None:
    from ssa_bench.report import terminal_table

    _out.print(terminal_table(spec, runs, store))


def cmd_report(args: Namespace) -> int:
    from ssa_bench.report import check_paper, write_report

    spec, runs, store = _load(args)
    formats = args.format or ["latex", "markdown", "csv"]
    _print_report(spec, runs, store)
    paths = write_report(spec, runs, store, formats=formats, out_dir=args.out)
    for fmt, path in paths.items():
        _err.print(f"wrote {fmt}: {path}")
    if args.check_paper is not None:
        off = check_paper(spec, runs, store, tolerance=args.check_paper)
        for item in off:
            _err.print(f"[red]differs[/red] {item}")
        if off:
            return 1
    return 0


def cmd_figures(args: Namespace) -> int:
    from ssa_bench.report.figures import make_figures

    spec, runs, store = _load(args)
    paths = make_figures(spec, runs, store, out_dir=args.out)
    for path in paths:
        _err.print(f"wrote {path}")
    return 0


def cmd_measure(args: Namespace) -> int:
    from ssa_bench.catalog import BASELINES, DATASETS
    from ssa_bench.stages.measure import measure_model

    if args.baseline not in BASELINES:
        raise UserError(f"unknown baseline '{args.baseline}'", key="BASELINE",
                        fix=f"use one of: {', '.join(BASELINES)}")
    if args.dataset not in DATASETS:
        raise UserError(f"unknown dataset '{args.dataset}'", key="--dataset",
                        fix=f"use one of: {', '.join(DATASETS)}")
    result = measure_model(args.baseline, ssa=args.ssa, dataset=args.dataset, variant=args.variant)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        gflops = result["gflops"]
        _out.print(f"{args.baseline}{' + SSA (' + args.variant + ')' if args.ssa else ''} on "
                   f"{args.dataset}: {gflops['paper']:.2f} GFLOPs (paper count), {gflops['full']:.2f} "
                   f"GFLOPs (with matmuls), {result['params_m']:.2f} M params, latency "
                   f"{result['latency_ms']:.1f} ms on {result['device']}")
    return 0


def cmd_data(args: Namespace) -> int:
    from ssa_bench import data

    if args.data_command == "make":
        path = data.make_demo()
        _out.print(f"demo data set ready at {path}")
        return 0
    results = data.check()
    table = Table(title="datasets", title_justify="left")
    for column in ("dataset", "status", "path", "what to do"):
        table.add_column(column)
    for item in results:
        status = "[green]found[/green]" if item["found"] else "[red]missing[/red]"
        table.add_row(item["name"], status, item["path"], "" if item["found"] else item["fix"])
    _out.print(table)
    return 0
