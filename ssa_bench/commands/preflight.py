"""`ssa-bench preflight SPEC`: one training step and one evaluation forward of each distinct model
on this device, and each run's projected time against the SLURM cluster profile's time limit."""
from __future__ import annotations

import json
from argparse import Namespace

from rich.table import Table

from ssa_bench.commands.shared import err, load, out, unique_runs
from ssa_bench.errors import UserError


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
    spec, runs, _store = load(args)
    unique = unique_runs(runs)
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
        err.print(f"[{number}/{len(groups)}] {name}: batch {group['batch']} per device ...", highlight=False)
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
        err.print(f"ssa-bench: error: {line}", highlight=False, markup=False, soft_wrap=True)
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
    out.print(f"preflight of {summary['spec']} (profile {summary['profile']}) on {summary['device']}: {shapes}; "
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
    out.print(table)
    for note in dict.fromkeys(m["data_note"] for m in models if m["data_note"]):
        out.print(f"data: {note}", highlight=False, soft_wrap=True)
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
    out.print(runs)
    table_facts = summary["table"]
    cluster = summary["cluster"]
    out.print(f"table: {table_facts['runs']} runs, {len(summary['models'])} distinct models, projected "
              f"{table_facts['projected_h']:.1f} h on this device, one run after another", highlight=False)
    if cluster and any(row["executor"] == "slurm" for row in summary["runs"]):
        limit = f"cluster profile '{cluster['name']}': {cluster['time_min']} min per job, {cluster['max_requeues']} requeues allowed"
        needing = table_facts["needing_requeues"]
        out.print(f"{limit}; {len(needing)} run(s) need requeues" + (f": {', '.join(needing)}" if needing else ""),
                  highlight=False, soft_wrap=True)
        if table_facts["not_fitting"]:
            out.print(f"[red]{len(table_facts['not_fitting'])} run(s) would not finish within the allowed requeues:"
                      f"[/red] {', '.join(table_facts['not_fitting'])} -- raise max_requeues or time in the profile, "
                      "or give those rows more GPUs (slurm: {gpus: N})", highlight=False, soft_wrap=True)
