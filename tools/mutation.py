"""Mutation testing of one ssa_bench folder against that folder's own tests (mutmut 3).

    .venv/bin/python tools/mutation.py store            # run, then summarise
    .venv/bin/python tools/mutation.py matrix --every 3 # deterministic sample
    .venv/bin/python tools/mutation.py store --summary  # summarise the last run only

mutmut reads its settings from the pyproject.toml of the directory it runs in and mutates the
whole configured tree, so one folder per run needs its own directory: .mutation/<folder>/ gets a
fresh copy of ssa_bench/, tests/ and pyproject.toml plus a [tool.mutmut] section naming that
folder and its tests. The repository's pyproject.toml stays free of mutmut settings, and mutmut is
a tool, not a dependency (`pip install mutmut`, 3.8 at the time of writing).

Child processes the tests start (the CLI in a subprocess) see the mutant too: PYTHONPATH points at
the mutated copy, and mutmut's MUTANT_UNDER_TEST variable is inherited.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".mutation"

# Each folder with its own tests only: a mutant another folder's tests happen to kill still
# counts as a gap here. Slow (real training) and slurm (local cluster) tests stay out.
FOLDERS: dict[str, tuple[str, list[str]]] = {
    "store": ("ssa_bench/store/*", [
        "tests/test_store.py", "tests/test_storage_errors.py", "tests/test_storage_faults.py",
        "tests/test_checkpoints.py", "tests/executors/test_claims.py",
        # the own tests of store/image_counts.py and store/plans.py, kept beside their callers
        "tests/stages/test_image_counts.py", "tests/test_recorded_overrides.py"]),
    # The figures' drawing code is its own target: its tests render figures (seconds per mutant).
    "report": ("ssa_bench/report/*", ["tests/report"]),
    "report_figures": ("ssa_bench/report/figures/*", ["tests/report"]),
    "weights": ("ssa_bench/weights/*", ["tests/weights"]),
    "models_ssa": ("ssa_bench/models/ssa/*", [
        "tests/models/test_ssa_classifier.py", "tests/models/test_ssa_head.py",
        "tests/models/test_ssa_losses.py", "tests/models/test_ssa_released_golden.py",
        "tests/models/test_ssa_settings.py", "tests/models/test_ssa_training.py"]),
    # Test ids must not hold newlines: mutmut's in-process pytest cannot select them ("ERROR: not
    # found", exit 4); test_report_settings.py names its cases explicitly for that reason.
    "matrix": ("ssa_bench/matrix/*", ["tests/matrix", "tests/validation"]),
}
# What the tests read beside the code (example specs, docs they check, scripts they run).
ALSO_COPY = ["experiments", "docs", "notebooks", "benchmarks", "slurm", "ci", "README.md", "Makefile"]
SKIP = {"report": ["ssa_bench/report/figures/*"]}
# Lines no mutant may touch. os.kill: the claim liveness probe sends signal 0 to a pid the tests
# take from os.getppid(), which under mutmut is mutmut itself; a mutant signal (1 = SIGHUP) or pid
# kills the run, or any live process on the machine.
DO_NOT_MUTATE = [r"os\.kill\("]
PYTEST_ARGS = ["-m", "not slow and not slurm", "-p", "no:cacheprovider", "-p", "no:xdist", "-q"]


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def prepare(folder: str) -> Path:
    pattern, tests = FOLDERS[folder]
    work = WORK / folder
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "ssa_bench", work / "ssa_bench", ignore=ignore)
    shutil.copytree(REPO / "tests", work / "tests", ignore=ignore)
    for extra in ALSO_COPY:
        source = REPO / extra
        if source.is_dir():
            shutil.copytree(source, work / extra, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, work / extra)
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject += (
        "\n[tool.mutmut]\n"
        'source_paths = ["ssa_bench"]\n'
        f"only_mutate = {_toml_list([pattern])}\n"
        f"do_not_mutate = {_toml_list(SKIP.get(folder, []))}\n"
        f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        f"also_copy = {_toml_list(ALSO_COPY)}\n"
        f"do_not_mutate_patterns = {_toml_list(DO_NOT_MUTATE)}\n"
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text(pyproject)
    # Exists before mutmut starts, so the interpreter does not cache PYTHONPATH's entry as absent.
    (work / "mutants").mkdir()
    return work


def _mutmut(work: Path, *args: str) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(work / "mutants"))
    mutmut = Path(sys.executable).with_name("mutmut")
    return subprocess.call([str(mutmut), *args], cwd=work, env=env)


def _results(work: Path) -> dict[str, int | None]:
    exit_codes: dict[str, int | None] = {}
    for meta in sorted((work / "mutants" / "ssa_bench").rglob("*.meta")):
        exit_codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return exit_codes


def run(folder: str, every: int, max_children: int) -> None:
    work = prepare(folder)
    if every == 1:
        _mutmut(work, "run", "--max-children", str(max_children))
        return
    # Generate the mutants and the test map with a run of one mutant, then every k-th name in
    # sorted order: the same sample on every machine for the same source.
    _mutmut(work, "run", "--max-children", str(max_children), "ssa_bench.__init__*")
    names = sorted(_results(work))
    sample = names[::every]
    print(f"sample: every {every}th of {len(names)} mutants in name order = {len(sample)}")
    _mutmut(work, "run", "--max-children", str(max_children), *sample)


def recheck(folder: str, max_children: int) -> None:
    """Test the last run's survivors again against the current tests (after adding some): the
    tests are copied in afresh and mutmut's test map is rebuilt, so new tests are asked too."""
    work = WORK / folder
    last = json.loads((work / "summary.json").read_text())
    shutil.copy2(work / "summary.json", work / "summary-before-recheck.json")
    survived = last["survived"] + last["no_tests"]
    for copy in (work / "tests", work / "mutants" / "tests"):
        shutil.rmtree(copy)
        shutil.copytree(REPO / "tests", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    _mutmut(work, "run", "--max-children", str(max_children), *survived)


def summarise(folder: str) -> dict:
    from mutmut.stats import status_by_exit_code  # the tool's own reading of its exit codes

    work = WORK / folder
    exit_codes = _results(work)
    status = {name: status_by_exit_code[code] for name, code in exit_codes.items()}
    checked = {name: s for name, s in status.items() if s != "not checked"}
    counts = Counter(checked.values())
    killed = counts["killed"] + counts["timeout"]
    # A mutant no test runs is a mutant no test kills: it counts against the score.
    tested = len(checked) - counts["skipped"]
    summary = {
        "folder": folder,
        "mutants_generated": len(status),
        "mutants_checked": len(checked),
        "counts": dict(sorted(counts.items())),
        "score_percent": round(100 * killed / tested, 1) if tested else None,
        "survived": sorted(n for n, s in checked.items() if s == "survived"),
        "no_tests": sorted(n for n, s in checked.items() if s == "no tests"),
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("survived", "no_tests")}))
    for name in summary["survived"]:
        print("survived", name)
    _write_diffs(work, summary["survived"] + summary["no_tests"], status)
    return summary


def _write_diffs(work: Path, names: list[str], status: dict[str, str]) -> None:
    """survivors.diff: each surviving / untested mutant with its diff, to judge it by reading."""
    os.chdir(work)  # mutmut's helpers read its config and mutants/ relative to the working dir
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    with open("survivors.diff", "w") as out:
        for name in names:
            out.write(f"### {name} [{status[name]}]\n{get_diff_for_mutant(name)}\n")
    print(f"diffs: {work / 'survivors.diff'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", choices=sorted(FOLDERS))
    parser.add_argument("--every", type=int, default=1,
                        help="test only every k-th mutant in name order (deterministic sample)")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--summary", action="store_true", help="only summarise the last run")
    parser.add_argument("--recheck", action="store_true",
                        help="test the last run's survivors again with the current tests")
    args = parser.parse_args()
    if args.recheck:
        recheck(args.folder, args.max_children)
    elif not args.summary:
        run(args.folder, args.every, args.max_children)
    summarise(args.folder)


if __name__ == "__main__":
    main()
