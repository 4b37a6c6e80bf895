"""What several verbs share: the two consoles, loading a spec with its --set overrides (or the
recorded ones), recording the plans a `run` starts, the results-directory check, the hint when the
store holds this spec's runs planned otherwise, and the store-damage warnings."""
from __future__ import annotations

from argparse import Namespace

from rich.console import Console

from ssa_bench.errors import UserError

out = Console(soft_wrap=True)
err = Console(stderr=True)

# Commands that create files under the results root; plan and status only read it.
WRITING_COMMANDS = ("run", "report", "figures")


def load(args: Namespace):
    """Spec -> (spec, runs, store): the pipeline's first three pieces, shared by every command."""
    from ssa_bench.matrix import load_spec, plan
    from ssa_bench.store import Store

    spec = load_spec(args.spec, profile=args.profile, overrides=args.overrides)
    store = Store(args.results_dir)
    check_directory(store.root, "--results-dir", writable=args.command in WRITING_COMMANDS)
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
    err.print(f"using the overrides recorded with {len(chosen.run_ids)} run(s) of {spec.name}: "
              f"{chosen.flags()}{others}", highlight=False, soft_wrap=True, markup=False)
    return load_spec(args.spec, profile=args.profile, overrides=args.overrides)


def record_plans(args: Namespace, spec, runs, store) -> None:
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


def unique_runs(runs):
    # A spec may name the same training twice (e.g. rows that a profile maps onto one config);
    # it is executed once.
    seen, unique = set(), []
    for run in runs:
        if run.id not in seen:
            seen.add(run.id)
            unique.append(run)
    return unique


def state_of(store, run_id: str) -> dict:
    """state.json's fields with the store's verdict (a valid record is 'done'; damage is shown)."""
    view = store.view(run_id)
    damage = "; ".join(d.message() for d in view.damage)
    return {**view.info, "state": view.state, **({"reason": damage} if damage else {})}


def checkpoint_cell(verdict) -> str:
    """A checkpoint verdict as one coloured table cell (plan's table, run --dry-run's lines)."""
    if verdict.state == "none":
        return "[yellow]none (from scratch)[/yellow]"
    colour = "green" if verdict.good else "red"
    return f"[{colour}]{verdict.label}[/{colour}]"


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
    from ssa_bench.matrix import load_spec, plan
    from ssa_bench.vocabulary.profiles import PROFILES

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


def print_hint(args: Namespace, spec, runs, store) -> None:
    hint = planned_elsewhere_hint(args, spec, runs, store)
    if hint:
        err.print(f"[yellow]warning:[/yellow] {hint}", highlight=False, soft_wrap=True)


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


def warn_store_damage(store, runs, shown: int = 10) -> None:
    """One warning line per damaged record.json / state.json of the spec's runs (on stderr: `plan
    --json` keeps a clean stdout), so that neither a done run's damaged state file nor a figure
    drawn without a damaged record passes silently."""
    from rich.markup import escape

    damaged = store.damaged_files(run.id for run in runs)
    for item in damaged[:shown]:
        err.print(f"[yellow]warning:[/yellow] {escape(item.message())}", highlight=False, soft_wrap=True)
    if len(damaged) > shown:
        err.print(f"[yellow]warning:[/yellow] ... and {len(damaged) - shown} more damaged files "
                  f"(`ssa-bench status` lists them)", soft_wrap=True)
