"""The commands of ../shared/CONTRACT.md, called as a user calls them (in-process through
``ssa_bench.cli.main``), on their normal path: what each prints and writes, and its exit code.
Their bad-input paths are in tests/validation/."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssa_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
TABLE3 = ["Baseline", "+ SEPA", "+ SPPA", "+ SEPA + SPPA", "+ SEPA + Lg + Lsd", "+ SPPA + Lg + Lpd",
          "SSA (Ours)"]

# Two runs of the demo model, a handful of iterations each: the whole pipeline in seconds.
TINY_SPEC = """\
name: tiny
title: "A two-row demo"
base:
  baseline: segformer_mini
  dataset: demo_shapes
  train: {max_iters: 4, batch_size: 2, crop_size: [64, 64], val_interval: 4,
          checkpoint_interval: 4, num_workers: 0, device: cpu, pretrained: none}
  measure: {input_size: [64, 64], latency_warmup: 1, latency_iters: 2, threads: 1}
rows:
  - label: Baseline
    ssa: {enabled: false}
  - label: SSA
    ssa: {enabled: true, variant: released}
report:
  columns: [mIoU, gflops]
  baseline_row: Baseline
"""


@pytest.fixture(autouse=True)
def _from_repo_root(from_repo_root):
    """Spec paths like tables/table3.yaml resolve under experiments/ of the repository."""


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_plan_json_has_stable_ids_and_the_table_rows(tmp_path, capsys):
    first = _json(capsys, ["plan", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    again = _json(capsys, ["plan", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    assert [row["label"] for row in first] == TABLE3
    assert [row["id"] for row in first] == [row["id"] for row in again]
    demo = _json(capsys, ["plan", "tables/table3.yaml", "--profile", "cpu-demo", "--json",
                          "--results-dir", str(tmp_path)])
    assert not {row["id"] for row in demo} & {row["id"] for row in first}
    shorter = _json(capsys, ["plan", "tables/table3.yaml", "--profile", "cpu-demo", "--json",
                             "--set", "train.max_iters=10", "--results-dir", str(tmp_path)])
    assert not {row["id"] for row in shorter} & {row["id"] for row in demo}


def test_status_json_of_a_fresh_results_dir_is_all_pending(tmp_path, capsys):
    rows = _json(capsys, ["status", "tables/table3.yaml", "--json", "--results-dir", str(tmp_path)])
    assert [row["label"] for row in rows] == TABLE3
    assert {row["state"] for row in rows} == {"pending"}


def test_run_dry_run_starts_nothing(tmp_path, capsys):
    assert main(["run", "tables/table3.yaml", "--profile", "cpu-demo", "--dry-run",
                 "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "7" in out
    assert not list(tmp_path.glob("runs/*/record.json"))


def test_data_check_names_every_dataset(capsys):
    main(["data", "check"])
    out = capsys.readouterr().out
    for name in ("ade20k", "coco_stuff10k", "pascal_context59", "demo_shapes"):
        assert name in out


def test_weights_list_names_every_paper_baseline_whole_on_a_narrow_terminal(monkeypatch):
    import io

    from rich.console import Console

    from ssa_bench.commands import weights as weights_command

    screen = io.StringIO()
    monkeypatch.setattr(weights_command, "out", Console(file=screen, width=60))
    assert main(["weights", "list"]) == 0
    for name in ("seaformer_b", "afformer_b", "vit_adapter_l", "segformer_b5", "upernet_swin_l"):
        assert name in screen.getvalue()


def test_measure_json_has_the_contract_keys(capsys):
    record = _json(capsys, ["measure", "segformer_mini", "--dataset", "demo_shapes", "--json"])
    assert set(record["gflops"]) >= {"paper", "full"}
    assert 0 < record["gflops"]["paper"] <= record["gflops"]["full"]
    assert record["params_m"] > 0 and record["latency_ms"] > 0 and record["device"] == "cpu"
    with_ssa = _json(capsys, ["measure", "segformer_mini", "--dataset", "demo_shapes", "--ssa",
                              "--json"])
    assert with_ssa["params_m"] > record["params_m"]


@pytest.mark.slow
def test_run_status_report_figures_of_a_tiny_spec(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    results = tmp_path / "results"
    argv = ["--results-dir", str(results)]
    assert main(["run", str(spec), *argv]) == 0
    capsys.readouterr()
    rows = _json(capsys, ["status", str(spec), "--json", *argv])
    assert {row["state"] for row in rows} == {"done"}
    records = {row["label"]: json.loads(next(results.glob(f"runs/{row['id']}/record.json"))
                                        .read_text()) for row in rows}
    # A second run of the same command has nothing left to do.
    assert main(["run", str(spec), *argv]) == 0
    assert "2 already done" in capsys.readouterr().err
    out = tmp_path / "report"
    assert main(["report", str(spec), "--format", "csv", "--format", "json", "--out", str(out), *argv]) == 0
    capsys.readouterr()
    import pandas as pd

    frame = pd.read_csv(next(out.glob("*.csv")))
    miou = frame[frame["metric"] == "mIoU"].set_index("label")["ours"]
    for label, record in records.items():
        assert miou[label] == pytest.approx(record["metrics"]["mIoU"], abs=0.01)
    # The evaluate stage kept each run's bootstrap draws; the JSON report carries the intervals.
    for row in rows:
        assert (results / "runs" / row["id"] / "stages" / "evaluate_draws.bin").is_file()
    (table_json,) = [path for path in out.glob("*.json") if not path.name.endswith(".provenance.json")]
    document = json.loads(table_json.read_text())
    for cell in (cell for cell in document["cells"] if cell["metric"] == "mIoU"):
        assert cell["ci_low"] <= cell["ours"] <= cell["ci_high"], cell
    assert main(["figures", str(spec), "--out", str(tmp_path / "figures"), *argv]) == 0
    assert list((tmp_path / "figures").glob("*.pdf")) or list((tmp_path / "figures").glob("*.png"))


# --- The command line as OpenMMLab users expect it (issue 25, measured case 3) -------------------

def _sub_parsers(parser):
    """(prog, parser) of every command and sub-command, the top level included."""
    import argparse

    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _sub_parsers(sub)
    return found


def test_every_option_of_every_command_has_help_and_names_its_default():
    import argparse

    from ssa_bench.cli import build_parser

    for prog, parser in _sub_parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest} has no help"
            if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                assert f"{action.default}" in text and "default" in text, (prog, action.option_strings)


def test_help_names_every_environment_variable_a_user_may_set(capsys):
    import re

    names = set()
    for path in (REPO / "ssa_bench").rglob("*.py"):
        names |= set(re.findall(r"SSA_BENCH_[A-Z_]+", path.read_text()))
    # Set by ssa-bench itself for its workers and jobs, not by a user.
    internal = {"SSA_BENCH_ATTEMPT", "SSA_BENCH_EXECUTOR", "SSA_BENCH_JOB_ID", "SSA_BENCH_LAUNCHER"}
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "environment variables" in text
    missing = sorted(name for name in names - internal if name not in text)
    assert not missing, f"not in `ssa-bench --help`: {missing}"


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"ssa-bench {version('ssa-bench')}"


@pytest.mark.parametrize("argv, commands", [(["weights"], ("list", "fetch", "check")),
                                            (["data"], ("check", "make", "prepare")),
                                            ([], ("plan", "run", "status", "report", "figures"))])
def test_a_missing_sub_command_prints_the_list_of_commands(capsys, argv, commands):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "required" not in err and len(err.strip().splitlines()) == 1, err
    for name in commands:
        assert f" {name}," in err or f" {name} " in err, err


@pytest.mark.parametrize("command", ["plan", "run", "status", "report", "figures"])
def test_cfg_options_is_set_cfg_on_every_command_that_takes_set(command):
    from ssa_bench.cli import build_parser

    args = build_parser().parse_args([command, "tables/table3.yaml", "--set", "train.max_iters=3",
                                      "--cfg-options", "model.decode_head.dropout_ratio=0.2",
                                      "train_cfg.val_interval=5"])
    assert args.overrides == ["train.max_iters=3", "cfg.model.decode_head.dropout_ratio=0.2",
                              "cfg.train_cfg.val_interval=5"]


def test_cfg_options_plans_the_same_runs_as_set_cfg(tmp_path, capsys):
    argv = ["plan", "tables/table3.yaml", "--profile", "cpu-demo", "--json", "--results-dir", str(tmp_path)]
    with_set = _json(capsys, [*argv, "--set", "cfg.train_cfg.val_interval=5"])
    with_cfg_options = _json(capsys, [*argv, "--cfg-options", "train_cfg.val_interval=5"])
    assert [r["id"] for r in with_set] == [r["id"] for r in with_cfg_options]
    assert with_cfg_options[0]["config"]["cfg"] == {"train_cfg.val_interval": 5}


def test_cfg_options_without_key_value_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--cfg-options", "tables/table3.yaml"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "KEY=VALUE" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("profile, device", [("paper", "GPU"), ("cpu-demo", "CPU")])
def test_the_plan_estimate_says_its_unit_and_device(tmp_path, capsys, profile, device):
    rows = _json(capsys, ["plan", "tables/table3.yaml", "--profile", profile, "--json",
                          "--results-dir", str(tmp_path)])
    assert all(device in row["estimate_basis"] for row in rows)
    assert main(["plan", "tables/table3.yaml", "--profile", profile, "--results-dir", str(tmp_path)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    line = next(text for text in summary if "estimated compute" in text)
    assert "wall-clock" in line and device in line


@pytest.mark.parametrize("argv", [["weights", "list", "--json"],
                                  ["plan", "tables/table1.yaml", "--profile", "paper", "--json"]])
def test_a_closed_pipe_ends_quietly(tmp_path, argv):
    """`ssa-bench ... | head -1`: the reader leaves before the writer is done."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO), "SSA_BENCH_RESULTS": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "ssa_bench.cli", *argv], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(1)
    process.stdout.close()          # what `head -c 1` does
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert process.returncode in (0, 141)


def test_ctrl_c_in_weights_fetch_says_what_is_kept(monkeypatch, tmp_path, capsys):
    from ssa_bench.weights import fetch as fetch_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(fetch_module, "fetch", interrupted)
    assert main(["weights", "fetch", "segformer_b5"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs" not in err[0] and ".part" in err[0], err


def test_ctrl_c_in_run_says_finished_runs_are_kept(monkeypatch, tmp_path, capsys):
    from ssa_bench.commands import run as run_command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "cmd_run", interrupted)
    assert main(["run", "tables/table3.yaml", "--results-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "finished runs are kept" in err[0]


def test_a_damaged_archive_is_one_line_without_escaped_newlines(tmp_path):
    from ssa_bench.data.archives import extract
    from ssa_bench.data.progress import Reporter
    from ssa_bench.errors import UserError

    archive = tmp_path / "ADEChallengeData2016.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 50)
    with pytest.raises(UserError) as raised:
        extract(archive, tmp_path / "out", Reporter())
    line = raised.value.one_line()
    assert "\\n" not in line and "\n" not in line, line
    assert "download it again" in line


def test_ctrl_c_in_a_slurm_run_says_the_jobs_keep_running(monkeypatch, tmp_path, capsys):
    from ssa_bench.commands import run as run_command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "cmd_run", interrupted)
    assert main(["run", "tables/table3.yaml", "--executor", "slurm", "--results-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keep running" in err[0] and "finished runs" not in err[0]


def test_each_command_is_one_module_and_only_the_one_asked_for_is_imported(tmp_path):
    """ssa_bench/commands/ holds one module per verb of the parser (plus shared.py), each with its
    cmd_<verb>; `status` imports its own module and the shared one, none of the other verbs'."""
    import argparse
    import importlib
    import subprocess
    import sys

    from ssa_bench.cli import build_parser

    parser = build_parser()
    verbs = set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
    modules = {path.stem for path in (REPO / "ssa_bench" / "commands").glob("*.py")} - {"__init__", "shared"}
    assert modules == verbs
    for verb in verbs:
        assert callable(getattr(importlib.import_module(f"ssa_bench.commands.{verb}"), f"cmd_{verb}"))
    code = ("import sys\nfrom ssa_bench.cli import main\n"
            f"code = main(['status', 'tables/table3.yaml', '--json', '--results-dir', {str(tmp_path)!r}])\n"
            "print(sorted(m for m in sys.modules if m.startswith('ssa_bench.commands')), file=sys.stderr)\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    loaded = done.stderr.strip().splitlines()[-1]
    assert loaded == str(["ssa_bench.commands", "ssa_bench.commands.shared", "ssa_bench.commands.status"]), loaded
