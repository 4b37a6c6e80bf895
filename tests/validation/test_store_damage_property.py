"""Property: random damage to a results store -- any file of any run replaced by random bytes,
random JSON, a truncation of itself, a directory, or deleted; a run folder or runs/ turned into a
file -- never gives a traceback from `status`, `report` or `run --dry-run`, never loses a valid
neighbour, and never changes silently what `run` would do: a run with an intact record stays done,
a run whose record is damaged is shown as damaged with its path and is not counted as done.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from ssa_bench.cli import main
from ssa_bench.matrix import load_spec, plan
from ssa_bench.store import Store, records

SPEC = {"name": "damage", "base": {"baseline": "segformer_mini", "dataset": "demo_shapes"},
        "rows": [{"label": "A", "seed": 0}, {"label": "B", "seed": 1}, {"label": "C", "seed": 2}]}
RECORD = {"metrics": {"mIoU": 41.2, "mAcc": 50.0, "aAcc": 80.0}, "params_m": 3.7}
# Files of a run that damage can hit (RunPaths attribute or a callable on it).
FILES = {"record": lambda p: p.record, "state": lambda p: p.state, "progress": lambda p: p.progress,
         "run.json": lambda p: p.config, "claim": lambda p: p.claim, "train stage": lambda p: p.stage("train"),
         "traceback": lambda p: p.traceback}

JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(["state", "metrics", "mIoU", "id",
                                                                             "kind", "iter", "stage", "x"]),
                                                            inner, max_size=3)),
                    max_leaves=8)
CONTENT = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=40)),
    st.tuples(st.just("json"), JSON.map(lambda value: json.dumps(value).encode())),
    st.tuples(st.just("truncate"), st.integers(0, 30)),
    st.tuples(st.just("directory"), st.none()),
    st.tuples(st.just("delete"), st.none()),
)
FILE_DAMAGE = st.tuples(st.just("file"), st.sampled_from("ABC"), st.sampled_from(sorted(FILES)), CONTENT)
RUN_DIR_DAMAGE = st.tuples(st.just("run dir is a file"), st.sampled_from("ABC"), st.none(), st.none())
RUNS_DAMAGE = st.tuples(st.just("runs/ is a file"), st.none(), st.none(), st.none())
DAMAGE = st.lists(st.one_of(FILE_DAMAGE, FILE_DAMAGE, FILE_DAMAGE, RUN_DIR_DAMAGE, RUNS_DAMAGE),
                  min_size=1, max_size=3)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fill(work: Path) -> tuple[Path, dict[str, str], Store]:
    """A store where A is done, B failed and C never started; returns the spec path and label -> id."""
    import yaml

    spec_path = work / "damage.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    runs = plan(load_spec(str(spec_path)))
    ids = {run.label: run.id for run in runs}
    store = Store(work / "results")
    for run in runs:
        store.write_run(run)
    store.write_record(ids["A"], {"id": ids["A"], **RECORD})
    store.set_state(ids["A"], "done")
    store.write_stage(ids["A"], "train", {"iters": 4})
    store.write_progress(ids["A"], "train", 4, 4)
    path = store.write_traceback(ids["B"], "Traceback (most recent call last):\nRuntimeError: boom\n")
    store.set_state(ids["B"], "failed", traceback=path, reason="RuntimeError: boom")
    return spec_path, ids, store


def _replace(path: str, content) -> None:
    kind, value = content
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    if kind == "delete":
        if os.path.exists(path):
            os.unlink(path)
        return
    if kind == "truncate":
        old = Path(path).read_bytes() if os.path.isfile(path) else b'{"state": "done", "metrics": {"mIoU": 4'
        value = old[:value]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "directory":
        if os.path.isfile(path):
            os.unlink(path)
        os.makedirs(path, exist_ok=True)
        return
    with open(path, "wb") as handle:
        handle.write(value)


def _apply(damage, ids: dict[str, str], store: Store) -> tuple[set[str], bool]:
    """Damage the store; returns (labels whose record.json may no longer be intact, runs/ broken)."""
    touched, runs_broken = set(), False
    runs_dir = Path(store.root) / "runs"
    for kind, label, name, content in damage:
        if runs_broken:
            break
        if kind == "runs/ is a file":
            shutil.rmtree(runs_dir, ignore_errors=True)
            runs_dir.write_text("not a folder")
            runs_broken = True
        elif kind == "run dir is a file":
            run_dir = Path(store.paths(ids[label]).run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            run_dir.write_bytes(b"not a folder")
            touched.add(label)
        else:
            run_dir = Path(store.paths(ids[label]).run_dir)
            if run_dir.is_file():
                continue        # an earlier damage made the run folder a file
            _replace(FILES[name](store.paths(ids[label])), content)
            if name == "record":
                touched.add(label)
    return touched, runs_broken


def _cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:          # argparse and friends; anything else is a traceback
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@SETTINGS
@given(damage=DAMAGE)
def test_random_store_damage_is_reported_never_a_traceback_and_never_silently_acted_on(capsys, damage):
    work = Path(tempfile.mkdtemp(prefix="ssa-damage-"))
    try:
        spec_path, ids, store = _fill(work)
        intact_record = Path(store.paths(ids["A"]).record).read_bytes()
        touched, runs_broken = _apply(damage, ids, store)
        results = str(work / "results")
        args = [str(spec_path), "--results-dir", results]

        before = _snapshot(work / "results")
        code, out, err = _cli(capsys, "status", *args, "--json")
        assert code in (0, 1) and "Traceback" not in err, err
        states = {row["label"]: row for row in json.loads(out)}
        if runs_broken:
            # Nothing in the store can be read: every run is shown as damaged, naming the folder.
            runs_dir = str(work / "results" / "runs")
            assert all(row["state"] == "damaged" and runs_dir in row["reason"] for row in states.values()), states
        else:
            if "A" not in touched:
                # A valid record is the truth, whatever happened to the files around it.
                assert states["A"]["state"] == "done", (damage, states["A"])
            for label, run_id in ids.items():
                paths, row = store.paths(run_id), states[label]
                if os.path.isfile(paths.run_dir):
                    assert row["state"] == "damaged" and paths.run_dir in row["reason"], row
                    continue
                # What the record now is (the reader is tested case by case in tests/test_store.py)
                # decides what status says, and so what `run` does.
                record = records.read_record(paths.record)
                if isinstance(record, dict):
                    assert row["state"] == "done", (damage, row)
                elif record is None:
                    assert row["state"] != "done", (damage, row)
                else:
                    assert row["state"] == "damaged" and paths.record in row["reason"], (damage, row)
        code, out, err = _cli(capsys, "run", *args, "--dry-run")
        assert "Traceback" not in err, err
        assert code in ((2,) if runs_broken else (0,)), (code, err)
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err
        code, out, err = _cli(capsys, "report", *args, "--format", "csv", "--out", str(work / "report"))
        assert "Traceback" not in err, err
        assert code in (0, 1), (code, err)            # missing rows are shown as missing
        # status, a dry run and a report read the store; none of them writes into it.
        assert _snapshot(work / "results") == before
        if not runs_broken and "A" not in touched:
            assert Path(store.paths(ids["A"]).record).read_bytes() == intact_record
    finally:
        shutil.rmtree(work, ignore_errors=True)
