"""`ssa-bench run SPEC`: check every run that is not done yet, then hand them to the local or SLURM
executor (or, with --dry-run, say what would run); print the table afterwards."""
from __future__ import annotations

from argparse import Namespace

from ssa_bench.commands.shared import (checkpoint_cell, err, load, out, planned_elsewhere_hint, record_plans,
                                       state_of, unique_runs)
from ssa_bench.errors import UserError


def _executor_name(args: Namespace) -> str:
    """--executor, where --cluster NAME (a SLURM cluster profile) implies slurm; with an explicit
    --executor local it is a contradiction, refused rather than silently run here."""
    if args.cluster is not None and args.executor == "local":
        raise UserError(f"--cluster {args.cluster} names a SLURM cluster profile, but --executor local runs "
                        "on this machine", key="--cluster",
                        fix="drop --cluster to run here, or use --executor slurm (--cluster alone implies it)")
    if args.executor is None:
        return "slurm" if args.cluster is not None else "local"
    return args.executor


def cmd_run(args: Namespace) -> int:
    from ssa_bench.executors import get_executor
    from ssa_bench.executors.prerun import check_runs

    spec, runs, store = load(args)
    name = _executor_name(args)
    # The executor checks its options (--max-parallel, the cluster profile) before anything is printed.
    options = {"cluster": args.cluster} if name == "slurm" else {}
    executor = get_executor(name, store, max_parallel=args.max_parallel, console=err, **options)
    hint = planned_elsewhere_hint(args, spec, runs, store)
    if hint:
        err.print(f"[yellow]warning:[/yellow] {hint}", highlight=False, soft_wrap=True)
    unique = unique_runs(runs)
    to_run, skipped = executor.select(unique, rerun_failed=args.rerun_failed, force=args.force)
    # One check before anything is queued or printed, the same for the dry run: data sets,
    # checkpoints (present, hash and format), cluster profile, device. Each problem is one line.
    problems = check_runs(to_run, executor=name, cluster=args.cluster) if to_run else []
    if problems:
        for problem in problems:
            err.print(f"ssa-bench: error: {problem.one_line()}", highlight=False, markup=False, soft_wrap=True)
        return 2
    if not args.dry_run:
        record_plans(args, spec, unique, store)
    if to_run and not args.dry_run:
        from ssa_bench.data import ensure_datasets

        ensure_datasets([run.config for run in to_run])       # generates the demo data where needed
    err.print(f"{spec.name}: {len(unique)} runs, {len(skipped)} already done or in flight, "
              f"{len(to_run)} to run ({name})")
    if args.dry_run:
        _print_dry_run_checkpoints(to_run, name)
    # Runs still queued or running from an earlier (interrupted) `run` are followed, not resubmitted.
    code = executor.run(to_run, attach=executor.attachable(skipped), dry_run=args.dry_run).code
    if args.dry_run:
        return code
    if not args.no_report:
        from ssa_bench.report import terminal_table

        out.print(terminal_table(spec, runs, store))
    states = [state_of(store, run.id)["state"] for run in unique]
    return 0 if code == 0 and all(s == "done" for s in states) else 1


def _print_dry_run_checkpoints(to_run, executor: str) -> None:
    """Each run the dry run would start, with its (already verified) checkpoint."""
    from ssa_bench.weights import checkpoint_of
    from ssa_bench.weights.verify import verify_all

    console = out if executor == "local" else err
    checkpoints = [checkpoint_of(run.config) for run in to_run]
    verdicts = verify_all(checkpoints)          # remembered by the pre-run check: no file is read again
    for run, checkpoint in zip(to_run, checkpoints):
        prefix = "would run" if executor == "local" else "run"
        verdict = verdicts[str(checkpoint.path) if checkpoint.path else "none"]
        console.print(f"{prefix} {run.id}  {run.label}  checkpoint: {checkpoint_cell(verdict)}", highlight=False,
                      soft_wrap=True)
