"""The paper profile starts every baseline from its catalog checkpoint; plan shows it, run needs it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ssa_bench.vocabulary.names import BASELINES
from ssa_bench.cli import main
from ssa_bench.errors import SpecError
from ssa_bench.matrix import load_spec, plan
from ssa_bench.weights import checkpoint_of, ensure_weights, entry_for, load_catalog

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))


def test_every_paper_baseline_has_a_catalog_checkpoint():
    paper_baselines = {name for name in BASELINES if name != "segformer_mini"}
    assert set(load_catalog()) == paper_baselines
    assert entry_for("segformer_mini") is None              # the demo model has none


def test_the_paper_profile_uses_the_catalog_by_default():
    runs = plan(load_spec("tables/table1.yaml"))
    assert len(runs) == 54
    for run in runs:
        entry = entry_for(run.config["baseline"])
        assert run.config["train"]["pretrained"] == entry.ref
        assert checkpoint_of(run.config).path.name == entry.file


def test_run_ids_do_not_depend_on_the_cache_folder(monkeypatch, tmp_path):
    first = [r.id for r in plan(load_spec("tables/table1.yaml"))]
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "elsewhere"))
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / entry_for("seaformer_b").file).write_bytes(b"present now")
    assert [r.id for r in plan(load_spec("tables/table1.yaml"))] == first
    ref = entry_for("upernet_swin_t").ref
    assert str(tmp_path) not in ref and ref.endswith("1cdeb081.pth:sha256=1cdeb081")


def test_none_means_from_scratch_and_changes_the_id():
    default = plan(load_spec("tables/table3.yaml"))
    scratch = plan(load_spec("tables/table3.yaml", overrides=["train.pretrained=none"]))
    assert all(r.config["train"]["pretrained"] is None for r in scratch)
    assert {r.id for r in default}.isdisjoint({r.id for r in scratch})


def test_per_baseline_values(tmp_path):
    mine = tmp_path / "my_swin_l.pth"
    spec = load_spec("tables/table1.yaml", overrides=[
        f"train.pretrained={{upernet_swin_l: {mine}, seaformer_b: none, default: catalog}}"])
    by_baseline = {r.config["baseline"]: r.config["train"]["pretrained"] for r in plan(spec)}
    assert by_baseline["upernet_swin_l"] == str(mine)
    assert by_baseline["seaformer_b"] is None
    assert by_baseline["segnext_t"] == entry_for("segnext_t").ref
    other = load_spec("tables/table3.yaml", overrides=["train.pretrained=catalog:seaformer_b"])
    assert {r.config["train"]["pretrained"] for r in plan(other)} == {entry_for("seaformer_b").ref}


def test_the_cpu_demo_trains_from_scratch_and_needs_no_weights():
    runs = plan(load_spec("tables/table1.yaml", profile="cpu-demo"))
    assert {r.config["train"]["pretrained"] for r in runs} == {None}
    ensure_weights([r.config for r in runs])                   # nothing to fetch: no error


@pytest.mark.parametrize("override, key, words", [
    ("train.pretrained=catalog", "--set.train.pretrained", "has no checkpoint in the weights catalog"),
    ("train.pretrained={segformer_mimi: none}", "train.pretrained.segformer_mimi", "did you mean 'segformer_mini'"),
    ("train.pretrained=catalog:resnet9000", "train.pretrained", "no checkpoint named 'resnet9000'"),
    ("train.pretrained=3", "train.pretrained", "expected a string or a mapping or null"),
])
def test_bad_values_are_spec_errors(override, key, words):
    with pytest.raises(SpecError) as error:
        load_spec("tables/table3.yaml", profile="cpu-demo", overrides=[override])
    text = str(error.value)
    assert key in text and words in text and "\n" not in text


def test_plan_json_lists_a_checkpoint_for_every_run_without_importing_torch(tmp_path):
    code = ("import sys; sys.argv = ['ssa-bench']\n"
            "from ssa_bench.cli import main\n"
            f"code = main(['plan', 'tables/table1.yaml', '--json', '--results-dir', {str(tmp_path)!r}])\n"
            "assert 'torch' not in sys.modules and 'mmseg' not in sys.modules, 'planning imported torch'\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 54
    assert all(r["checkpoint"]["source"] == "catalog" and r["checkpoint"]["present"] is False for r in rows)
    assert {r["checkpoint"]["name"] for r in rows} == {r["config"]["baseline"] for r in rows}


def test_plan_shows_present_and_missing(tmp_path, capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / entry_for("seaformer_l").file).write_bytes(b"filled by hand")
    assert main(["plan", "tables/table3.yaml", "--results-dir", str(tmp_path / "r"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(r["checkpoint"]["present"] is True for r in rows)
    assert main(["plan", "tables/table1.yaml", "--results-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "8 pretrained checkpoint(s) missing" in out and "ssa-bench weights fetch ocrnet_hr48" in out


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_run_refuses_a_missing_checkpoint_before_queueing_anything(executor, tmp_path, capsys, paper_data_layout):
    results = tmp_path / "results"
    code = main(["run", "tables/table3.yaml", "--executor", executor, "--results-dir", str(results)])
    assert code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("ssa-bench: error:"), errors   # nothing said before it
    line = errors[-1]
    assert "seaformer_l" in line and entry_for("seaformer_l").file in line
    assert "`ssa-bench weights fetch seaformer_l`" in line and "train.pretrained: none" in line
    assert not list(results.glob("runs/*/state.json")) and not (results / "slurm").exists()


def test_run_refuses_a_missing_explicit_path(tmp_path, capsys):
    missing = tmp_path / "nope.pth"
    assert main(["run", "tables/table3.yaml", "--results-dir", str(tmp_path / "r"),
                 "--set", f"train.pretrained={missing}"]) == 2
    assert str(missing) in capsys.readouterr().err


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_dry_runs_show_each_runs_checkpoint(executor, tmp_path, capsys, paper_data_layout):
    import torch

    weights = tmp_path / "weights"
    weights.mkdir()
    # a file torch.save wrote (SeaFormer-L has no published hash: its format is what is checked)
    torch.save({"state_dict_ema": {}}, weights / entry_for("seaformer_l").file)
    args = ["run", "tables/table3.yaml", "--dry-run", "--executor", executor, "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if "checkpoint: " in line]
    assert len(lines) == 7 and all("SeaFormer_L.pth (present, no published hash)" in line for line in lines)
    # without it, the dry run stops where the run would: exit 2, the fetch command
    (weights / entry_for("seaformer_l").file).unlink()
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ssa-bench: error:")]
    assert len(errors) == 1 and "`ssa-bench weights fetch seaformer_l`" in errors[0]
