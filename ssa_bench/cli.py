"""The ``ssa-bench`` command line: parses arguments, calls the command's module (``ssa_bench/commands/<verb>.py``),
maps errors.

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


# Every environment variable a user may set, for the epilog of --help (grep os.environ to add one).
ENVIRONMENT = (
    ("SSA_BENCH_RESULTS", "results root when --results-dir is not given (default ./results)"),
    ("SSA_BENCH_DATA", "where the prepared data sets are (default ./data)"),
    ("SSA_BENCH_WEIGHTS", "the pretrained checkpoints' folder that `weights fetch` fills"),
    ("SSA_BENCH_WEIGHTS_CATALOG", "a site's own checkpoint catalog YAML (e.g. an internal mirror)"),
    ("SSA_BENCH_TRUST_CHECKPOINTS", "checkpoint files to load with the full unpickler (trusted by name)"),
    ("SSA_BENCH_CLUSTER", "the SLURM cluster profile when --cluster is not given"),
    ("SSA_BENCH_CLUSTERS", "extra folders (os.pathsep-separated) searched for cluster profiles"),
    ("SSA_BENCH_SLURM_POLL_S", "seconds between SLURM accounting queries while `run` waits (default 30)"),
    ("SSA_BENCH_CLAIM_STALE_S", "seconds after which another host's silent claim on a run is taken for dead "
                                "(default 900)"),
    ("SSA_BENCH_CLAIM_HANDOVER_S", "seconds a started SLURM job waits for its submitter's claim (default 300)"),
    ("SSA_BENCH_THREADS", "CPU threads per local worker"),
    ("SSA_BENCH_PROGRESS_S", "without a terminal: at most one progress line per run per this many seconds "
                             "(default 30)"),
    ("SSA_BENCH_SPEC, SSA_BENCH_PROFILE, SSA_BENCH_SET, SSA_BENCH_RUN",
     "the notebooks' spec, profile, --set overrides and run"),
)


def _epilog() -> str:
    lines = ["environment variables:"]
    for name, words in ENVIRONMENT:
        lines.append(f"  {name}\n      {words}")
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ssa-bench")
    except PackageNotFoundError:      # run from a checkout that is not installed
        return "unknown (not installed)"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's help ends with its default, when it has one worth naming (not None/False/[])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text or default in (None, False, [], argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class _CfgOptions(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` (the OpenMMLab tools' flag) is ``--set cfg.KEY=VALUE``; kept in
    order with the --set overrides."""

    def __call__(self, parser, namespace, values, option_string=None):
        overrides = list(getattr(namespace, self.dest, None) or [])
        for value in values:
            if "=" not in value:
                parser.error(f"--cfg-options takes KEY=VALUE pairs, got '{value}' (put SPEC before --cfg-options)")
            overrides.append(f"cfg.{value}")
        setattr(namespace, self.dest, overrides)


class _ArgumentParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("epilog", "environment variables: see `ssa-bench --help`")
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # argparse exits 2 too; keep the message one line
        # self.prog is "ssa-bench" for the top level and "ssa-bench run" for a command
        self.exit(EXIT_BAD_INPUT, f"ssa-bench: error: {message} -- see '{self.prog} --help'\n")


def _add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a matrix YAML; looked up under experiments/ when not found as given")
    parser.add_argument("--profile", default="paper", help="paper or cpu-demo")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec key or a resolved mmseg config key, e.g. train.max_iters=2000 "
                             "(repeatable; applied after the profile)")
    parser.add_argument("--cfg-options", dest="overrides", action=_CfgOptions, nargs="+", metavar="KEY=VALUE",
                        help="the OpenMMLab tools' flag: KEY=VALUE means --set cfg.KEY=VALUE")
    parser.add_argument("--results-dir", default=None,
                        help="results root (default $SSA_BENCH_RESULTS or ./results)")
    parser.add_argument("--use-recorded-overrides", action="store_true",
                        help="take the --profile and --set overrides this spec's stored runs were run with "
                             "(the set with most finished runs); your own --set apply after them")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="ssa-bench", description=DESCRIPTION, epilog=_epilog())
    parser.add_argument("--version", action="version", version=f"ssa-bench {_version()}",
                        help="print the package version and exit")
    # Not required=True: a missing command prints the list of commands (main), not "required: command"
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)

    plan = commands.add_parser("plan", help="expand and validate a spec, list its runs")
    _add_spec_arguments(plan)
    plan.add_argument("--json", action="store_true",
                      help="print a JSON list of the runs (id, label, state, estimate_s in seconds with its "
                           "estimate_basis, ...) instead of the table")

    run = commands.add_parser("run", help="execute the runs that are not done yet")
    _add_spec_arguments(run)
    run.add_argument("--executor", choices=["local", "slurm"], default=None,
                     help="local (default) or slurm; --cluster implies slurm")
    run.add_argument("--cluster", default=None,
                     help="SLURM cluster profile name (slurm/clusters/NAME.yaml); implies --executor slurm")
    run.add_argument("--dry-run", action="store_true", help="show what would run; run nothing")
    run.add_argument("--max-parallel", type=_positive_int, default=None, metavar="N",
                     help="at most N runs at once (default: local, one per CPU core up to 4 for CPU runs, else 1; "
                          "slurm, the cluster profile's max_parallel, else a whole array)")
    run.add_argument("--rerun-failed", action="store_true", help="run only the failed runs again")
    run.add_argument("--force", action="store_true", help="redo every run, finished ones included")
    run.add_argument("--no-report", action="store_true", help="do not print the table afterwards")

    status = commands.add_parser("status", help="every run's state")
    _add_spec_arguments(status)
    status.add_argument("--json", action="store_true", help="print a JSON list of the runs' states")

    report = commands.add_parser("report", help="the spec's table: paper, ours, delta")
    _add_spec_arguments(report)
    report.add_argument("--format", action="append", choices=["latex", "markdown", "csv", "json"], default=None,
                        help="output format (repeatable; default: latex, markdown and csv; json on request)")
    report.add_argument("--out", default=None, help="output directory (default <results>/reports/<spec>)")
    report.add_argument("--check-paper", type=_tolerance, action="append", default=None, metavar="TOL",
                        help="compare every cell that has a paper number and exit 1 when one differs by more "
                             "than its tolerance or has no number of ours yet. TOL: a number for every metric "
                             "in its own unit (mIoU points, GFLOPs, ms), and/or METRIC=NUMBER, METRIC=NUMBER%% "
                             "(of the paper's number) or METRIC=off, comma-separated or repeated; "
                             "e.g. --check-paper 0.5,gflops=2%%")
    report.add_argument("--overwrite-empty", action="store_true",
                        help="write the report even when it has no result yet and the one it replaces has")
    report.add_argument("--allow-missing", action="store_true",
                        help="with --check-paper: cells without a number of ours yet do not fail the check")

    figures = commands.add_parser("figures", help="the figures the spec's runs support")
    _add_spec_arguments(figures)
    figures.add_argument("--out", default=None, help="output directory (default <results>/figures/<spec>)")

    preflight = commands.add_parser(
        "preflight", help="one training step and one evaluation forward of each distinct model on this device: "
        "peak memory, step time, projected time per run and table against the SLURM time limit")
    _add_spec_arguments(preflight)
    preflight.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    preflight.add_argument("--cluster", default=None,
                           help="SLURM cluster profile whose time limit and GPUs per run the projection uses "
                                "(default $SSA_BENCH_CLUSTER, else example-gpu; runs on device cpu are local)")
    preflight.add_argument("--executor", choices=["local", "slurm"], default=None,
                           help="project every run as local (one process, no time limit) or as SLURM jobs")
    preflight.add_argument("--scale", type=float, default=1.0,
                           help="probe at this fraction of each run's crop (e.g. 0.25 in CI; default 1.0: the "
                                "real shapes)")
    preflight.add_argument("--steps", type=_positive_int, default=2,
                           help="training steps per model; the first warms up, the rest are timed (default 2)")

    measure = commands.add_parser("measure", help="GFLOPs, params and latency of one model")
    measure.add_argument("baseline", metavar="BASELINE",
                         help="a baseline name, e.g. segformer_b5 (see `ssa-bench weights list`)")
    measure.add_argument("--ssa", action="store_true", help="with the SSA classifier in place of the baseline's head")
    measure.add_argument("--variant", default="released",
                         help="SSA preset: released (the authors' head, the default) or paper")
    measure.add_argument("--dataset", default="ade20k", help="the data set whose class count and crop size are used")
    measure.add_argument("--json", action="store_true",
                         help="print a JSON object (gflops, params_m, latency_ms, device)")

    data = commands.add_parser("data", help="datasets: check, prepare from the downloaded archives, make the demo")
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", parser_class=_ArgumentParser)
    data_commands.add_parser("check", help="each dataset: found or not, and what to do")
    data_commands.add_parser("make", help="generate the embedded demo data set")
    prepare = data_commands.add_parser("prepare", help="convert downloaded archives into the layout the configs "
                                       "read ($SSA_BENCH_DATA), then check counts and labels")
    prepare.add_argument("dataset", metavar="DATASET", help="ade20k, coco_stuff10k or pascal_context59")
    prepare.add_argument("--from", dest="source", metavar="DIR", default=None,
                         help="the folder holding the downloaded archives (or what they unpack to)")
    prepare.add_argument("--check-only", action="store_true",
                         help="convert nothing: check the prepared dataset where the runs look for it")
    prepare.add_argument("--jobs", type=int, default=None,
                         help="parallel conversion processes (COCO-Stuff; default: the CPU count, at most 8)")
    prepare.add_argument("--keep-unpacked", action="store_true",
                         help="keep the unpacked raw archive next to the converted data (COCO-Stuff)")

    weights = commands.add_parser("weights", help="pretrained backbone checkpoints: list, fetch, check")
    weights_commands = weights.add_subparsers(dest="weights_command", metavar="WEIGHTS_COMMAND",
                                              parser_class=_ArgumentParser)
    weights_list = weights_commands.add_parser("list", help="every baseline's checkpoint: source, hash, licence, "
                                               "present")
    weights_list.add_argument("--json", action="store_true", help="print a JSON list")
    fetch = weights_commands.add_parser("fetch", help="download into the weights folder ($SSA_BENCH_WEIGHTS), "
                                        "resuming and checking the hash")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="baseline names (default: all)")
    fetch.add_argument("--force", action="store_true", help="download again even when the file is there")
    check = weights_commands.add_parser("check", help="verify the files in the weights folder (filled by fetch "
                                        "or by hand)")
    check.add_argument("names", nargs="*", metavar="NAME", help="baseline names (default: all)")
    return parser


# What an interrupted command leaves behind, in its own words; one line, exit 130.
_INTERRUPTED = {
    "run": "interrupted; finished runs are kept, rerun the same command to continue",
    ("weights", "fetch"): "interrupted; a partial download is kept as <file>.part and the same command resumes it",
    ("data", "prepare"): "interrupted; the data set is not complete: run the same command again",
}


def _interrupted_message(args: argparse.Namespace) -> str:
    if args.command == "run" and (getattr(args, "executor", None) == "slurm" or getattr(args, "cluster", None)):
        return "interrupted; the submitted SLURM jobs keep running, the same command re-attaches to them"
    sub = getattr(args, f"{args.command}_command", None)
    return _INTERRUPTED.get((args.command, sub)) or _INTERRUPTED.get(args.command) or "interrupted"


def _missing_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int | None:
    """`ssa-bench`, `ssa-bench data`, `ssa-bench weights` alone: the commands to choose from, exit 2
    (argparse's own words would be "the following arguments are required: weights_command")."""
    if args.command is None:
        target = parser
    else:
        sub = getattr(args, f"{args.command}_command", "given")
        if sub is not None:
            return None
        target = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    # One line, like every other argument error, that names the commands to choose from.
    names = next(a for a in target._actions if isinstance(a, argparse._SubParsersAction)).choices
    print(f"ssa-bench: error: '{target.prog}' needs a command, one of: {', '.join(names)} -- see "
          f"'{target.prog} --help'", file=sys.stderr)
    return EXIT_BAD_INPUT


def _quiet_closed_pipe() -> None:
    """stdout's reader went away (`... | head`): no traceback, and none from the interpreter's own
    flush at exit either (the recipe of Python's signal documentation)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):     # stdout is not a file descriptor (a test's capture)
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = _missing_command(parser, args)
    if missing is not None:
        return missing
    from importlib import import_module

    # One module per verb (ssa_bench/commands/<verb>.py): only the one asked for is imported.
    handler = getattr(import_module(f"ssa_bench.commands.{args.command}"), f"cmd_{args.command}")
    try:
        return handler(args)
    except UserError as error:
        print(f"ssa-bench: error: {error.one_line()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"ssa-bench: {_interrupted_message(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_closed_pipe()
        return 141          # 128 + SIGPIPE, what a shell reports for a writer whose reader left


if __name__ == "__main__":
    sys.exit(main())
