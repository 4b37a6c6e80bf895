"""The results store: its layout (RunPaths), its one atomic writer, its one validated reader and
the 'a valid record is the truth' rule, against every kind of damage a results folder can suffer."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from ssa_bench.errors import UserError
from ssa_bench.executors.base import prepare_runs, select_runs
from ssa_bench.matrix.run import Run
from ssa_bench.store import Damaged, Owner, Store, records

REPO = Path(__file__).resolve().parents[1]
RECORD = {"id": "r1", "metrics": {"mIoU": 41.2, "mAcc": 50.0, "per_class_iou": {"wall": 70.1, "sky": None}},
          "params_m": 3.7}


def _run(run_id: str) -> Run:
    return Run(id=run_id, label=run_id, group=run_id, section=None, column=None, seed=0, row_index=0,
               config={"baseline": "segformer_mini"}, spec_name="t.yaml", paper_baseline="segformer_mini",
               paper_dataset="demo_shapes")


# -- every reader against every kind of damage ------------------------------------------------
READERS = {
    "record": (records.read_record, lambda p: p.record),
    "state": (records.read_state, lambda p: p.state),
    "stage": (records.read_stage, lambda p: p.stage("train")),
    "progress": (records.read_progress, lambda p: p.progress),
    "claim": (records.read_claim, lambda p: p.claim),
    "run.json": (records.read_run_config, lambda p: p.config),
}
# (name, bytes to write, or None for "a directory where the file should be")
GENERIC_DAMAGE = [
    ("a list", b"[]"),
    ("null", b"null"),
    ("a string", b'"done"'),
    ("a number", b"5"),
    ("a boolean", b"true"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
    ("truncated", b'{"state": "done", "metrics": {"mIoU": 4'),
    ("empty", b""),
    ("whitespace", b"  \n"),
    ("a directory", None),
]
SPECIFIC_DAMAGE = [
    ("record", "metrics not numbers", {"metrics": {"mIoU": "high"}}, "mIoU"),
    ("record", "metrics a list", {"metrics": [1, 2]}, "metrics"),
    ("record", "per-class not numbers", {"metrics": {"per_class_iou": {"wall": "x"}}}, "per_class_iou.wall"),
    ("record", "metric a boolean", {"metrics": {"aAcc": True}}, "aAcc"),
    ("record", "params not a number", {"params_m": "3M"}, "params_m"),
    ("state", "no state", {"updated": "now"}, "no 'state'"),
    ("state", "unknown state", {"state": "finished"}, "finished"),
    ("state", "state not a string", {"state": 3}, "unknown state"),
    ("progress", "iter not a number", {"stage": "train", "iter": "ten"}, "iter"),
    ("progress", "no stage", {"iter": 3}, "stage"),
    ("claim", "unknown owner kind", {"kind": "cron", "host": "h", "pid": 1, "job_id": None, "since": 0}, "claim"),
    ("claim", "slurm claim without job", {"kind": "slurm", "host": "h", "pid": 1, "job_id": None, "since": 0},
     "claim"),
    ("run.json", "no config", {"id": "r1"}, "config"),
]


def _damage(path: str, content: bytes | None) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if content is None:
        os.makedirs(path)
    else:
        with open(path, "wb") as handle:
            handle.write(content)


@pytest.mark.parametrize("reader_name", list(READERS))
@pytest.mark.parametrize("damage_name,content", GENERIC_DAMAGE, ids=[d[0] for d in GENERIC_DAMAGE])
def test_every_reader_reports_generic_damage(tmp_path, reader_name, damage_name, content):
    read, where = READERS[reader_name]
    path = where(Store(tmp_path).paths("r1"))
    _damage(path, content)
    value = read(path)
    assert isinstance(value, Damaged), value
    assert value.path == path and value.what and value.fix
    assert not value                                        # `read_state(i) or {}` treats it as absent
    assert path in value.message()


@pytest.mark.parametrize("reader_name,case,content,mentioned", SPECIFIC_DAMAGE,
                         ids=[f"{d[0]}-{d[1]}" for d in SPECIFIC_DAMAGE])
def test_readers_check_what_they_parse(tmp_path, reader_name, case, content, mentioned):
    read, where = READERS[reader_name]
    path = where(Store(tmp_path).paths("r1"))
    _damage(path, json.dumps(content).encode())
    value = read(path)
    assert isinstance(value, Damaged) and mentioned in value.what, value


@pytest.mark.parametrize("reader_name", list(READERS))
def test_a_missing_file_is_none_not_damage(tmp_path, reader_name):
    read, where = READERS[reader_name]
    assert read(where(Store(tmp_path).paths("r1"))) is None


def test_valid_files_read_back_as_written(tmp_path):
    store = Store(tmp_path)
    store.write_run(_run("r1"))
    store.write_record("r1", RECORD)
    store.set_state("r1", "done")
    store.write_stage("r1", "train", {"iters": 4})
    store.write_progress("r1", "train", 2, 4)
    me = Owner.this_process("local")
    assert store.claim("r1", me)
    assert store.read_record("r1") == RECORD and store.record("r1") == RECORD
    assert store.read_state("r1")["state"] == "done"
    assert store.read_stage("r1", "train") == {"iters": 4} and store.stage_done("r1", "train")
    assert store.read_progress("r1")["iter"] == 2
    assert store.read_claim("r1") == me
    assert store.read_config("r1") == {"baseline": "segformer_mini"}
    assert store.view("r1").state == "done" and store.view("r1").damage == []


# -- the record is the truth; damage is reported, never silently acted on -----------------------
@pytest.mark.parametrize("state_damage", [b'{"state": "runn', b"[]", b'{"state": "exploded"}', None],
                         ids=["truncated", "list", "unknown", "directory"])
def test_a_valid_record_next_to_a_damaged_state_is_done_and_not_retrained(tmp_path, state_damage):
    store = Store(tmp_path)
    store.write_record("r1", RECORD)
    _damage(store.paths("r1").state, state_damage)
    view = store.view("r1")
    assert view.state == "done" and view.record == RECORD
    assert [d.path for d in view.damage] == [store.paths("r1").state]
    to_run, skipped = select_runs([_run("r1")], store)
    assert to_run == [] and skipped == [_run("r1")]
    to_run, _ = select_runs([_run("r1")], store, rerun_failed=True)
    assert to_run == []


def test_a_valid_record_next_to_a_stale_failed_state_is_done(tmp_path):
    store = Store(tmp_path)
    store.set_state("r1", "failed", reason="boom")
    store.write_record("r1", RECORD)                     # a later attempt finished
    assert store.view("r1").state == "done"
    assert select_runs([_run("r1")], store, rerun_failed=True)[0] == []


def test_a_done_state_without_a_record_is_not_done(tmp_path):
    store = Store(tmp_path)
    store.set_state("r1", "done")
    assert store.view("r1").state == "pending"
    assert select_runs([_run("r1")], store)[0] == [_run("r1")]


@pytest.mark.parametrize("record_damage", [b"[]", b"null", b'{"metrics": {"mIoU": "n/a"}}', b'{"met', None],
                         ids=["list", "null", "non-numeric", "truncated", "directory"])
def test_a_damaged_record_is_not_done_and_is_moved_aside_before_retraining(tmp_path, record_damage):
    store = Store(tmp_path)
    store.write_run(_run("r1"))
    store.write_stage("r1", "train", {"iters": 4})
    path = store.paths("r1").record
    _damage(path, record_damage)
    view = store.view("r1")
    assert view.state == "damaged" and view.damage[0].path == path
    to_run, _ = select_runs([_run("r1")], store)
    assert to_run == [_run("r1")]
    assert os.path.lexists(path)                           # selecting (a dry run) moves nothing
    moved = prepare_runs(to_run, store)
    assert len(moved) == 1 and re.search(r"record\.json\.damaged-\d{8}T\d{6}", moved[0])
    assert not os.path.lexists(path)
    if record_damage is not None:
        assert open(moved[0], "rb").read() == record_damage    # kept as it was
    assert store.read_stage("r1", "train") == {"iters": 4}      # valid neighbours untouched
    assert store.read_config("r1") == {"baseline": "segformer_mini"}


def test_a_run_directory_that_is_a_file_is_damage_set_aside_before_the_run(tmp_path):
    store = Store(tmp_path)
    os.makedirs(tmp_path / "runs")
    (tmp_path / "runs" / "r1").write_text("oops")
    view = store.view("r1")
    assert view.state == "damaged" and "directory" in view.damage[0].what
    assert store.read_record("r1").path == str(tmp_path / "runs" / "r1")
    assert store.run_ids() == []
    to_run, _ = select_runs([_run("r1")], store)
    assert to_run == [_run("r1")]
    prepare_runs(to_run, store)
    assert os.path.isfile(next(str(p) for p in (tmp_path / "runs").glob("r1.damaged-*")))
    store.write_record("r1", RECORD)
    assert store.view("r1").state == "done"


def test_a_runs_folder_that_is_a_file_is_refused_before_anything_runs(tmp_path):
    store = Store(tmp_path)
    (tmp_path / "runs").write_text("not a folder")
    assert store.view("r1").state == "damaged" and store.run_ids() == []
    with pytest.raises(UserError) as error:
        select_runs([_run("r1")], store)
    assert str(tmp_path / "runs") in error.value.one_line()


def test_a_damaged_stage_file_means_the_stage_runs_again(tmp_path):
    store = Store(tmp_path)
    _damage(store.paths("r1").stage("evaluate"), b'{"mIoU": ')
    assert not store.stage_done("r1", "evaluate")
    assert store.view("r1").damage[0].path == store.paths("r1").stage("evaluate")


def test_set_state_replaces_a_damaged_state(tmp_path):
    store = Store(tmp_path)
    _damage(store.paths("r1").state, b"\x00\x01")
    assert store.set_state("r1", "queued", executor="local")["state"] == "queued"
    assert store.read_state("r1")["executor"] == "local"


def test_status_shows_damage_with_its_path_and_what_to_do(tmp_path, capsys, monkeypatch):
    from ssa_bench.cli import main

    monkeypatch.chdir(REPO)
    args = ["tables/table3.yaml", "--profile", "cpu-demo", "--results-dir", str(tmp_path)]
    assert main(["plan", *args, "--json"]) == 0
    ids = [row["id"] for row in json.loads(capsys.readouterr().out)]
    store = Store(tmp_path)
    _damage(store.paths(ids[0]).record, b"[]")
    store.write_record(ids[1], RECORD)
    _damage(store.paths(ids[1]).state, b'{"sta')
    os.makedirs(tmp_path / "runs", exist_ok=True)
    (tmp_path / "runs" / ids[2]).write_text("x")
    code = main(["status", *args, "--json"])
    out = capsys.readouterr().out
    rows = {row["id"]: row for row in json.loads(out)}
    assert code in (0, 1)
    assert rows[ids[0]]["state"] == "damaged" and store.paths(ids[0]).record in rows[ids[0]]["reason"]
    assert "delete it" in rows[ids[0]]["reason"]
    assert rows[ids[1]]["state"] == "done"
    assert rows[ids[2]]["state"] == "damaged" and str(tmp_path / "runs" / ids[2]) in rows[ids[2]]["reason"]
    assert main(["status", *args]) in (0, 1)
    table = " ".join(capsys.readouterr().out.split())
    assert table.count("damaged") >= 2 and "delete it" in table, table
    # a dry run over the damage changes nothing on disk and says what it would run
    assert main(["run", *args, "--dry-run"]) == 0
    assert os.path.isfile(store.paths(ids[0]).record) and os.path.isfile(tmp_path / "runs" / ids[2])
    assert store.record(ids[1]) == RECORD


# -- one atomic writer, honouring the umask ------------------------------------------------------
WRITERS = {
    "record": lambda s: (s.write_record("r1", RECORD), s.paths("r1").record),
    "state": lambda s: (s.set_state("r1", "queued"), s.paths("r1").state),
    "stage": lambda s: (s.write_stage("r1", "train", {"iters": 1}), s.paths("r1").stage("train")),
    "progress": lambda s: (s.write_progress("r1", "train", 1, 2), s.paths("r1").progress),
    "traceback": lambda s: (s.write_traceback("r1", "Traceback"), s.paths("r1").traceback),
    "run.json": lambda s: (s.write_run(_run("r1")), s.paths("r1").config),
    "report": lambda s: (s.write_text(os.path.join(s.root, "reports", "t.md"), "| a |"),
                         os.path.join(s.root, "reports", "t.md")),
    "figure": lambda s: (s.write_bytes(os.path.join(s.root, "figures", "f.png"), b"\x89PNG"),
                         os.path.join(s.root, "figures", "f.png")),
}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_writes_honour_the_umask(tmp_path, writer, umask, mode):
    previous = os.umask(umask)
    try:
        _, path = WRITERS[writer](Store(tmp_path))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    store = Store(tmp_path)
    store.write_record("r1", RECORD)
    with pytest.raises(TypeError):
        store.write_record("r1", {"metrics": {"mIoU": object()}})
    assert store.record("r1") == RECORD
    assert sorted(os.listdir(store.paths("r1").run_dir)) == ["record.json"]


# -- the layout belongs to the store --------------------------------------------------------------
def test_run_paths_are_the_layout_and_reject_non_ids(tmp_path):
    paths = Store(tmp_path).paths("abc123")
    assert paths.run_dir == str(tmp_path / "runs" / "abc123")
    assert paths.stage("dump") == str(tmp_path / "runs" / "abc123" / "stages" / "dump.json")
    assert not os.path.exists(paths.run_dir)               # asking creates nothing
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            Store(tmp_path).paths(bad)
    with pytest.raises(ValueError):
        paths.stage("fit")


def test_no_module_builds_run_paths_by_hand():
    """Only ssa_bench/store/ knows that runs live in runs/<id>/ and what each file is called."""
    names = r"""["'](runs|(record|state|progress|run|claim)\.json|traceback\.txt)["']"""
    pattern = re.compile(rf"join\([^)]*{names}|/\s*{names}|{names}\s*/|\.path\([^)]*{names}")
    offenders = []
    for path in (REPO / "ssa_bench").rglob("*.py"):
        if "store" in path.relative_to(REPO / "ssa_bench").parts[:1]:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_dead_store_methods_are_gone():
    for name in ("is_done", "dump_dir"):
        assert not hasattr(Store, name)


# -- found by mutation testing (tools/mutation.py store): what the checks above left open ------
def test_json_writes_store_numpy_scalars_and_paths_as_plain_values(tmp_path):
    import numpy as np

    from ssa_bench.store.atomic import write_json_atomic

    target = tmp_path / "out.json"
    write_json_atomic(target, {"miou": np.float32(41.5), "iters": np.int64(7), "where": tmp_path / "w"})
    assert json.loads(target.read_text()) == {"miou": 41.5, "iters": 7, "where": str(tmp_path / "w")}
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        write_json_atomic(target, {"bad": {1, 2}})
    assert json.loads(target.read_text())["iters"] == 7           # the old file kept


def test_states_reads_only_the_runs_that_have_a_folder(tmp_path):
    store = Store(tmp_path)
    store.write_record("done1", RECORD)
    store.set_state("failed1", "failed", reason="boom")
    assert store.states(["done1", "failed1", "never"]) == {"done1": "done", "failed1": "failed",
                                                           "never": "pending"}
    assert Store(tmp_path / "empty").states(["a"]) == {"a": "pending"}
    (tmp_path / "runs").rename(tmp_path / "runs.old")
    (tmp_path / "runs").write_text("not a folder")
    assert store.states(["done1", "never"]) == {"done1": "damaged", "never": "damaged"}


def test_damaged_files_names_the_damage_of_the_listed_runs_only(tmp_path):
    store = Store(tmp_path)
    store.write_record("good", RECORD)
    _damage(store.paths("bad_record").record, b"[]")
    _damage(store.paths("bad_state").state, b'{"state": "exploded"}')
    _damage(store.paths("unlisted").record, b"[]")
    os.makedirs(tmp_path / "runs", exist_ok=True)
    (tmp_path / "runs" / "a_file").write_text("oops")
    found = store.damaged_files(["good", "bad_record", "bad_state", "a_file", "never", "bad_record"])
    assert [item.path for item in found] == [store.paths("bad_record").record, store.paths("bad_state").state,
                                             store.paths("a_file").run_dir]
    assert "directory" in found[2].what and "delete it" in found[2].fix
    assert Store(tmp_path / "empty").damaged_files(["good"]) == []
    (tmp_path / "runs").rename(tmp_path / "runs.old")
    (tmp_path / "runs").write_text("not a folder")
    (layout,) = store.damaged_files(["good"])
    assert layout.path == str(tmp_path / "runs") and "runs/ directory" in layout.what


def test_set_state_drops_failure_details_and_stamps_host_and_time(tmp_path):
    import socket

    store = Store(tmp_path)
    with pytest.raises(ValueError, match="'finished'"):
        store.set_state("r1", "finished")
    failed = store.set_state("r1", "failed", reason="boom", traceback="tb", host="node7")
    assert failed["reason"] == "boom" and failed["host"] == "node7" and failed["updated"]
    running = store.set_state("r1", "running")
    assert "reason" not in running and "traceback" not in running
    assert running["host"] == socket.gethostname()              # where it runs now, not node7
    assert store.read_state("r1") == running
    queued = store.set_state("r2", "queued", executor="slurm")
    assert queued["host"] == socket.gethostname()               # no host yet: this one
    store.set_state("r3", "running", host="node7")
    assert store.set_state("r3", "queued")["host"] == "node7"   # queued again: where it last ran


def test_a_state_path_that_is_a_directory_is_set_aside(tmp_path):
    store = Store(tmp_path)
    os.makedirs(store.paths("r1").state)
    store.set_state("r1", "queued")
    assert store.read_state("r1")["state"] == "queued"
    assert [p.name for p in (tmp_path / "runs" / "r1").glob("state.json.damaged-*")]


def test_progress_records_stage_iteration_limit_and_time(tmp_path):
    store = Store(tmp_path)
    store.write_progress("r1", "train", 2, 4)
    progress = store.read_progress("r1")
    assert {k: progress[k] for k in ("stage", "iter", "max_iters")} == {"stage": "train", "iter": 2, "max_iters": 4}
    assert re.match(r"\d{4}-\d{2}-\d{2}T", progress["updated"])


def test_read_config_names_the_missing_or_damaged_run_json(tmp_path):
    store = Store(tmp_path)
    path = store.paths("r1").config
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        store.read_config("r1")
    _damage(path, b'{"id": "r1"}')
    with pytest.raises(UserError) as error:
        store.read_config("r1")
    assert error.value.file == path and "config" in error.value.message and error.value.fix


def test_record_is_none_for_a_damaged_record(tmp_path):
    store = Store(tmp_path)
    _damage(store.paths("r1").record, b"[]")
    assert store.record("r1") is None


def test_the_run_folder_layout_names_every_file(tmp_path):
    paths = Store(tmp_path).paths("abc123")
    run = tmp_path / "runs" / "abc123"
    assert paths.run_id == "abc123"
    assert {name: os.path.relpath(getattr(paths, name), run) for name in (
        "work_dir", "progress", "state", "config", "stages_dir", "dump_dir", "record", "image_counts",
        "bootstrap_draws", "traceback", "claim", "worker_log")} == {
        "work_dir": "work_dir", "progress": "progress.json", "state": "state.json", "config": "run.json",
        "stages_dir": "stages", "dump_dir": "dump", "record": "record.json",
        "image_counts": os.path.join("stages", "evaluate_counts.npz"),
        # a new name would orphan every draws file already written (reports then resample the counts)
        "bootstrap_draws": os.path.join("stages", "evaluate_draws.bin"), "traceback": "traceback.txt",
        "claim": "claim.json", "worker_log": "worker.log"}


def test_default_root_follows_the_environment(monkeypatch):
    from ssa_bench.store import default_root

    monkeypatch.setenv("SSA_BENCH_RESULTS", "/somewhere/else")
    assert default_root() == "/somewhere/else"
    monkeypatch.delenv("SSA_BENCH_RESULTS")
    assert default_root() == "results"


def test_run_folder_helpers_create_and_name_what_they_say(tmp_path):
    store = Store(tmp_path)
    run = tmp_path / "runs" / "r1"
    assert store.work_dir("r1") == str(run / "work_dir") and (run / "work_dir").is_dir()
    assert store.work_dir("r1") == str(run / "work_dir")                   # twice: no error
    assert store.path("r1", "notes.txt") == str(run / "notes.txt")
    assert store.stage_path("r1", "train") == str(run / "stages" / "train.json")
    store.write_json(tmp_path / "deep" / "x.json", {"a": 1})
    assert json.loads((tmp_path / "deep" / "x.json").read_text()) == {"a": 1}


def test_forget_results_drops_what_a_forced_rerun_must_redo_and_keeps_the_rest(tmp_path):
    store = Store(tmp_path)
    store.write_run(_run("r1"))
    store.set_state("r1", "done")
    store.write_record("r1", RECORD)
    store.write_progress("r1", "train", 4, 4)
    store.write_traceback("r1", "boom")
    store.write_stage("r1", "train", {"iters": 4})
    os.makedirs(store.paths("r1").stage("evaluate"))                      # damage: a directory
    (Path(store.work_dir("r1")) / "iter_4.pth").write_bytes(b"x")
    os.makedirs(store.paths("r1").dump_dir)
    store.forget_results("r1")
    run = tmp_path / "runs" / "r1"
    assert sorted(os.listdir(run)) == ["run.json", "stages", "state.json"]
    assert os.listdir(run / "stages") == []
    store.forget_results("r1")                                            # nothing left: no error
    store.forget_results("never")


def test_view_and_verdict_tell_the_state_from_the_record_and_the_hint(tmp_path):
    store = Store(tmp_path)
    store.set_state("running1", "running", pid=5)
    view = store.view("running1")
    assert (view.run_id, view.state, view.info["pid"], view.record) == ("running1", "running", 5, None)
    assert store.verdict("running1") == ("running", None)
    store.set_state("lying", "done")                                      # a hint without a record
    assert store.view("lying").state == "pending" and store.verdict("lying") == ("pending", None)
    assert store.verdict("never") == ("pending", None) and store.view("never").state == "pending"
    store.write_record("done1", RECORD)
    store.set_state("done1", "done")
    view = store.view("done1")
    assert (view.run_id, view.state, view.record, view.info["state"]) == ("done1", "done", RECORD, "done")
    assert store.verdict("done1") == ("done", RECORD)
    _damage(store.paths("bad").record, b"[]")
    assert store.verdict("bad") == ("damaged", None)
    view = store.view("bad")
    assert (view.run_id, view.state) == ("bad", "damaged")
    os.makedirs(tmp_path / "runs", exist_ok=True)
    (tmp_path / "runs" / "a_file").write_text("oops")
    view = store.view("a_file")
    assert view.run_id == "a_file" and view.damage[0].fix.startswith("delete it")
    (tmp_path / "runs").rename(tmp_path / "runs.old")
    (tmp_path / "runs").write_text("not a folder")
    assert store.verdict("x") == ("damaged", None)
    view = store.view("x")
    assert view.run_id == "x" and view.damage[0].fix == "move it away (it holds no run) and rerun"


def test_a_run_asked_for_with_other_log_backends_keeps_its_run_json_with_the_new_backends(tmp_path):
    store = Store(tmp_path)
    first = _run("r1")
    first.config["train"] = {"iters": 4, "log_backends": ["local"]}
    store.write_run(first)
    written = json.loads(Path(store.paths("r1").config).read_text())
    assert written["id"] == "r1" and written["label"] == "r1" and written["created"]
    again = _run("r1")
    again.config["train"] = {"iters": 4, "log_backends": ["local", "tensorboard"]}
    store.write_run(again)
    refreshed = json.loads(Path(store.paths("r1").config).read_text())
    assert refreshed["config"]["train"] == {"iters": 4, "log_backends": ["local", "tensorboard"]}
    assert {k: refreshed[k] for k in ("id", "label", "created")} == {k: written[k] for k in ("id", "label", "created")}
    store.write_run(_run("r1"))                                           # no backends asked: kept
    assert json.loads(Path(store.paths("r1").config).read_text()) == refreshed


def test_run_paths_from_a_run_or_work_directory(tmp_path):
    from ssa_bench.store.paths import run_paths_at, run_paths_of_work_dir

    expected = Store(tmp_path).paths("abc123")
    assert run_paths_at(str(tmp_path / "runs" / "abc123")) == expected
    assert run_paths_of_work_dir(str(tmp_path / "runs" / "abc123" / "work_dir")) == expected


def test_a_file_too_large_to_be_ours_is_damage_named_by_its_path(tmp_path):
    path = tmp_path / "record.json"
    with open(path, "wb") as handle:
        handle.truncate(records._MAX_BYTES + 1)          # sparse: nothing is written
    damaged = records.load_json(str(path))
    assert isinstance(damaged, Damaged) and damaged.path == str(path) and "larger than 64 MB" in damaged.what
