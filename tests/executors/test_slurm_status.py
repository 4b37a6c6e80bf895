"""What `ssa-bench status` shows of a SLURM job (executors/slurm/status.py): its columns from the
run's state and SLURM's answer, an orphan submission named as such, pending reasons in words."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from slurm_helpers import fake_run, make_store

from ssa_bench.cli import main
from ssa_bench.executors.slurm.accounting import parse_table
from ssa_bench.executors.slurm.status import PENDING_REASONS, job_columns, pending_text

SPEC = Path(__file__).parent / "fixtures" / "two_rows.yaml"


def test_a_known_pending_reason_says_what_to_do_with_the_job_id_filled_in():
    assert pending_text("JobHeldUser", "12_3") == "pending: JobHeldUser -- held (`scontrol release 12`)"
    assert pending_text("JobHeldAdmin", "40", requeued=2) == (
        "requeued 2x; pending: JobHeldAdmin -- held by an administrator (ask them to `scontrol release 40`)")


def test_an_unknown_pending_reason_is_shown_as_slurm_says_it():
    assert "QOSGrpCpuLimit" not in PENDING_REASONS
    assert pending_text("QOSGrpCpuLimit", "7_0") == "pending: QOSGrpCpuLimit"


def test_columns_take_node_and_pending_reason_from_slurm_and_the_node_from_the_last_attempt():
    infos = parse_table("JOBID|STATE|REASON|NODELIST\n12_3|PENDING|Priority|\n13_0|RUNNING|None|gpu7\n",
                        from_controller=True)
    queued = {"state": "queued", "executor": "slurm", "job_id": "12_3",
              "attempts": [{"job_id": "12_3", "node": "gpu2"}]}
    assert job_columns(None, "r", queued, infos) == {"slurm_state": "PENDING", "slurm_reason": "Priority",
                                                     "node": "gpu2", "orphan": None}
    running = {"state": "running", "executor": "slurm", "job_id": "13_0"}
    assert job_columns(None, "r", running, infos)["node"] == "gpu7"
    written = {**queued, "slurm_reason": "BeginTime"}          # what the run's state says wins
    assert job_columns(None, "r", written, infos)["slurm_reason"] == "BeginTime"
    assert job_columns(None, "r", {"state": "done", "executor": "local"}, infos) == {
        "slurm_state": None, "slurm_reason": None, "node": None, "orphan": None}


def test_a_run_queued_without_a_job_id_long_ago_is_an_orphan_submission(tmp_path):
    store = make_store(tmp_path)
    store.write_run(fake_run("o"))
    store.set_state("o", "queued", executor="slurm", job_id=None)
    fresh = job_columns(store, "o", store.read_state("o"), {})
    assert fresh["orphan"] is None                              # its submitter may be inside sbatch
    an_hour_ago = time.time() - 3600
    os.utime(store.paths("o").state, (an_hour_ago, an_hour_ago))
    assert job_columns(store, "o", store.read_state("o"), {})["orphan"].startswith("orphan submission:")


def test_status_shows_the_slurm_columns_without_slurm_on_the_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")                  # no sacct, no squeue: the disk only
    argv = ["status", str(SPEC), "--profile", "cpu-demo", "--json", "--results-dir", str(tmp_path)]
    assert main(argv) == 0
    held, orphan = (row["id"] for row in json.loads(capsys.readouterr().out))
    store = make_store(tmp_path)
    store.set_state(held, "queued", executor="slurm", job_id="12_3", slurm_reason="JobHeldUser", requeued=1,
                    attempts=[{"job_id": "12_3", "node": "gpu2"}])
    store.set_state(orphan, "queued", executor="slurm", job_id=None)
    an_hour_ago = time.time() - 3600
    os.utime(store.paths(orphan).state, (an_hour_ago, an_hour_ago))
    assert main(argv) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows[held]["slurm_reason"], rows[held]["node"], rows[held]["requeued"]) == ("JobHeldUser", "gpu2", 1)
    assert rows[orphan]["reason"].startswith("orphan submission:")
