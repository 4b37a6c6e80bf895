"""`ssa-bench plan SPEC`: the spec's runs with their state, cost estimate and checkpoint verdict,
and what `run` would stop for (missing checkpoints and data sets). Reads the store, writes nothing
but the checkpoint verifier's memo."""
from __future__ import annotations

import json
import sys
from argparse import Namespace

from rich.table import Table

from ssa_bench.commands.shared import checkpoint_cell, load, out, warn_store_damage


def cmd_plan(args: Namespace) -> int:
    from ssa_bench.matrix.cost import estimate_basis, estimate_seconds
    from ssa_bench.weights import checkpoint_of
    from ssa_bench.weights.verify import Verifier

    spec, runs, store = load(args)
    rows, verdicts, by_pretrained = [], {}, {}
    # The verdict alone (record, else state.json): `status` is where damage is itemised.
    states = store.states([run.id for run in runs])
    warn_store_damage(store, runs)
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
                     "estimate_s": estimate_seconds(run.config), "estimate_basis": estimate_basis(run.config),
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
                      checkpoint_cell(verdicts[row["id"]]))
    out.print(table)
    unique = {r["id"]: r for r in rows}
    pending = [r for r in unique.values() if r["state"] != "done"]
    bases = sorted({r["estimate_basis"] for r in pending})
    out.print(f"{len(rows)} rows, {len(unique)} distinct runs, {len(pending)} not done; estimated "
              f"compute for those: {_duration(sum(r['estimate_s'] for r in pending))} wall-clock, one run after "
              f"another{' on ' + ' / '.join(bases) if bases else ''} (a rough guide)", highlight=False)
    _print_bad_checkpoints([verdicts[r["id"]] for r in pending], out)
    from ssa_bench.executors.prerun import dataset_problems

    for problem in dataset_problems([r["config"] for r in pending]):     # what `run` would stop for
        out.print(f"[red]missing data set:[/red] {problem.one_line()}", highlight=False, soft_wrap=True)
    return 0


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
