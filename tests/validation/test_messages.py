"""Root cause 9: messages that pointed at the wrong place or said the wrong thing."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.validation.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"


def test_empty_exclusion_is_named(refuse):
    refuse.bad_spec(BASE + "rows: [{label: a}]\nexclude: [{}]\n", "exclude[0]", "empty exclusion")


def test_set_max_iters_suggests_train_max_iters(refuse):
    path = refuse.spec(BASE + "rows: [{label: a}]\n")
    line = refuse([str(path), "--set", "max_iters=100"], "did you mean 'train.max_iters'")
    assert "did you mean 'axes'" not in line


@pytest.mark.parametrize("key,character", [
    ("tr\u0430in", "U+0430 CYRILLIC SMALL LETTER A"),
    ("s\u0455a", "U+0455 CYRILLIC SMALL LETTER DZE"),
    ("s\u0435ed", "U+0435 CYRILLIC SMALL LETTER IE"),
])
def test_lookalike_unicode_letter_is_named_in_a_row(refuse, key, character):
    refuse.bad_spec(BASE + f"rows: [{{label: a, {key}: {{}}}}]\n", f"rows[0].{key}", character)


def test_lookalike_unicode_letter_is_named_at_top_level(refuse):
    refuse.bad_spec(BASE + "r\u043ews: [{label: a}]\n", "U+043E CYRILLIC SMALL LETTER O")


def test_lookalike_unicode_letter_is_named_in_set(refuse):
    path = refuse.spec(BASE + "rows: [{label: a}]\n")
    refuse([str(path), "--set", "tr\u0430in.lr=0.1"], "U+0430 CYRILLIC SMALL LETTER A")


@pytest.mark.parametrize("argv,help_hint", [
    (["bogus"], "'ssa-bench --help'"),
    ([], "'ssa-bench --help'"),
    (["run"], "'ssa-bench run --help'"),
    (["data"], "'ssa-bench data --help'"),
    (["data", "prepare"], "'ssa-bench data prepare --help'"),
    (["run", "x.yaml", "--max-parallel", "0"], "'ssa-bench run --help'"),
    (["run", "x.yaml", "--max-parallel", "two"], "'ssa-bench run --help'"),
])
def test_argparse_error_points_at_the_right_help(capsys, argv, help_hint):
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert help_hint in err and "ssa-bench ssa-bench" not in err


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "lots"])
def test_check_paper_tolerance_is_refused_before_writing(refuse, tmp_path, value):
    path = refuse.spec(BASE + "rows: [{label: a}]\n")
    out = tmp_path / "out"
    refuse([str(path), f"--check-paper={value}", "--out", str(out)], "--check-paper", value, command="report")
    assert not out.exists()


def test_measure_bogus_variant_is_refused_before_torch():
    code = ("import sys; from ssa_bench.cli import main; rc = main(['measure', 'fcn_r101', '--ssa', '--variant', "
            "'bogus']); assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "ssa-bench: error: --variant: unknown SSA variant 'bogus' -- use one of: paper, released"]
    assert time.monotonic() - start < 10


def test_no_traceback_from_a_bad_spec_as_a_process(tmp_path):
    """The real process (not main() in-process): exit 2, one line, no 'Traceback'."""
    spec = tmp_path / "s.yaml"
    spec.write_text(BASE + "rows: [{label: a}]\naxes: {seed: [0.5]}\n")
    result = subprocess.run([sys.executable, "-m", "ssa_bench.cli", "run", str(spec), "--results-dir",
                             str(tmp_path / "r")], capture_output=True, text=True, cwd=REPO, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "axes.seed[0]" in result.stderr
    assert not (tmp_path / "r").exists()
