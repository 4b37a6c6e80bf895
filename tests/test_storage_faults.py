"""Issue 24's three measured cases, end to end with the CLI on real faults (tiny SegFormer-mini runs,
local executor): a torn checkpoint, a full file system (a real tmpfs), a moved results folder.

Only the CLI and the files on disk are used (no new module of ssa-bench is imported), so the same
file runs against an older checkout and shows how it failed there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from ssa_bench.cli import main

pytestmark = pytest.mark.slow

# One run: 60 iterations, a checkpoint every 30 (iter_30, iter_60), as in the fault drill.
SPEC = """\
name: drill
title: "Fault drill"
base:
  baseline: segformer_mini
  dataset: demo_shapes
  train: {max_iters: 60, batch_size: 2, crop_size: [64, 64], val_interval: 30,
          checkpoint_interval: 30, num_workers: 0, device: cpu, pretrained: none}
  measure: {input_size: [64, 64], latency_warmup: 1, latency_iters: 2, threads: 1}
rows:
  - label: Baseline
    ssa: {enabled: false}
report:
  columns: [mIoU]
  baseline_row: Baseline
"""


@pytest.fixture
def drill(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    monkeypatch.delenv("SSA_BENCH_RESULTS", raising=False)
    spec = tmp_path / "drill.yaml"
    spec.write_text(SPEC)
    return spec


def _status(capsys, spec, results) -> dict:
    capsys.readouterr()
    assert main(["status", str(spec), "--json", "--results-dir", str(results)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    return rows[0]


def _run_dir(results: Path) -> Path:
    (run,) = (results / "runs").iterdir()
    return run


def _record(results: Path) -> dict:
    return json.loads((_run_dir(results) / "record.json").read_text())


def _intact(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _killed_during_iter_60(results: Path) -> Path:
    """What a worker killed while it wrote iter_60.pth leaves: no record, no stage results, state
    'running' with a dead pid, iter_30 intact and iter_60 a third of itself, named by
    last_checkpoint (whatever form the code under test writes it in)."""
    run = _run_dir(results)
    work = run / "work_dir"
    for path in [run / "record.json", run / "progress.json", *(run / "stages").glob("*.json")]:
        path.unlink()
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = json.loads((run / "state.json").read_text())
    state.update(state="running", pid=dead.pid, executor="local")
    (run / "state.json").write_text(json.dumps(state))
    os.truncate(work / "iter_60.pth", (work / "iter_60.pth").stat().st_size // 3)
    assert "iter_60.pth" in (work / "last_checkpoint").read_text()
    return work


def test_a_torn_checkpoint_finishes_from_iter_30_in_one_rerun(drill, tmp_path, capsys):
    results = tmp_path / "results"
    argv = ["--results-dir", str(results)]
    assert main(["run", str(drill), *argv]) == 0
    work = _killed_during_iter_60(results)
    capsys.readouterr()
    assert main(["run", str(drill), *argv]) == 0
    record = _record(results)
    assert record["train"]["resumed_from_iter"] == 30 and record["train"]["iters"] == 60
    assert [item["name"] for item in record["train"]["skipped_checkpoints"]] == ["iter_60.pth"]
    assert (work / "damaged" / "iter_60.pth").exists() and _intact(work / "iter_60.pth")
    log = (_run_dir(results) / "worker.log").read_text()
    assert "iter_60.pth" in log and "resuming from iter_30.pth" in log
    assert _status(capsys, drill, results)["state"] == "done"


def _mount_tmpfs(folder: Path, megabytes: int) -> None:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount a small file system here: {error}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here (needs root): {done.stderr.strip()}")


def test_a_full_disk_fails_the_run_in_one_line_and_resumes_once_space_is_freed(drill, tmp_path, capsys):
    # The size of one checkpoint of this run, from a first run elsewhere.
    reference = tmp_path / "reference"
    assert main(["run", str(drill), "--results-dir", str(reference), "--no-report"]) == 0
    checkpoint = (_run_dir(reference) / "work_dir" / "iter_30.pth").stat().st_size
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, megabytes=(4 * checkpoint) // 2 ** 20 + 8)
    try:
        # Room for iter_30 and the logs, not for iter_60 beside it.
        free = shutil.disk_usage(disk).free
        filler = disk / "filler"
        with open(filler, "wb") as handle:
            handle.truncate(0)
            handle.write(b"\0" * int(free - 1.6 * checkpoint))
        results = disk / "results"
        argv = ["--results-dir", str(results)]
        capsys.readouterr()
        assert main(["run", str(drill), *argv, "--no-report"]) == 1      # the submitter stays up
        err = capsys.readouterr().err
        assert "Traceback" not in err
        row = _status(capsys, drill, results)
        assert row["state"] == "failed"
        reason = row["reason"]
        assert "\n" not in reason and "no space left" in reason.lower() and "iter_60.pth" in reason, reason
        assert "rerun" in reason
        work = _run_dir(results) / "work_dir"
        assert _intact(work / "iter_30.pth")
        assert not (work / "iter_60.pth").exists()                       # nothing half-written kept
        assert not [name for name in os.listdir(work) if name.startswith(".iter_")]
        assert not (_run_dir(results) / "record.json").exists()

        filler.unlink()
        assert main(["run", str(drill), *argv, "--no-report"]) == 0
        record = _record(results)
        assert record["train"]["resumed_from_iter"] == 30 and record["train"]["iters"] == 60
        assert _status(capsys, drill, results)["state"] == "done"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_moved_results_folder_resumes_and_reports(drill, tmp_path, capsys):
    first = tmp_path / "scratch" / "results"
    argv = ["--results-dir", str(first)]
    assert main(["run", str(drill), *argv, "--no-report"]) == 0
    # Killed after iter_30 (iter_60 and everything after it lost), then moved as users rsync
    # scratch to project space: the old folder is gone.
    run = _run_dir(first)
    work = run / "work_dir"
    for path in [run / "record.json", *(run / "stages").glob("*.json"), work / "iter_60.pth",
                 *work.glob("iter_60.pth.*")]:
        path.unlink()
    pointer = work / "last_checkpoint"
    pointer.write_text(pointer.read_text().replace("iter_60", "iter_30"))
    moved = tmp_path / "project" / "results"
    moved.parent.mkdir()
    shutil.move(str(first), str(moved))
    assert not first.exists()

    argv = ["--results-dir", str(moved)]
    capsys.readouterr()
    assert main(["run", str(drill), *argv, "--no-report"]) == 0
    assert _record(moved)["train"]["resumed_from_iter"] == 30
    assert _status(capsys, drill, moved)["state"] == "done"
    out = tmp_path / "report"
    assert main(["report", str(drill), "--format", "csv", "--out", str(out), *argv]) == 0
    assert list(out.glob("*.csv"))
    assert main(["figures", str(drill), *argv]) == 0

    # Nothing a command reads names the old folder: records, stage results, state, progress,
    # pointers, notes, figure provenance.
    old = str(tmp_path / "scratch")
    readable = [path for path in moved.rglob("*") if path.is_file() and
                (path.suffix == ".json" or path.name == "last_checkpoint")]
    assert readable
    assert [str(path) for path in readable if old in path.read_text(errors="replace")] == []
