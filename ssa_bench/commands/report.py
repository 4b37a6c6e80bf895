"""`ssa-bench report SPEC`: the spec's table (paper, ours, delta) on the terminal and as LaTeX,
Markdown and CSV files; with --check-paper, the gate against the paper's numbers (exit 1)."""
from __future__ import annotations

from argparse import Namespace

from ssa_bench.commands.shared import check_directory, err, load, out, print_hint
from ssa_bench.errors import UserError


def cmd_report(args: Namespace) -> int:
    from ssa_bench.report import paper_gate, report_table, tolerances_from, write_report
    from ssa_bench.report.api import default_out_dir
    from ssa_bench.report.paper_check import compare_with_paper
    from ssa_bench.report.render_terminal import terminal_renderable

    tolerances = tolerances_from(args.check_paper) if args.check_paper is not None else None
    if getattr(args, "allow_missing", False) and tolerances is None:
        raise UserError("--allow-missing only applies to --check-paper", key="--allow-missing",
                        fix="add --check-paper TOL, or drop --allow-missing")
    spec, runs, store = load(args)
    if args.out is not None:
        check_directory(args.out, "--out", writable=True)
    print_hint(args, spec, runs, store)
    table = report_table(spec, runs, store)
    if tolerances is not None:
        paper_gate(table, tolerances)       # refused before anything is written
    formats = args.format or ["latex", "markdown", "csv"]
    out.print(terminal_renderable(table))
    from ssa_bench.report.kept import count_results, describe, kept_results

    results = count_results(table)
    directory = args.out or default_out_dir(spec, store)
    kept = kept_results(directory, table.name, formats)
    if results == 0 and kept and not getattr(args, "overwrite_empty", False):
        # A report with numbers is not replaced by an all-pending one without a word (the runs
        # are usually there, planned with other --set overrides: the hint above names them).
        err.print(f"[red]not written:[/red] this report has no result yet, and {describe(kept)} in {directory} "
                  f"has; pass --overwrite-empty to replace it anyway", highlight=False, soft_wrap=True)
        return 1
    paths = write_report(spec, runs, store, formats=formats, out_dir=args.out, table=table)
    for fmt, path in paths.items():
        err.print(f"wrote {fmt}: {path}")
    if tolerances is None:
        return 0
    return _paper_verdict(compare_with_paper(table, tolerances), tolerances, args.allow_missing)


def _paper_verdict(check, tolerances, allow_missing: bool, shown: int = 10) -> int:
    """Print what --check-paper compared and found; 1 when the gate trips."""
    from rich.markup import escape

    for item in check.differences:
        err.print(f"[red]differs[/red] {escape(str(item))}", soft_wrap=True)
    label = "[yellow]missing[/yellow]" if allow_missing else "[red]missing[/red]"
    for item in check.missing[:shown]:
        err.print(f"{label} {escape(str(item))}", soft_wrap=True)
    if len(check.missing) > shown:
        err.print(f"{label} ... and {len(check.missing) - shown} more cells without a number of ours", soft_wrap=True)
    err.print(escape(check.summary(tolerances)), soft_wrap=True)
    if check.compared == 0 and not check.missing:
        err.print("[red]--check-paper compared nothing[/red]: no cell of this table has both a paper number "
                  "and a run of ours", soft_wrap=True)
    elif check.missing and not allow_missing:
        err.print("[red]--check-paper fails[/red]: cells it should compare have no number of ours yet "
                  "(finish the runs, or pass --allow-missing to check only what exists)", soft_wrap=True)
    elif check.compared == 0:
        err.print("[red]--check-paper compared nothing[/red]: no cell has a number of ours yet", soft_wrap=True)
    return 0 if check.passed(allow_missing) else 1
