"""`ssa-bench data check|make|prepare`: which data sets are found, the demo data set, and the
conversion of downloaded archives into the layout the configs read."""
from __future__ import annotations

from argparse import Namespace

from ssa_bench.commands.shared import err, out
from ssa_bench.errors import UserError


def cmd_data(args: Namespace) -> int:
    from ssa_bench import data

    if args.data_command == "make":
        path = data.make_demo()
        out.print(f"demo data set ready at {path}")
        return 0
    if args.data_command == "prepare":
        return _data_prepare(args)
    results = data.check()
    # One line per dataset and its fix on the next, not a table: at 80 columns a table folds every
    # path into a column a few characters wide.
    width = max(len(item["name"]) for item in results)
    for item in results:
        status = "[green]found  [/green]" if item["found"] else "[red]missing[/red]"
        out.print(f"{item['name']:<{width}}  {status}  {item['path']}", highlight=False, soft_wrap=True)
        if not item["found"]:
            out.print(f"{'':<{width}}  -> {item['fix']}", highlight=False, soft_wrap=True)
    return 0


def _data_prepare(args: Namespace) -> int:
    from ssa_bench.data.prepare import prepare
    from ssa_bench.data.progress import RichReporter
    from ssa_bench.data.recipes import RECIPES, how_to_prepare
    from ssa_bench.data.verify import check_prepared

    if args.dataset not in RECIPES:
        raise UserError(f"no preparation for dataset '{args.dataset}'", key="DATASET",
                        fix=f"use one of: {', '.join(RECIPES)} (the demo data: `ssa-bench data make`)")
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1", key="--jobs", fix="pass a positive number")
    reporter = RichReporter(err)
    if args.check_only:
        result = check_prepared(args.dataset, reporter)
    elif args.source is None:
        raise UserError("data prepare needs --from DIR", key="--from",
                        fix=f"{how_to_prepare(args.dataset)}; or pass --check-only to check a prepared copy")
    else:
        result = prepare(args.dataset, args.source, reporter, jobs=args.jobs, keep_raw=args.keep_unpacked)
    for line in result.summary():
        out.print(line, highlight=False)
    out.print(f"{args.dataset} ready at {result.root}", highlight=False)
    return 0
