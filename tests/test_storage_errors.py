"""A file system that refuses writes (full, read-only, over quota, failing): one line naming the path
and what to do, the run `failed` with that reason, nothing half-written left, `status` up.

Full and read-only are real file systems (a tmpfs, remounted read-only) where the test may mount;
EDQUOT and EIO cannot be provoked on a tmpfs and are injected at ``os.write``."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from ssa_bench.errors import UserError
from ssa_bench.store import Owner, Store, write_json_atomic
from ssa_bench.store.storage import StorageError, as_storage_error


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs, unmounted afterwards; skipped (with the reason) where mounting is not allowed."""
    folder = tmp_path / "fs"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_storage_errors_are_one_line_user_errors_that_stay_oserrors():
    for code, words in [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "quota"), (errno.EROFS, "read-only"),
                        (errno.EIO, "input/output")]:
        error = as_storage_error(OSError(code, os.strerror(code)), "/r/runs/x/state.json")
        assert isinstance(error, UserError) and isinstance(error, OSError) and error.errno == code
        line = error.one_line()
        assert "\n" not in line and line.startswith("/r/runs/x/state.json: ") and words in line and "rerun" in line
    assert as_storage_error(FileNotFoundError(2, "x")) is None and as_storage_error(ValueError()) is None


def test_a_full_disk_fails_an_atomic_write_naming_the_file_and_keeps_the_old_one(small_fs):
    path = small_fs / "runs" / "r1" / "state.json"
    write_json_atomic(path, {"state": "queued"})
    _fill(small_fs)
    with pytest.raises(StorageError, match="no space left") as caught:
        write_json_atomic(path, {"state": "running", "pad": "x" * 200_000})
    assert str(path) in caught.value.one_line()
    assert json.loads(path.read_text()) == {"state": "queued"}
    assert sorted(os.listdir(path.parent)) == ["state.json"]                # no temp left


def test_a_full_disk_fails_a_claim_in_one_line_and_leaves_no_temp(small_fs):
    store = Store(small_fs)
    store.run_dir("r1")
    _fill(small_fs)
    # Creating the empty temp file still fits (an inode); writing the claim into it does not.
    with pytest.raises(StorageError, match="claim.json: no space left"):
        store.claim("r1", Owner.this_process("local"))
    assert not [name for name in os.listdir(store.paths("r1").run_dir) if name.startswith(".")]


def test_a_read_only_file_system_fails_writes_in_one_line(small_fs):
    store = Store(small_fs)
    store.set_state("r1", "queued")
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
    try:
        with pytest.raises(StorageError, match="read-only"):
            store.set_state("r1", "running")
        with pytest.raises(StorageError, match="read-only"):
            store.claim("r1", Owner.this_process("local"))
        assert store.read_state("r1")["state"] == "queued"                   # reads still work
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], capture_output=True)


@pytest.mark.parametrize("code", [errno.EIO, errno.EDQUOT])
def test_failing_writes_name_the_path(tmp_path, monkeypatch, code):
    real_write = os.write

    def failing(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", failing)
    with pytest.raises(StorageError) as caught:
        write_json_atomic(tmp_path / "record.json", {"a": 1})
    monkeypatch.setattr(os, "write", real_write)
    assert caught.value.errno == code and str(tmp_path / "record.json") in caught.value.one_line()
    assert os.listdir(tmp_path) == []


def test_the_worker_records_a_storage_failure_as_its_one_line_reason(tmp_path, monkeypatch):
    from ssa_bench import worker
    from tests.stages.stage_helpers import add_run, run_config

    store = Store(tmp_path)
    run_id = add_run(store, run_config())
    log = store.paths(run_id).work_dir + "/20261207_000000/20261207_000000.log"

    def full_disk(config, run_dir):
        # As mmengine's own writes fail (its log, its scalars): a plain OSError.
        raise OSError(errno.ENOSPC, "No space left on device", log)

    monkeypatch.setattr(worker, "_prepare_process", lambda config: None)
    monkeypatch.setattr(worker, "STAGE_FUNCTIONS", {**worker.STAGE_FUNCTIONS, "train": full_disk})
    monkeypatch.setattr("ssa_bench.data.ensure_datasets", lambda configs: None)
    with pytest.raises(OSError):
        worker.execute_run(store.root, run_id)
    state = store.read_state(run_id)
    assert state["state"] == "failed" and state["reason"].startswith(log + ": no space left")
    assert "\n" not in state["reason"] and state["traceback"] == "traceback.txt"


def test_the_worker_does_not_hide_the_failure_when_it_cannot_record_it(tmp_path, monkeypatch, capsys):
    from ssa_bench import worker
    from tests.stages.stage_helpers import add_run, run_config

    store = Store(tmp_path)
    run_id = add_run(store, run_config())

    def boom(config, run_dir):
        raise RuntimeError("the real failure")

    def no_space(self, run_id, state, **info):
        if state == "failed":
            raise as_storage_error(OSError(errno.ENOSPC, "No space left on device"), self.paths(run_id).state)
        return {}

    monkeypatch.setattr(worker, "_prepare_process", lambda config: None)
    monkeypatch.setattr(worker, "STAGE_FUNCTIONS", {**worker.STAGE_FUNCTIONS, "train": boom})
    monkeypatch.setattr("ssa_bench.data.ensure_datasets", lambda configs: None)
    monkeypatch.setattr(Store, "set_state", no_space)
    with pytest.raises(RuntimeError, match="the real failure"):
        worker.execute_run(store.root, run_id)
    assert "could not mark" in capsys.readouterr().err


def test_status_shows_a_local_run_whose_worker_is_gone_as_failed(tmp_path, capsys, monkeypatch, from_repo_root):
    from ssa_bench.cli import main
    from ssa_bench.matrix import load_spec, plan

    spec = tmp_path / "one.yaml"
    spec.write_text("name: one\nbase: {baseline: segformer_mini, dataset: demo_shapes}\n"
                    "rows:\n  - label: Baseline\n    ssa: {enabled: false}\n")
    (run,) = plan(load_spec(str(spec), profile="cpu-demo"))
    store = Store(tmp_path / "results")
    store.write_run(run)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # What a worker killed on a full disk leaves: 'running', its pid gone, no claim.
    store.set_state(run.id, "running", executor="local", pid=dead.pid)
    assert main(["status", str(spec), "--profile", "cpu-demo", "--json", "--results-dir", store.root]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "failed" and "ended without recording a result" in row["reason"]
    assert row["traceback"] == store.paths(run.id).worker_log


def test_report_onto_a_full_disk_is_one_line_and_exit_2(small_fs, tmp_path, capsys, from_repo_root):
    from ssa_bench.cli import main

    _fill(small_fs)
    code = main(["report", "tables/table3.yaml", "--profile", "cpu-demo", "--format", "markdown",
                 "--results-dir", str(tmp_path / "results"), "--out", str(small_fs / "reports")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("ssa-bench: error:")]
    assert str(small_fs / "reports") in line and "no space left" in line and "free space" in line
    assert not [path for path in small_fs.rglob("*") if path.is_file() and path.name != "filler"]


def test_a_failing_write_while_handing_a_claim_over_names_the_claim(tmp_path, monkeypatch):
    # sbatch's job takes the claim from the submitter: the new claim file is written whole first,
    # and a write() failure carries no file name, so the one line must name the claim itself
    store = Store(tmp_path)
    submitter = Owner.this_process("submitter")
    job = Owner("slurm", "node1", 77, "12_3", 0.0)
    assert store.claim("r1", submitter)

    def failing(fd, data):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "write", failing)
    with pytest.raises(StorageError) as caught:
        store.transfer_claim("r1", submitter, job)
    monkeypatch.undo()
    claim = store.paths("r1").claim
    assert caught.value.one_line().startswith(f"{claim}: ") and caught.value.errno == errno.EIO
    assert store.claim_holder("r1") == submitter                            # not handed over
    assert not [name for name in os.listdir(os.path.dirname(claim)) if name.startswith(".")]   # no temp left
