"""One function per CLI command. Each returns the process exit code; UserError -> exit 2 (cli.py)."""
from __future__ import annotations

import json
import os
import sys
from argparse import Namespace

from rich.console import Console
from rich.table import Table

from ssa_bench.errors import UserError

_out = Console(soft_wrap=True)
_err = Console(stderr=True)


def _load(args: Namespace):
    """Spec -> (spec, runs, store): the pipeline's first three pieces, shared by every command."""
    from ssa_bench.plan import plan
    from ssa_bench.matrix import load_spec
    from ssa_bench.store import Store

    spec = load_spec(args.spec, profile=args.profile, overrides=args.overrides)
    store = Store(args.results_dir)
    check_directory(store.root, "--results-dir", writable=args.command in _WRITING_COMMANDS)
    if getattr(args, "use_recorded_overrides", False):
        spec = _with_recorded_overrides(args, spec, store)
    runs = plan(spec)
    return spec, runs, store


def _with_recorded_overrides(args: Namespace, spec, store):
    """--use-recorded-overrides: the spec planned again with the profile and --set overrides its
    stored runs were recorded with (the one with most finished runs; the user's own --set after)."""
    from ssa_bench.matrix import load_spec
    from ssa_bench.store.plans import recorded_plans

    plans = recorded_plans(store, spec.name)
    if not plans:
        raise UserError(f"no run of spec '{spec.name}' is recorded in {store.root}", key="--use-recorded-overrides",
                        fix="run the spec first, or drop --use-recorded-overrides")
    chosen = plans[0]
    args.profile, args.overrides = chosen.profile, [*chosen.overrides, *args.overrides]
    others = f" ({len(plans) - 1} other recorded set(s) of overrides: `ssa-bench status SPEC` names them)" \
        if len(plans) > 1 else ""
    _err.print(f"using the overrides recorded with {len(chosen.run_ids)} run(s) of {spec.name}: "
               f"{chosen.flags()}{others}", highlight=False, soft_wrap=True, markup=False)
    return load_spec(args.spec, profile=args.profile, overrides=args.overrides)


def _record_plans(args: Namespace, spec, runs, store) -> None:
    """run.json of each run this `run` starts or finds: the spec, profile and --set it was planned
    with, so that status/report/figures without those --set can point at them."""
    from ssa_bench.store import StorageError
    from ssa_bench.store.plans import plan_entry, record_plan

    entry = plan_entry(spec.name, spec.path, spec.profile, args.overrides)
    for run in runs:
        try:
            record_plan(store, run, entry)
        except StorageError:
            return      # a full or read-only results folder: the executor says so, run by run


# Commands that create files under the results root; plan and status only read it.
_WRITING_COMMANDS = ("run", "report", "figures")


def check_directory(path, key: str, writable: bool) -> None:
    """A directory the command reads or writes: refused (exit 2) before anything is written when
    it names a file, or (``writable``) when it cannot be created or written."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UserError(f"'{target}' is a file, not a directory", key=key, fix="give a directory (it is created if missing)")
    if not writable:
        return
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create '{target}': '{existing}' is a file", key=key, fix="give a directory path")
    try:   # a real probe, not os.access: root ignores mode bits but not a read-only file system
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".ssa-bench-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        verb = "write into" if existing == target else "create"
        raise UserError(f"cannot {verb} '{target}' ({error.strerror})", key=key,
                        fix="give a directory you can write to") from None


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
    """state.json's fields with the store's verdict (a valid record is 'done'; damage is shown)."""
    view = store.view(run_id)
    damage = "; ".join(d.message() for d in view.damage)
    return {**view.info, "state": view.state, **({"reason": damage} if damage else {})}


def cmd_plan(args: Namespace) -> int:
    from ssa_bench.plan import estimate_seconds
    from ssa_bench.weights import checkpoint_of
    from ssa_bench.weights.verify import Verifier

    spec, runs, store = _load(args)
    rows, verdicts, by_pretrained = [], {}, {}
    # The verdict alone (record, else state.json): `status` is where damage is itemised.
    states = store.states([run.id for run in runs])
    _warn_store_damage(store, runs)
    # Each checkpoint file is hashed (or its format read) once per version, remembered on disk.
    verifier = Verifier()
    for run in runs:
        # the verdict depends on train.pretrained alone: once per distinct value, with its JSON form
        pretrained = run.config["train"].get("pretrained")
        if pretrained not in by_pretrained:
            verdict = verifier.verify(checkpoint_of(run.config))
            by_pretrained[pretrained] = (verdict, {**verdict.checkpoint.to_json(), "verdict": verdict.state})
        verdicts[run.id], checkpoint_json = by_pretrained[pretrained]
        rows.append({"id": run.id, "label": run.label, "section": run.section, "column": run.column,
                     "seed": run.seed, "state": states[run.id],
                     "estimate_s": estimate_seconds(run.config), "estimate_basis": _estimate_basis(run.config),
                     "checkpoint": checkpoint_json,
                     "config": run.config})
    verifier.save()
    if args.json:
        # One run per line: still one JSON array, written by the C encoder (indent= would use the
        # pure-Python one, ~6 s for 10,000 runs).
        sys.stdout.write("[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n")
        return 0
    table = Table(title=f"{spec.title or spec.name} -- profile {spec.profile}", title_justify="left")
    for column in ("id", "row", "seed", "state", "estimate", "checkpoint"):
        table.add_column(column)
    for row in rows:
        name = " / ".join(str(p) for p in (row["section"], row["label"], row["column"]) if p)
        table.add_row(row["id"], name, str(row["seed"]), row["state"], _duration(row["estimate_s"]),
                      _checkpoint_cell(verdicts[row["id"]]))
    _out.print(table)
    unique = {r["id"]: r for r in rows}
    pending = [r for r in unique.values() if r["state"] != "done"]
    bases = sorted({r["estimate_basis"] for r in pending})
    _out.print(f"{len(rows)} rows, {len(unique)} distinct runs, {len(pending)} not done; estimated "
               f"compute for those: {_duration(sum(r['estimate_s'] for r in pending))} wall-clock, one run after "
               f"another{' on ' + ' / '.join(bases) if bases else ''} (a rough guide)", highlight=False)
    _print_bad_checkpoints([verdicts[r["id"]] for r in pending], _out)
    from ssa_bench.executors.prerun import dataset_problems

    for problem in dataset_problems([r["config"] for r in pending]):     # what `run` would stop for
        _out.print(f"[red]missing data set:[/red] {problem.one_line()}", highlight=False, soft_wrap=True)
    return 0


def _estimate_basis(config: dict) -> str:
    """The device class plan's estimate assumes (ssa_bench.plan.estimate_seconds's two cases)."""
    from ssa_bench.plan import is_cpu_estimate

    if is_cpu_estimate(config):
        return "a CPU core (one thread per run)"
    return "4 V100-class GPUs (batch 16 over 4)"


def _checkpoint_cell(verdict) -> str:
    if verdict.state == "none":
        return "[yellow]none (from scratch)[/yellow]"
    colour = "green" if verdict.good else "red"
    return f"[{colour}]{verdict.label}[/{colour}]"


def _print_bad_checkpoints(verdicts, console) -> None:
    """What `run` would refuse for: the missing checkpoints with the command that fetches them, and
    each wrong file with its fix (the lines `run` prints)."""
    from ssa_bench.weights.verify import MISSING

    missing = {v.checkpoint.entry.name: v.checkpoint for v in verdicts
               if v.state == MISSING and v.checkpoint.source == "catalog"}
    paths = sorted({str(v.checkpoint.path) for v in verdicts if v.state == MISSING and v.checkpoint.source == "path"})
    if missing:
        folder = next(iter(missing.values())).path.parent
        console.print(f"[red]{len(missing)} pretrained checkpoint(s) missing[/red] from {folder}: "
                      f"`ssa-bench weights fetch {' '.join(missing)}` before `run`", highlight=False, soft_wrap=True)
    if paths:
        console.print(f"[red]checkpoint file(s) not found:[/red] {', '.join(paths)}", highlight=False, soft_wrap=True)
    wrong = {str(v.checkpoint.path): v for v in verdicts if not v.good and v.state != MISSING}
    for verdict in wrong.values():
        console.print(f"[red]bad checkpoint:[/red] {verdict.error().one_line()}", highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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

    spec, runs, store = _load(args)
    name = _executor_name(args)
    # The executor checks its options (--max-parallel, the cluster profile) before anything is printed.
    options = {"cluster": args.cluster} if name == "slurm" else {}
    executor = get_executor(name, store, max_parallel=args.max_parallel, console=_err, **options)
    hint = planned_elsewhere_hint(args, spec, runs, store)
    if hint:
        _err.print(f"[yellow]warning:[/yellow] {hint}", highlight=False, soft_wrap=True)
    unique = _unique(runs)
    to_run, skipped = executor.select(unique, rerun_failed=args.rerun_failed, force=args.force)
    # One check before anything is queued or printed, the same for the dry run: data sets,
    # checkpoints (present, hash and format), cluster profile, device. Each problem is one line.
    problems = check_runs(to_run, executor=name, cluster=args.cluster) if to_run else []
    if problems:
        for problem in problems:
            _err.print(f"ssa-bench: error: {problem.one_line()}", highlight=False, markup=False, soft_wrap=True)
        return 2
    if not args.dry_run:
        _record_plans(args, spec, unique, store)
    if to_run and not args.dry_run:
        from ssa_bench.data import ensure_datasets

        ensure_datasets([run.config for run in to_run])       # generates the demo data where needed
    _err.print(f"{spec.name}: {len(unique)} runs, {len(skipped)} already done or in flight, "
               f"{len(to_run)} to run ({name})")
    if args.dry_run:
        _print_dry_run_checkpoints(to_run, name)
    # Runs still queued or running from an earlier (interrupted) `run` are followed, not resubmitted.
    code = executor.run(to_run, attach=executor.attachable(skipped), dry_run=args.dry_run).code
    if args.dry_run:
        return code
    if not args.no_report:
        _print_report(spec, runs, store)
    states = [_state_of(store, run.id)["state"] for run in unique]
    return 0 if code == 0 and all(s == "done" for s in states) else 1


def _print_dry_run_checkpoints(to_run, executor: str) -> None:
    """Each run the dry run would start, with its (already verified) checkpoint."""
    from ssa_bench.weights import checkpoint_of
    from ssa_bench.weights.verify import verify_all

    console = _out if executor == "local" else _err
    checkpoints = [checkpoint_of(run.config) for run in to_run]
    verdicts = verify_all(checkpoints)          # remembered by the pre-run check: no file is read again
    for run, checkpoint in zip(to_run, checkpoints):
        prefix = "would run" if executor == "local" else "run"
        verdict = verdicts[str(checkpoint.path) if checkpoint.path else "none"]
        console.print(f"{prefix} {run.id}  {run.label}  checkpoint: {_checkpoint_cell(verdict)}", highlight=False,
                      soft_wrap=True)


def cmd_status(args: Namespace) -> int:
    spec, runs, store = _load(args)
    _print_hint(args, spec, runs, store)
    infos = {}
    if any(_state_of(store, r.id).get("executor") == "slurm" for r in runs):
        from ssa_bench.executors.slurm import refresh_states
        from ssa_bench.store import StorageError

        try:
            infos = refresh_states(store, runs) or {}
        except StorageError as error:
            # A full or read-only results folder: show what is on disk rather than nothing.
            _err.print(f"[yellow]warning:[/yellow] could not bring the states up to date with SLURM: "
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
    _out.print(table)
    return 0


def _status_row(run, store, infos: dict) -> dict:
    """One run's line of `status`: its state with what SLURM says about its job."""
    state = _state_of(store, run.id)
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


def planned_elsewhere_hint(args: Namespace, spec, runs, store) -> str | None:
    """A warning when none of the planned runs is in the store but runs of this spec planned with
    another --profile (or without these --set) are: the ids differ, so every run would look pending
    (and `run` would start all of them again)."""
    if not runs:
        return None
    present = set(store.run_ids())
    if not present or any(run.id in present for run in runs):
        return None
    recorded = _recorded_hint(spec, store)
    if recorded:
        return recorded
    from ssa_bench.matrix import load_spec
    from ssa_bench.matrix.profiles import PROFILES
    from ssa_bench.plan import plan

    overrides = list(getattr(args, "overrides", None) or [])
    tries = [(profile, overrides) for profile in PROFILES if profile != spec.profile]
    if overrides:
        tries += [(profile, []) for profile in PROFILES]
    for profile, sets in tries:
        try:
            others = plan(load_spec(args.spec, profile=profile, overrides=sets))
        except Exception:   # the --set may not apply to the other profile; that is no hint
            continue
        found = sum(run.id in present for run in others)
        if found:
            flag = f"--profile {profile}" if profile != spec.profile else ""
            if sets != overrides:
                flag = (flag + " without " if flag else "without ") + " ".join(f"--set {o}" for o in overrides)
            planned = f"profile {spec.profile}" + (" with " + " ".join(f"--set {o}" for o in overrides)
                                                   if overrides else "")
            return (f"no run of this spec has started; did you mean {flag}? ({store.root} holds {found} "
                    f"of its {len(others)} runs planned otherwise; this command planned {planned})")
    return None


def _print_hint(args: Namespace, spec, runs, store) -> None:
    hint = planned_elsewhere_hint(args, spec, runs, store)
    if hint:
        _err.print(f"[yellow]warning:[/yellow] {hint}", highlight=False, soft_wrap=True)


def default_report_dir(spec, store):
    from ssa_bench.report.api import default_out_dir

    return default_out_dir(spec, store)


def _recorded_hint(spec, store) -> str | None:
    """"7 runs of this spec were recorded with --set train.max_iters=20; ..." from run.json."""
    from ssa_bench.store.plans import recorded_plans

    plans = [p for p in recorded_plans(store, spec.name) if p.run_ids]
    if not plans:
        return None
    words = []
    for item in plans[:3]:
        flags = item.flags(with_profile=item.profile != spec.profile) or "no --set"
        words.append(f"{len(item.run_ids)} run(s) of this spec ({item.done} done) were recorded with {flags}")
    more = f" (and {len(plans) - 3} more sets of overrides)" if len(plans) > 3 else ""
    return ("; ".join(words) + more + "; add those overrides (or --use-recorded-overrides, which takes the "
            "first) to see them")


def _print_report(spec, runs, store) -> None:
    from ssa_bench.report import terminal_table

    _out.print(terminal_table(spec, runs, store))


def cmd_report(args: Namespace) -> int:
    from ssa_bench.report import paper_gate, report_table, tolerances_from, write_report
    from ssa_bench.report.paper_check import compare_with_paper
    from ssa_bench.report.render_terminal import terminal_renderable

    tolerances = tolerances_from(args.check_paper) if args.check_paper is not None else None
    if getattr(args, "allow_missing", False) and tolerances is None:
        raise UserError("--allow-missing only applies to --check-paper", key="--allow-missing",
                        fix="add --check-paper TOL, or drop --allow-missing")
    spec, runs, store = _load(args)
    if args.out is not None:
        check_directory(args.out, "--out", writable=True)
    _print_hint(args, spec, runs, store)
    table = report_table(spec, runs, store)
    if tolerances is not None:
        paper_gate(table, tolerances)       # refused before anything is written
    formats = args.format or ["latex", "markdown", "csv"]
    _out.print(terminal_renderable(table))
    from ssa_bench.report.kept import count_results, describe, kept_results

    results = count_results(table)
    directory = args.out or default_report_dir(spec, store)
    kept = kept_results(directory, table.name, formats)
    if results == 0 and kept and not getattr(args, "overwrite_empty", False):
        # A report with numbers is not replaced by an all-pending one without a word (the runs
        # are usually there, planned with other --set overrides: the hint above names them).
        _err.print(f"[red]not written:[/red] this report has no result yet, and {describe(kept)} in {directory} "
                   f"has; pass --overwrite-empty to replace it anyway", highlight=False, soft_wrap=True)
        return 1
    paths = write_report(spec, runs, store, formats=formats, out_dir=args.out, table=table)
    for fmt, path in paths.items():
        _err.print(f"wrote {fmt}: {path}")
    if tolerances is None:
        return 0
    return _paper_verdict(compare_with_paper(table, tolerances), tolerances, args.allow_missing)


def _paper_verdict(check, tolerances, allow_missing: bool, shown: int = 10) -> int:
    """Print what --check-paper compared and found; 1 when the gate trips."""
    from rich.markup import escape

    for item in check.differences:
        _err.print(f"[red]differs[/red] {escape(str(item))}", soft_wrap=True)
    label = "[yellow]missing[/yellow]" if allow_missing else "[red]missing[/red]"
    for item in check.missing[:shown]:
        _err.print(f"{label} {escape(str(item))}", soft_wrap=True)
    if len(check.missing) > shown:
        _err.print(f"{label} ... and {len(check.missing) - shown} more cells without a number of ours", soft_wrap=True)
    _err.print(escape(check.summary(tolerances)), soft_wrap=True)
    if check.compared == 0 and not check.missing:
        _err.print("[red]--check-paper compared nothing[/red]: no cell of this table has both a paper number "
                   "and a run of ours", soft_wrap=True)
    elif check.missing and not allow_missing:
        _err.print("[red]--check-paper fails[/red]: cells it should compare have no number of ours yet "
                   "(finish the runs, or pass --allow-missing to check only what exists)", soft_wrap=True)
    elif check.compared == 0:
        _err.print("[red]--check-paper compared nothing[/red]: no cell has a number of ours yet", soft_wrap=True)
    return 0 if check.passed(allow_missing) else 1


def _warn_store_damage(store, runs, shown: int = 10) -> None:
    """One warning line per damaged record.json / state.json of the spec's runs (on stderr: `plan
    --json` keeps a clean stdout), so that neither a done run's damaged state file nor a figure
    drawn without a damaged record passes silently."""
    from rich.markup import escape

    damaged = store.damaged_files(run.id for run in runs)
    for item in damaged[:shown]:
        _err.print(f"[yellow]warning:[/yellow] {escape(item.message())}", highlight=False, soft_wrap=True)
    if len(damaged) > shown:
        _err.print(f"[yellow]warning:[/yellow] ... and {len(damaged) - shown} more damaged files "
                   f"(`ssa-bench status` lists them)", soft_wrap=True)


def cmd_figures(args: Namespace) -> int:
    from ssa_bench.report.figures import make_figures

    spec, runs, store = _load(args)
    if args.out is not None:
        check_directory(args.out, "--out", writable=True)
    _warn_store_damage(store, runs)
    _print_hint(args, spec, runs, store)
    paths = make_figures(spec, runs, store, out_dir=args.out, overrides=args.overrides)
    for path in paths:
        _err.print(f"wrote {path}")
    return 0


def cmd_preflight(args: Namespace) -> int:
    """One training step and one evaluation forward of each distinct model of the spec on this
    device: peak memory, step time, projected time per run and for the table against the SLURM
    time limit. Exit 2 when a run could not start. Writes nothing."""
    from ssa_bench.executors.cluster_profiles import job_resources, load_profile
    from ssa_bench.runtime import per_device_batch
    from ssa_bench.stages.preflight import ProbeError, model_key, probe, project

    if not 0 < args.scale <= 1:
        raise UserError(f"--scale must be in (0, 1], got {args.scale}", key="--scale",
                        fix="e.g. --scale 0.25 probes at a quarter of each run's crop (CI), 1 = the real shapes")
    spec, runs, _store = _load(args)
    unique = _unique(runs)
    profile = load_profile(args.cluster) if args.executor != "local" else None
    groups: dict[str, dict] = {}
    placed = []
    for run in unique:
        # a run the spec trains on the CPU runs here; a GPU run is a SLURM job of the profile
        on_slurm = profile is not None and (args.executor == "slurm" or args.cluster is not None
                                            or run.config["train"].get("device") != "cpu")
        resources = job_resources(profile, run.slurm, row_where=f"{run.label or run.id}: slurm",
                                  row_file=run.spec_name) if on_slurm else None
        world = resources.world_size if resources else 1
        batch = per_device_batch(int(run.config["train"]["batch_size"]), world)
        key = model_key(run.config, batch)
        groups.setdefault(key, {"runs": [], "batch": batch, "config": run.config})["runs"].append(run)
        limit = (resources.params["time"] * 60 - resources.params["signal_delay_s"]) if resources else None
        placed.append((run, key, world, limit))
    problems, models = [], []
    for number, (key, group) in enumerate(groups.items(), 1):
        first = group["runs"][0]
        name = _run_name(first)
        _err.print(f"[{number}/{len(groups)}] {name}: batch {group['batch']} per device ...", highlight=False)
        try:
            result = probe(group["config"], batch_per_device=group["batch"], scale=args.scale, steps=args.steps)
            error = None
        except ProbeError as failure:
            result, error = None, failure
            for run in group["runs"]:
                problems.append(f"run {run.id} ({_run_name(run)}): {failure.one_line()}")
        group["result"] = result
        models.append({"model": number, "name": name, "baseline": first.config["baseline"],
                       "dataset": first.config["dataset"], "runs": [run.id for run in group["runs"]],
                       **(result or {}), "error": error.one_line() if error else None})
    rows = []
    for run, key, world, limit in placed:
        result = groups[key]["result"]
        row = {"id": run.id, "label": run.label, "name": _run_name(run), "model": list(groups).index(key) + 1,
               "max_iters": run.config["train"]["max_iters"], "world_size": world,
               "time_limit_s": limit, "executor": "slurm" if limit else "local"}
        if result:
            row.update(project(run.config, result["step_s"], result["eval_forward_s"], result["val_images"], world,
                               limit, profile.max_requeues if limit and profile else None).to_json())
        rows.append(row)
    projected = [row for row in rows if "projected_s" in row]
    table = {"runs": len(rows), "projected_h": round(sum(r["projected_s"] for r in projected) / 3600, 3),
             "needing_requeues": [r["id"] for r in projected if r["requeues"]],
             "not_fitting": [r["id"] for r in projected if not r["fits"]], "could_not_start": len(problems)}
    device = next((m["device"] for m in models if m.get("device")), None)
    summary = {"spec": spec.name, "profile": spec.profile, "device": device, "scale": args.scale,
               "cluster": ({"name": profile.name, "time_min": profile.time, "signal_delay_s": profile.signal_delay_s,
                            "max_requeues": profile.max_requeues}
                           if any(row["executor"] == "slurm" for row in rows) else None),
               "models": models, "runs": rows, "table": table, "problems": problems}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        _print_preflight(summary)
    for line in problems:
        _err.print(f"ssa-bench: error: {line}", highlight=False, markup=False, soft_wrap=True)
    return 2 if problems else 0


def _run_name(run) -> str:
    return " / ".join(str(p) for p in (run.section, run.label, run.column) if p)


def _peak_cell(model: dict) -> str:
    """Peak memory; on the CPU with the process's resident set before the model in brackets."""
    start = model.get("baseline_mb")
    return f"{model['peak_memory_mb']:.0f}" + (f" ({start:.0f})" if start is not None else "")


def _print_preflight(summary: dict) -> None:
    models = [m for m in summary["models"] if m.get("device")]
    memory = models[0]["memory_measure"] if models else ""
    scale = summary["scale"]
    shapes = "the runs' own batch and crop" if scale == 1 else \
        f"crops scaled by {scale:g} (NOT the runs' real shapes: memory and times are for the smaller crop)"
    _out.print(f"preflight of {summary['spec']} (profile {summary['profile']}) on {summary['device']}: {shapes}; "
               f"memory = {memory}", highlight=False, soft_wrap=True)
    table = Table(title="models", title_justify="left")
    for column in ("#", "model", "runs", "batch x crop", "data", "checkpoint", "peak MB (start)", "step s", "eval s"):
        table.add_column(column, overflow="fold")
    for model in summary["models"]:
        if model.get("error"):
            table.add_row(str(model["model"]), model["name"], str(len(model["runs"])), "", "",
                          f"[red]{model['error']}[/red]", "", "", "")
            continue
        crop = "x".join(str(c) for c in model["crop_size"])
        checkpoint = {"loaded": "[green]loaded (strict)[/green]", "absent": "[yellow]absent: random init[/yellow]",
                      "none": "none (from scratch)"}[model["checkpoint"]["state"]]
        table.add_row(str(model["model"]), model["name"], str(len(model["runs"])), f"{model['batch_per_device']} x {crop}",
                      "synthetic" if model["synthetic"] else "real", checkpoint, _peak_cell(model),
                      f"{model['step_s']:.3f}", f"{model['eval_forward_s']:.3f}")
    _out.print(table)
    for note in dict.fromkeys(m["data_note"] for m in models if m["data_note"]):
        _out.print(f"data: {note}", highlight=False, soft_wrap=True)
    runs = Table(title="runs (projected on this device)", title_justify="left")
    for column in ("id", "run", "model", "iters", "GPUs", "projected", "jobs"):
        runs.add_column(column, overflow="fold")
    for row in summary["runs"]:
        if "projected_s" not in row:
            runs.add_row(row["id"], row["name"], str(row["model"]), str(row["max_iters"]), str(row["world_size"]),
                         "[red]could not start[/red]", "")
            continue
        jobs = "local" if row["attempts"] is None else (
            f"{row['attempts']}" + ("" if row["fits"] else " [red](over max_requeues)[/red]"))
        runs.add_row(row["id"], row["name"], str(row["model"]), str(row["max_iters"]), str(row["world_size"]),
                     f"{row['projected_h']:.2f} h", jobs)
    _out.print(runs)
    table_facts = summary["table"]
    cluster = summary["cluster"]
    _out.print(f"table: {table_facts['runs']} runs, {len(summary['models'])} distinct models, projected "
               f"{table_facts['projected_h']:.1f} h on this device, one run after another", highlight=False)
    if cluster and any(row["executor"] == "slurm" for row in summary["runs"]):
        limit = f"cluster profile '{cluster['name']}': {cluster['time_min']} min per job, {cluster['max_requeues']} requeues allowed"
        needing = table_facts["needing_requeues"]
        _out.print(f"{limit}; {len(needing)} run(s) need requeues" + (f": {', '.join(needing)}" if needing else ""),
                   highlight=False, soft_wrap=True)
        if table_facts["not_fitting"]:
            _out.print(f"[red]{len(table_facts['not_fitting'])} run(s) would not finish within the allowed requeues:"
                       f"[/red] {', '.join(table_facts['not_fitting'])} -- raise max_requeues or time in the profile, "
                       "or give those rows more GPUs (slurm: {gpus: N})", highlight=False, soft_wrap=True)


def cmd_measure(args: Namespace) -> int:
    from typing import get_args

    from ssa_bench.vocabulary.names import baseline_info, dataset_info
    from ssa_bench.classifier_settings.ssa import Variant

    variants = get_args(Variant)
    if args.variant not in variants:       # before importing torch (seconds) for nothing
        raise UserError(f"unknown SSA variant '{args.variant}'", key="--variant", fix=f"use one of: {', '.join(variants)}")
    baseline_info(args.baseline, key="BASELINE")
    dataset_info(args.dataset, key="--dataset")
    from ssa_bench.stages.measure import measure_model

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
    if args.data_command == "prepare":
        return _data_prepare(args)
    results = data.check()
    # One line per dataset and its fix on the next, not a table: at 80 columns a table folds every
    # path into a column a few characters wide.
    width = max(len(item["name"]) for item in results)
    for item in results:
        status = "[green]found  [/green]" if item["found"] else "[red]missing[/red]"
        _out.print(f"{item['name']:<{width}}  {status}  {item['path']}", highlight=False, soft_wrap=True)
        if not item["found"]:
            _out.print(f"{'':<{width}}  -> {item['fix']}", highlight=False, soft_wrap=True)
    return 0


def _data_prepare(args: Namespace) -> int:
    from ssa_bench.data import prepare

    if args.dataset not in prepare.RECIPES:
        raise UserError(f"no preparation for dataset '{args.dataset}'", key="DATASET",
                        fix=f"use one of: {', '.join(prepare.RECIPES)} (the demo data: `ssa-bench data make`)")
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1", key="--jobs", fix="pass a positive number")
    reporter = prepare.RichReporter(_err)
    if args.check_only:
        result = prepare.check_prepared(args.dataset, reporter)
    elif args.source is None:
        raise UserError("data prepare needs --from DIR", key="--from",
                        fix=f"{prepare.how_to_prepare(args.dataset)}; or pass --check-only to check a prepared copy")
    else:
        result = prepare.prepare(args.dataset, args.source, reporter, jobs=args.jobs, keep_raw=args.keep_unpacked)
    for line in result.summary():
        _out.print(line, highlight=False)
    _out.print(f"{args.dataset} ready at {result.root}", highlight=False)
    return 0


def cmd_weights(args: Namespace) -> int:
    from ssa_bench.weights import load_catalog, lookup, weights_dir

    if args.weights_command == "list":
        return _weights_list(load_catalog(), weights_dir(), args.json)
    entries = lookup(args.names)
    if args.weights_command == "fetch":
        return _weights_fetch(entries, weights_dir(), force=args.force)
    return _weights_check(entries, weights_dir(), named=bool(args.names))


def _hash_text(entry) -> str:
    if entry.sha256:
        return f"sha256 {entry.sha256[:12]}..."
    if entry.sha256_prefix:
        return f"sha256 prefix {entry.sha256_prefix}"
    return "none published"


def _weights_list(catalog, directory, as_json: bool) -> int:
    rows = []
    for entry in catalog.values():
        path = entry.path(directory)
        rows.append({"name": entry.name, "title": entry.title, "file": entry.file, "url": entry.url,
                     "page": entry.page, "sha256": entry.sha256, "sha256_prefix": entry.sha256_prefix,
                     "licence": entry.licence, "path": str(path), "present": path.is_file(),
                     "mapping": entry.mapping.to_dict()})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"pretrained checkpoints -- folder {directory} ($SSA_BENCH_WEIGHTS)", title_justify="left")
    # The baseline's name whole at any terminal width (a name is what the user types next);
    # the other columns fold.
    table.add_column("baseline", no_wrap=True, min_width=max(len(name) for name in catalog))
    for column in ("file", "present", "hash", "download", "licence"):
        table.add_column(column, overflow="fold")
    for entry, row in zip(catalog.values(), rows):
        present = "[green]yes[/green]" if row["present"] else "[red]no[/red]"
        source = entry.url.split("/")[2] if entry.url else "by hand (see docs/weights.md)"
        licence = entry.licence.split(";")[0].split(" (")[0]       # the full text: --json, docs/weights.md
        table.add_row(entry.name, entry.file, present, _hash_text(entry), source, licence)
    _out.print(table)
    return 0


def _weights_fetch(entries, directory, force: bool) -> int:
    from ssa_bench.weights.fetch import fetch

    failed = 0
    for entry in entries:
        with _fetch_progress(entry) as progress:
            try:
                path = fetch(entry, directory, progress=progress, force=force)
            except UserError as error:
                failed += 1
                _err.print(f"ssa-bench: error: {error.one_line()}", highlight=False, markup=False, soft_wrap=True)
                continue
        verdict = "hash checked" if entry.expected_hash else "no published hash to check"
        _err.print(f"{entry.name}: {path} ({verdict})", highlight=False)
    return 2 if failed else 0


def _fetch_progress(entry):
    """A progress display for one download: a rich bar on a terminal, a line per 10% otherwise."""
    import contextlib

    from ssa_bench.weights.fetch import PlainProgress

    if not _err.is_terminal:
        return contextlib.nullcontext(PlainProgress(_err.file))
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=_err, transient=False) as display:
            task = display.add_task(entry.file, total=None)

            def update(_entry, done, total):
                display.update(task, completed=done, total=total)

            yield update
    return bar()


def _weights_check(entries, directory, named: bool) -> int:
    from ssa_bench.weights.fetch import check, mismatch_error

    results = check(entries, directory)
    table = Table(title=f"pretrained checkpoints in {directory}", title_justify="left")
    for column in ("baseline", "file", "state", "sha256 of the file"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "unverified": "yellow", "mismatch": "red", "missing": "red"}
    words = {"ok": "ok (hash matches)", "unverified": "present (no published hash)", "mismatch": "HASH MISMATCH",
             "missing": "missing"}
    for result in results:
        colour = colours[result.state]
        table.add_row(result.entry.name, result.entry.file, f"[{colour}]{words[result.state]}[/{colour}]",
                      result.sha256 or "")
    _out.print(table)
    bad = [r for r in results if r.state == "mismatch" or (named and r.state == "missing")]
    for result in bad:
        if result.state == "mismatch":
            line = mismatch_error(result.entry, result.path, result.sha256, removed=False).one_line()
        else:
            line = (f"{result.path}: missing -- run `{result.entry.fetch_command()}`, or copy the file there by hand")
        _err.print(f"ssa-bench: error: {line}", highlight=False, markup=False, soft_wrap=True)
    missing = [r.entry.name for r in results if r.state == "missing"]
    if missing and not named:
        _err.print(f"{len(missing)} missing: `ssa-bench weights fetch {' '.join(missing)}`", highlight=False,
                   soft_wrap=True)
    return 2 if bad else 0
