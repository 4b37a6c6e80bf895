"""The paper's figures from recorded results (`ssa-bench figures SPEC`).

    make_figures(spec, runs, store, out_dir=None) -> [paths]     PNG and PDF of each figure made

One module per figure (tsne = Fig. 1, relations = Fig. 3, qualitative = Fig. 4, curves = Fig. 5,
loss_terms = Fig. 5's companion of per-term training losses, schedule_gain = SSA's gain against
the schedule for specs that vary train.max_iters, forest = every table's gains with their bootstrap
intervals),
each reading only the store: record.json curves and the dump stage's .npz files. A figure whose
inputs are missing is skipped with a one-line note naming the run and the file; only when no
figure at all can be made is that an error (exit 2: run the spec first). Each figure has a
sidecar <name>.json listing the run ids and files it was drawn from.
No torch: figures run where reports run.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ssa_bench.errors import UserError
from ssa_bench.report.figures import (curves, forest, loss_terms, prototype_tsne, qualitative, relations,
                                      schedule_gain, tsne)
from ssa_bench.report.figures.inputs import Missing, RunData, run_data
from ssa_bench.report.figures.output import use_file_backend
from ssa_bench.report.gather import results_root

FIGURES = (tsne, prototype_tsne, relations, qualitative, curves, loss_terms, schedule_gain, forest)


@dataclass
class Context:
    spec_name: str
    data: list[RunData]
    out_dir: Path
    # what the report table is built from (the forest plot draws the table's gains and intervals)
    spec: object = None
    runs: list = field(default_factory=list)
    store: object = None


@dataclass
class FigureSet:
    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)      # "fig1_tsne skipped: run ...: missing ..."


def default_out_dir(spec, store) -> Path:
    return results_root(store) / "figures" / str(spec.name)


def build_figures(spec, runs, store, out_dir=None, only=None) -> FigureSet:
    """Every figure whose inputs exist; the others as notes. `only`: figure names to make."""
    use_file_backend()
    context = Context(str(spec.name), run_data(runs, store),
                      Path(out_dir) if out_dir else default_out_dir(spec, store), spec=spec, runs=list(runs),
                      store=store)
    result = FigureSet()
    for module in FIGURES:
        if only is not None and module.NAME not in only:
            continue
        applies = getattr(module, "applies", None)
        if applies is not None and not applies(context):
            continue        # a figure for another kind of spec (e.g. a schedule sweep): no note
        try:
            result.paths.extend(module.make(context))
        except Missing as missing:
            result.notes.append(f"{module.NAME} skipped: {missing}")
    return result


def make_figures(spec, runs, store, out_dir=None, overrides=()) -> list[Path]:
    """`overrides`: the --set the runs were asked for with, so that the command suggested when no
    figure can be made starts those runs, not the spec's full ones."""
    result = build_figures(spec, runs, store, out_dir)
    for note in result.notes:
        print(note, file=sys.stderr)
    if not result.paths:
        import shlex

        name = spec.path or spec.name
        profile = spec.profile
        command = (f"ssa-bench run {name}" + (f" --profile {profile}" if profile != "paper" else "")
                   + "".join(f" --set {shlex.quote(item)}" for item in overrides or ()))
        raise UserError(f"no figure could be made from the results of {name}", file=str(name),
                        fix=f"run the spec first: {command} (then ssa-bench figures again)")
    return result.paths


__all__ = ["build_figures", "make_figures", "default_out_dir", "FigureSet", "FIGURES"]
