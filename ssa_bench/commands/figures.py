"""`ssa-bench figures SPEC`: the figures the spec's runs support (ssa_bench/report/figures)."""
from __future__ import annotations

from argparse import Namespace

from ssa_bench.commands.shared import check_directory, err, load, print_hint, warn_store_damage


def cmd_figures(args: Namespace) -> int:
    from ssa_bench.report.figures import make_figures

    spec, runs, store = load(args)
    if args.out is not None:
        check_directory(args.out, "--out", writable=True)
    warn_store_damage(store, runs)
    print_hint(args, spec, runs, store)
    paths = make_figures(spec, runs, store, out_dir=args.out, overrides=args.overrides)
    for path in paths:
        err.print(f"wrote {path}")
    return 0
