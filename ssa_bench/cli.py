"""The ``ssa-bench`` command line: parses arguments, calls one function per command, maps errors.

Exit codes (fixed by the contract): 0 success, 1 some runs failed (or a --check-paper gate
tripped), 2 bad input -- a spec, an argument or missing data -- with a one-line error on stderr.
Heavy imports (torch, mmseg) happen only inside the commands that train or measure.
"""
from __future__ import annotations

import argparse
import sys

from ssa_bench.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

DESCRIPTION = ("Reproduce the SSA paper's tables (arXiv 2405.06525) and run your own ablations: a YAML "
               "matrix of runs -> plan -> run (locally or on SLURM) -> status -> report and figures. "
               "Start with `ssa-bench plan tables/table3.yaml --profile cpu-demo`. Exit codes: 0 success, "
               "1 some runs failed, 2 bad input.")


def _tolerance(text: str) -> str:
    """One --check-paper value ("0.5", "gflops=5%", "0.5,latency_ms=off"), checked here so that a
    malformed one is refused by argparse (exit 2) before anything is read or written."""
    from ssa_bench.report.paper_check import parse_tolerances

    try:
        parse_tolerances([text])
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep the message one line
        # self.prog is "ssa-bench" for the top level and "ssa-bench run" for a command
        self.exit(EXIT_BAD_INPUT, f"ssa-bench: error: {message} -- see '{self.prog} --help'\n")


def _add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a matrix YAML; looked up under experiments/ when not found as given")
    parser.add_argument("--profile", default="paper", help="paper (default) or cpu-demo")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec key or a resolved mmseg config key (repeatable)")
    parser.add_argument("--results-dir", default=None,
                        help="results root (default $SSA_BENCH_RESULTS or ./results)")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="ssa-bench", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    plan = commands.add_parser("plan", help="expand and validate a spec, list its runs")
    _add_spec_arguments(plan)
    plan.add_argument("--json", action="store_true")

    run = commands.add_parser("run", help="execute the runs that are not done yet")
    _add_spec_arguments(run)
    run.add_argument("--executor", choices=["local", "slurm"], default=None,
                     help="local (default) or slurm; --cluster implies slurm")
    run.add_argument("--cluster", default=None,
                     help="SLURM cluster profile name (slurm/clusters/NAME.yaml); implies --executor slurm")
    run.add_argument("--dry-run", action="store_true", help="show what would run; run nothing")
    run.add_argument("--max-parallel", type=_positive_int, default=None)
    run.add_argument("--rerun-failed", action="store_true", help="run only the failed runs again")
    run.add_argument("--force", action="store_true", help="redo every run, finished ones included")
    run.add_argument("--no-report", action="store_true", help="do not print the table afterwards")

    status = commands.add_parser("status", help="every run's state")
    _add_spec_arguments(status)
    status.add_argument("--json", action="store_true")

    report = commands.add_parser("report", help="the spec's table: paper, ours, delta")
    _add_spec_arguments(report)
    report.add_argument("--format", action="append", choices=["latex", "markdown", "csv"], default=None)
    report.add_argument("--out", default=None, help="output directory (default <results>/reports/<spec>)")
    report.add_argument("--check-paper", type=_tolerance, action="append", default=None, metavar="TOL",
                        help="compare every cell that has a paper number and exit 1 when one differs by more "
                             "than its tolerance or has no number of ours yet. TOL: a number for every metric "
                             "in its own unit (mIoU points, GFLOPs, ms), and/or METRIC=NUMBER, METRIC=NUMBER%% "
                             "(of the paper's number) or METRIC=off, comma-separated or repeated; "
                             "e.g. --check-paper 0.5,gflops=2%%")
    report.add_argument("--allow-missing", action="store_true",
                        help="with --check-paper: cells without a number of ours yet do not fail the check")

    figures = commands.add_parser("figures", help="the figures the spec's runs support")
    _add_spec_arguments(figures)
    figures.add_argument("--out", default=None)

    preflight = commands.add_parser(
        "preflight", help="one training step and one evaluation forward of each distinct model on this device: "
        "peak memory, step time, projected time per run and table against the SLURM time limit")
    _add_spec_arguments(preflight)
    preflight.add_argument("--json", action="store_true")
    preflight.add_argument("--cluster", default=None,
                           help="SLURM cluster profile whose time limit and GPUs per run the projection uses "
                                "(default $SSA_BENCH_CLUSTER, else example-gpu; runs on device cpu are local)")
    preflight.add_argument("--executor", choices=["local", "slurm"], default=None,
                           help="project every run as local (one process, no time limit) or as SLURM jobs")
    preflight.add_argument("--scale", type=float, default=1.0,
                           help="probe at this fraction of each run's crop (e.g. 0.25 in CI; default 1 = the "
                                "real shapes)")
    preflight.add_argument("--steps", type=_positive_int, default=2,
                           help="training steps per model; the first warms up, the rest are timed (default 2)")

    measure = commands.add_parser("measure", help="GFLOPs, params and latency of one model")
    measure.add_argument("baseline")
    measure.add_argument("--ssa", action="store_true")
    measure.add_argument("--variant", default="released",
                         help="SSA preset: released (the authors' head, the default) or paper")
    measure.add_argument("--dataset", default="ade20k")
    measure.add_argument("--json", action="store_true")

    data = commands.add_parser("data", help="datasets: check, prepare from the downloaded archives, make the demo")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_ArgumentParser)
    data_commands.add_parser("check", help="each dataset: found or not, and what to do")
    data_commands.add_parser("make", help="generate the embedded demo data set")
    prepare = data_commands.add_parser("prepare", help="convert downloaded archives into the layout the configs "
                                       "read ($SSA_BENCH_DATA), then check counts and labels")
    prepare.add_argument("dataset", metavar="DATASET", help="ade20k, coco_stuff10k or pascal_context59")
    prepare.add_argument("--from", dest="source", metavar="DIR", default=None,
                         help="the folder holding the downloaded archives (or what they unpack to)")
    prepare.add_argument("--check-only", action="store_true",
                         help="convert nothing: check the prepared dataset where the runs look for it")
    prepare.add_argument("--jobs", type=int, default=None, help="parallel conversion processes (COCO-Stuff)")
    prepare.add_argument("--keep-unpacked", action="store_true",
                         help="keep the unpacked raw archive next to the converted data (COCO-Stuff)")

    weights = commands.add_parser("weights", help="pretrained backbone checkpoints: list, fetch, check")
    weights_commands = weights.add_subparsers(dest="weights_command", required=True, parser_class=_ArgumentParser)
    weights_list = weights_commands.add_parser("list", help="every baseline's checkpoint: source, hash, licence, "
                                               "present")
    weights_list.add_argument("--json", action="store_true")
    fetch = weights_commands.add_parser("fetch", help="download into the weights folder ($SSA_BENCH_WEIGHTS), "
                                        "resuming and checking the hash")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="baseline names (default: all)")
    fetch.add_argument("--force", action="store_true", help="download again even when the file is there")
    check = weights_commands.add_parser("check", help="verify the files in the weights folder (filled by fetch "
                                        "or by hand)")
    check.add_argument("names", nargs="*", metavar="NAME", help="baseline names (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ssa_bench import commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return handler(args)
    except UserError as error:
        print(f"ssa-bench: error: {error.one_line()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ssa-bench: interrupted; finished runs are kept, rerun the same command to continue",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
