"""Progress of a local `run` (issue 25, measured case 1): without a terminal (2>file, nohup, a SLURM
log) one timestamped line per run event, rate-limited; on a terminal the live table, which ends in
one summary line instead of an empty table. Workers here are a fake (no torch), except in the last
test, which trains the demo model as a user's piped `run` does."""
from __future__ import annotations

import io
import re
import sys
import textwrap

import pytest
from rich.console import Console

from ssa_bench.executors.local import LocalExecutor
from ssa_bench.executors.progress_lines import ProgressLines
from ssa_bench.matrix.run import Run
from ssa_bench.store import Store

FAKE_WORKER = textwrap.dedent("""
    import sys, time
    from ssa_bench.store import Store, write_json_atomic
    _, _, root, run_id = sys.argv
    store = Store(root)
    for step in range(0, 21, 2):
        write_json_atomic(store.paths(run_id).progress,
                          {"stage": "train", "iter": step, "max_iters": 20, "loss": 2.0 - step / 20})
        time.sleep(0.15)
    store.write_record(run_id, {"id": run_id, "metrics": {"mIoU": 12.5}})
    store.set_state(run_id, "done")
""")


def _run(run_id: str) -> Run:
    return Run(id=run_id, label=f"row {run_id}", group=run_id, section=None, column=None, seed=0, row_index=0,
               config={"baseline": "segformer_mini", "dataset": "demo_shapes", "train": {"device": "cpu"}},
               spec_name="t.yaml", paper_baseline="segformer_mini", paper_dataset="demo_shapes")


def _execute(tmp_path, console: Console) -> int:
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    executor = LocalExecutor(Store(tmp_path / "results"), max_parallel=2, console=console,
                             worker_command=(sys.executable, str(worker)))
    return executor.run([_run("r1"), _run("r2")]).code


def test_without_a_terminal_each_run_gets_timestamped_event_lines_before_it_is_done(tmp_path):
    stream = io.StringIO()
    assert _execute(tmp_path, Console(file=stream, force_terminal=False)) == 0
    text = stream.getvalue()
    assert "┃" not in text and "━" not in text            # no table drawn into a log file
    assert text.endswith("runs: 2 done, 0 failed of 2\n")
    for run_id in ("r1", "r2"):
        events = [line for line in text.splitlines() if f" {run_id} row {run_id}: " in line]
        assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in events), events
        words = [line.split(": ", 1)[1] for line in events]
        assert words[0] == "queued" and words[1].startswith("started"), words
        assert words[-1] == "done: mIoU 12.50", words
        training = [w for w in words if w.startswith("iteration ")]
        assert training and "loss" in training[0], words
        # rate-limited: the first iteration, then at most one line per tenth of the iterations
        assert len(training) <= 11, words


def test_on_a_terminal_the_live_table_ends_in_one_summary_line(tmp_path):
    stream = io.StringIO()
    assert _execute(tmp_path, Console(file=stream, force_terminal=True, width=100)) == 0
    text = stream.getvalue()
    # what stays on the screen after the live table is gone: the summary, on its own line
    assert text.endswith("runs: 2 done, 0 failed of 2\n"), repr(text[-300:])


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_training_lines_are_rate_limited_per_run():
    stream, clock = io.StringIO(), _Clock()
    lines = ProgressLines(stream, interval_s=30, clock=clock)
    run = _run("r1")
    lines.started(run, 1)
    for step in range(1, 1001):                     # 1000 iterations polled within a second
        clock.now += 0.001
        lines.poll(run, {"stage": "train", "iter": step, "max_iters": 1000, "loss": 1.0})
    training = [line for line in stream.getvalue().splitlines() if ": iteration " in line]
    # the first iteration (a sign of life), then one line per tenth
    assert len(training) == 11 and training[-1].endswith("iteration 1000/1000 (100%), loss 1.0000")
    # slow training: a line once the interval has passed, even within one tenth
    stream.truncate(0)
    stream.seek(0)
    lines.started(run, 1)
    lines.poll(run, {"stage": "train", "iter": 1, "max_iters": 100000})
    clock.now += 10
    lines.poll(run, {"stage": "train", "iter": 2, "max_iters": 100000})
    clock.now += 31
    lines.poll(run, {"stage": "train", "iter": 3, "max_iters": 100000})
    lines.poll(run, {"stage": "train", "iter": 3, "max_iters": 100000})        # nothing new: no line
    training = [line for line in stream.getvalue().splitlines() if ": iteration " in line]
    assert [line.split(": ")[1] for line in training] == ["iteration 1/100000 (0%)", "iteration 3/100000 (0%)"]


def test_a_validation_and_the_stages_after_training_each_get_a_line():
    stream = io.StringIO()
    lines = ProgressLines(stream, interval_s=30)
    run = _run("r1")
    lines.started(run, 1)
    lines.poll(run, {"stage": "validate", "iter": 10, "max_iters": 20})
    lines.poll(run, {"stage": "train", "iter": 10, "max_iters": 20, "mIoU": 8.345, "val_iter": 10})
    lines.poll(run, {"stage": "evaluate", "iter": None, "max_iters": None})
    words = [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()]
    assert words[1:] == ["validating at iteration 10/20", "validated at iteration 10: mIoU 8.35",
                         "iteration 10/20 (50%)", "evaluating"]


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SSA_BENCH_PROGRESS_S", "5")
    assert ProgressLines(io.StringIO()).interval_s == 5
    monkeypatch.setenv("SSA_BENCH_PROGRESS_S", "soon")
    assert ProgressLines(io.StringIO()).interval_s == 30


@pytest.mark.slow
def test_a_piped_run_of_the_demo_model_prints_progress_for_each_run_before_it_finishes(
        tmp_path, demo_data, monkeypatch, capsys):
    from ssa_bench.cli import main
    from tests.test_cli import TINY_SPEC

    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC.replace("max_iters: 4", "max_iters: 20"))
    assert main(["run", str(spec), "--results-dir", str(tmp_path / "results"), "--no-report"]) == 0
    err = capsys.readouterr().err
    for label in ("Baseline", "SSA"):
        words = [line.split(": ", 1)[1] for line in err.splitlines() if f" {label}: " in line]
        done = words.index(next(w for w in words if w.startswith("done")))
        # Progress is a line naming an iteration: "iteration 8/20 (40%), loss ..." or, when the
        # progress file's last write before a poll was a validation, "validated at iteration 8".
        assert any(w.startswith("iteration ") or " at iteration " in w for w in words[:done]), err


def test_a_slurm_submitter_writing_to_a_log_prints_each_runs_state_changes_and_progress(tmp_path, monkeypatch):
    import threading
    import time

    from ssa_bench.executors.slurm import accounting, polling
    from ssa_bench.store import write_json_atomic

    monkeypatch.setattr(accounting, "refresh_states", lambda store, runs: None)   # no SLURM here
    monkeypatch.setattr(polling, "POLL_DISK_S", 0.05)
    store, run = Store(tmp_path), _run("r1")
    store.write_run(run)
    store.set_state(run.id, "queued", executor="slurm", job_id="77_0", slurm_reason="Resources")

    def job():
        time.sleep(0.3)
        store.set_state(run.id, "running", slurm_reason=None)
        for step in (0, 5, 10):
            write_json_atomic(store.paths(run.id).progress, {"stage": "train", "iter": step, "max_iters": 10})
            time.sleep(0.3)
        store.write_record(run.id, {"id": run.id, "metrics": {"mIoU": 1.0}})
        store.set_state(run.id, "done")

    worker = threading.Thread(target=job)
    worker.start()
    stream = io.StringIO()
    assert polling.wait_for([run], store, Console(file=stream, force_terminal=False), poll_slurm_s=3600) == 0
    worker.join()
    words = [line.split(": ", 1)[1] for line in stream.getvalue().splitlines() if " r1 row r1: " in line]
    assert words[0] == "queued (job 77_0, pending: Resources)", words
    assert words[1].startswith("started (job 77_0") and "iteration 5/10 (50%)" in words and words[-1] == "done", words
    assert "┃" not in stream.getvalue()
