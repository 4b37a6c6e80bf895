"""The one pre-run check (ssa_bench/executors/prerun.py) as `plan`, `run --dry-run` and `run` use it:
issue 23's measured cases 2 (a wrong checkpoint shown `(present)` and started) and 5 (a dry run
that skips the checks `run` makes), and the remembered hash verification."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from ssa_bench.cli import main
from ssa_bench.weights import checkpoint_of, load_catalog
from ssa_bench.weights import catalog as weights_catalog
from ssa_bench.weights import verify

# Two baselines with catalog checkpoints (segnext_t has a published hash prefix, seaformer_l none)
# trained on the generated demo data, so that the checkpoints are the only thing a check can find.
SPEC = """\
name: ckpt
base:
  baseline: segnext_t
  dataset: demo_shapes
  train: {max_iters: 2, batch_size: 2, crop_size: [64, 64], val_interval: 2, checkpoint_interval: 2,
          num_workers: 0, device: cpu}
rows:
  - label: SegNeXt-T
  - label: SeaFormer-L
    baseline: seaformer_l
"""


@pytest.fixture
def env(tmp_path, monkeypatch, from_repo_root):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(weights))
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SSA_BENCH_WEIGHTS_CATALOG", raising=False)
    weights_catalog._load.cache_clear()
    spec = tmp_path / "ckpt.yaml"
    spec.write_text(SPEC)
    return {"weights": weights, "spec": str(spec), "results": str(tmp_path / "results"), "tmp": tmp_path}


def _torch_file(path: Path, legacy: bool = False) -> Path:
    import torch

    torch.save({"state_dict": {"w": torch.zeros(2)}}, path, _use_new_zipfile_serialization=not legacy)
    return path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]


def _put_wrong_files(weights: Path) -> tuple[Path, Path]:
    catalog = load_catalog()
    segnext = weights / catalog["segnext_t"].file
    segnext.write_bytes(b"\x80\x02not the MSCAN-T checkpoint")          # hash mismatch
    seaformer = weights / catalog["seaformer_l"].file
    seaformer.write_bytes(b"$ a Google Drive error page saved as .pth")  # no published hash
    return segnext, seaformer


# -- measured case 2: a wrong checkpoint ---------------------------------------------------------

def test_plan_shows_a_wrong_checkpoint_as_bad_not_present(env, capsys):
    segnext, seaformer = _put_wrong_files(env["weights"])
    assert main(["plan", env["spec"], "--json", "--results-dir", env["results"]]) == 0
    rows = {row["label"]: row["checkpoint"] for row in json.loads(capsys.readouterr().out)}
    assert rows["SegNeXt-T"]["verdict"] == "mismatch" and rows["SeaFormer-L"]["verdict"] == "not-a-checkpoint"
    assert main(["plan", env["spec"], "--results-dir", env["results"]]) == 0
    out = capsys.readouterr().out
    assert "(present)" not in out and "HASH MISMATCH" in out and "NOT A CHECKPOINT" in out
    assert f"{segnext.name} has sha256" in out and f"{seaformer.name} is not a PyTorch checkpoint" in out


@pytest.mark.parametrize("dry_run", [True, False])
def test_run_refuses_a_wrong_checkpoint_before_anything_runs(env, capsys, dry_run):
    segnext, seaformer = _put_wrong_files(env["weights"])
    argv = ["run", env["spec"], "--results-dir", env["results"]] + (["--dry-run"] if dry_run else [])
    assert main(argv) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 2, errors
    mismatch = next(line for line in errors if segnext.name in line)
    assert "catalog expects 119e8c9f" in mismatch and "ssa-bench weights fetch segnext_t --force" in mismatch
    bad = next(line for line in errors if seaformer.name in line)
    assert "not a PyTorch checkpoint" in bad and "ssa-bench weights fetch seaformer_l --force" in bad
    assert not list(Path(env["results"]).glob("runs/*")), "nothing is written before the check"


def test_files_torch_saves_pass_and_others_are_named(tmp_path):
    assert verify.format_problem(_torch_file(tmp_path / "zip.pth")) is None
    assert verify.format_problem(_torch_file(tmp_path / "legacy.pth", legacy=True)) is None
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html>Google Drive - quota exceeded</html>")
    assert "web page" in verify.format_problem(tmp_path / "page.pth")
    (tmp_path / "dollar.pth").write_bytes(b"$\x00\x01garbage")
    assert "starts with b'$" in verify.format_problem(tmp_path / "dollar.pth")
    whole = (tmp_path / "zip.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(whole[: len(whole) // 2])          # an interrupted copy
    assert "damaged zip" in verify.format_problem(tmp_path / "cut.pth")
    import pickle

    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"w": 1}, protocol=2))  # not torch.save's header
    assert verify.format_problem(tmp_path / "plain.pkl") is not None
    (tmp_path / "empty.pth").write_bytes(b"")
    assert verify.format_problem(tmp_path / "empty.pth") == "the file is empty"


def test_a_good_file_without_published_hash_passes(env, capsys):
    _torch_file(env["weights"] / load_catalog()["seaformer_l"].file)
    (env["weights"] / load_catalog()["segnext_t"].file).write_bytes(b"x")
    assert main(["run", env["spec"], "--dry-run", "--results-dir", env["results"]]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "segnext_t" in errors[0] and "SeaFormer_L" not in errors[0]


# -- the remembered verification ----------------------------------------------------------------

def test_each_file_is_read_once_per_version(env):
    path = _torch_file(env["weights"] / load_catalog()["seaformer_l"].file)
    segnext = env["weights"] / load_catalog()["segnext_t"].file
    segnext.write_bytes(b"y" * 1000)
    # a 54-run table names each checkpoint many times: 2 distinct files, 2 reads
    configs = [{"baseline": b, "train": {"pretrained": load_catalog()[b].ref}}
               for b in ["segnext_t", "seaformer_l"] * 27]
    verifier = verify.Verifier()
    verdicts = [verifier.verify(checkpoint_of(c)) for c in configs]
    assert verifier.reads == 2 and {v.state for v in verdicts} == {"mismatch", "unverified"}
    verifier.save()
    assert (env["weights"] / verify.CACHE_NAME).is_file()
    again = verify.Verifier()                      # the next command: nothing is read
    assert [again.verify(checkpoint_of(c)).state for c in configs[:2]] == ["mismatch", "unverified"]
    assert again.reads == 0
    # the right file copied over the wrong one: a new size/mtime, read again, now ok
    digest = hashlib.sha256(segnext.read_bytes()).hexdigest()
    stat = segnext.stat()
    os.utime(segnext, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = verify.Verifier()
    assert third.verify(checkpoint_of(configs[0])).sha256 == digest and third.reads == 1
    assert third.verify(checkpoint_of(configs[1])).state == "unverified" and third.reads == 1
    assert path.is_file()


def test_a_read_only_weights_folder_remembers_in_the_user_cache(env, monkeypatch):
    _torch_file(env["weights"] / load_catalog()["seaformer_l"].file)
    config = {"baseline": "seaformer_l", "train": {"pretrained": load_catalog()["seaformer_l"].ref}}
    real_write = verify.write_text_atomic

    def refuse_weights_folder(path, text):
        if Path(path).parent == env["weights"]:
            raise PermissionError(13, "Permission denied")
        real_write(path, text)

    monkeypatch.setattr(verify, "write_text_atomic", refuse_weights_folder)
    verify.verify_all([checkpoint_of(config)])
    assert not (env["weights"] / verify.CACHE_NAME).exists()
    assert (env["tmp"] / "xdg" / "ssa-bench" / "verified-checkpoints.json").is_file()
    again = verify.Verifier()
    again.verify(checkpoint_of(config))
    assert again.reads == 0


# -- measured case 5: the dry run checks what the run checks -------------------------------------

def test_a_dry_run_without_the_dataset_exits_2_as_the_run_does(env, capsys):
    spec = Path(env["spec"])
    spec.write_text(SPEC.replace("demo_shapes", "ade20k").replace("device: cpu}", "device: cpu, pretrained: none}"))
    for dry in (["--dry-run"], []):
        assert main(["run", str(spec), "--results-dir", env["results"], *dry]) == 2
        captured = capsys.readouterr()
        errors = _errors(captured.err)
        assert len(errors) == 1 and "dataset 'ade20k' not found" in errors[0], errors
        assert "would run" not in captured.out
    assert main(["plan", str(spec), "--results-dir", env["results"]]) == 0     # plan shows what run stops for
    assert "missing data set: dataset: dataset 'ade20k' not found" in capsys.readouterr().out


def test_the_table1_slurm_dry_run_names_the_missing_checkpoints_and_exits_2(env, capsys, paper_data_layout):
    assert main(["run", "tables/table1.yaml", "--executor", "slurm", "--dry-run", "--results-dir",
                 env["results"]]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert "pretrained checkpoint missing for baselines" in errors[0] and "ssa-bench weights fetch" in errors[0]
    table1 = yaml.safe_load(Path("experiments/tables/table1.yaml").read_text())
    for name in table1["axes"]["baseline"]:
        assert f"{name}:" in errors[0], name


def test_cluster_implies_slurm_and_contradicts_local(env, capsys):
    spec = Path(env["spec"])
    spec.write_text(SPEC.replace("device: cpu}", "device: cpu, pretrained: none}").replace("batch_size: 2", "batch_size: 4"))
    argv = ["run", str(spec), "--results-dir", env["results"], "--dry-run", "--cluster", "example-gpu"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "(slurm)" in captured.err and "would run" not in captured.out      # the SLURM dry run, not a local one
    assert main(argv + ["--executor", "local"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "--cluster" in errors[0] and "--executor local" in errors[0]


def test_cuda_runs_are_refused_where_there_is_no_gpu(env, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    spec = Path(env["spec"])
    spec.write_text(SPEC.replace("device: cpu}", "device: cuda, pretrained: none}"))
    assert main(["run", str(spec), "--results-dir", env["results"], "--dry-run"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "train.device: cuda" in errors[0] and "no GPU" in errors[0]


class _Payload:
    """What a hostile checkpoint holds: unpickling it calls os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_checkpoint_whose_pickle_runs_code_is_refused_before_anything_runs(env, capsys, dry_run):
    import torch

    marker = env["tmp"] / "payload-ran"
    hostile = _torch_file(env["tmp"] / "hostile.pth")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": _Payload(marker)}, hostile)
    spec = Path(env["spec"])
    spec.write_text(SPEC.replace("device: cpu}", f"device: cpu, pretrained: '{hostile}'}}"))
    argv = ["run", str(spec), "--results-dir", env["results"]] + (["--dry-run"] if dry_run else [])
    assert main(argv) == 2
    errors = _errors(capsys.readouterr().err)
    # one file, named once, with the type it refers to and how to trust it
    assert len(errors) == 1 and str(hostile) in errors[0] and "system" in errors[0], errors
    assert "SSA_BENCH_TRUST_CHECKPOINTS" in errors[0]
    assert not marker.exists() and not list(Path(env["results"]).glob("runs/*"))
