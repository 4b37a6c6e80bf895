"""Cluster profiles, per-run resources, sbatch scripts and state reconciliation: no SLURM needed."""
from __future__ import annotations

from pathlib import Path

import pytest
from slurm_helpers import fake_run, make_store

from ssa_bench.errors import UserError
from ssa_bench import runtime as launch
from ssa_bench.executors.cluster_profiles import available_profiles, job_resources, load_profile
from ssa_bench.vocabulary.slurm_keys import parse_memory, parse_minutes
from ssa_bench.executors.slurm import SlurmExecutor
from ssa_bench.executors.slurm.arrays import plan_arrays
from ssa_bench.executors.slurm.accounting import JobInfo, job_info, parse_table, reconcile

REPO = Path(__file__).resolve().parents[2]


def write_profile(tmp_path, text: str, name: str = "mine"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def test_default_profile_is_the_example_gpu_cluster(monkeypatch):
    monkeypatch.delenv("SSA_BENCH_CLUSTER", raising=False)
    profile = load_profile(None)
    assert profile.name == "example-gpu" and profile.gpus_per_node > 0
    assert {"example-gpu", "local-test"} <= set(available_profiles())


def test_gpu_count_splits_over_nodes():
    profile = load_profile("example-gpu")   # 8 GPUs per node, 4 per run by default
    default = job_resources(profile)
    assert (default.nodes, default.gpus, default.world_size) == (1, 4, 4)
    assert default.params["ntasks_per_node"] == 4 and default.params["gpus_per_node"] == 4
    big = job_resources(profile, {"gpus": 16, "time": "2-00:00:00"})
    assert (big.nodes, big.params["gpus_per_node"], big.world_size, big.params["time"]) == (2, 8, 16, 2880)
    with pytest.raises(UserError, match="do not split evenly"):
        job_resources(profile, {"gpus": 9})


def test_row_overrides_are_checked_with_their_location():
    profile = load_profile("example-gpu")
    with pytest.raises(UserError) as error:
        job_resources(profile, {"gpu": 8}, row_where="row 3: slurm", row_file="tables/table1.yaml")
    assert "tables/table1.yaml: row 3: slurm.gpu: unknown key 'gpu'" in str(error.value)
    with pytest.raises(UserError, match="not a SLURM time limit"):
        job_resources(profile, {"time": "two days"})


def test_cpu_cluster_refuses_gpu_requests():
    profile = load_profile("local-test")
    resources = job_resources(profile)
    assert resources.gpus == 0 and "gpus_per_node" not in resources.params
    with pytest.raises(UserError, match="has none"):
        job_resources(profile, {"gpus": 2})


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(UserError) as error:
        load_profile("no-such-cluster")
    assert "example-gpu" in error.value.fix and error.value.key == "--cluster"


def test_bad_profile_values_name_file_and_key(tmp_path):
    path = write_profile(tmp_path, "partition: gpu\ngpus_per_node: eight\n")
    with pytest.raises(UserError) as error:
        load_profile(path)
    assert error.value.file == path and error.value.key == "gpus_per_node"
    path = write_profile(tmp_path, "partiton: gpu\n", "typo")
    with pytest.raises(UserError, match="unknown key 'partiton'"):
        load_profile(path)


def test_sbatch_script_for_a_paper_scale_table(tmp_path):
    runs = [fake_run(f"run{i}", batch_size=16) for i in range(5)]
    runs.append(fake_run("swin_l", batch_size=16, slurm={"gpus": 8, "time": "48:00:00"}))
    groups = plan_arrays(runs, load_profile("example-gpu"), str(tmp_path), max_parallel=3)
    assert [len(g.runs) for g in groups] == [5, 1]    # Swin-L's request cannot share the array
    script = groups[0].sbatch_script()
    for line in ("#SBATCH --array=0-4%3", "#SBATCH --gpus-per-node=4", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --partition=gpu", "#SBATCH --constraint=volta", "#SBATCH --time=1440",
                 "#SBATCH --signal=USR2@300", "#SBATCH --mem-per-gpu=48G", "#SBATCH --requeue",
                 "module load cuda/11.8", "export SSA_BENCH_LAUNCHER=slurm", "export MASTER_PORT=",
                 "srun --unbuffered", "-m submitit.core._submit"):
        assert line in script, line
    alone = groups[1].sbatch_script()
    assert "--array" not in alone and "#SBATCH --gpus-per-node=8" in alone and "#SBATCH --time=2880" in alone


def test_single_gpu_runs_are_not_launched_distributed(tmp_path):
    profile = load_profile(write_profile(tmp_path, "gpus_per_node: 4\ngpus: 1\n"))
    (group,) = plan_arrays([fake_run("a"), fake_run("b")], profile, str(tmp_path), None)
    assert "SSA_BENCH_LAUNCHER" not in group.sbatch_script()
    assert "#SBATCH --array=0-1%2" in group.sbatch_script()


def test_total_batch_must_split_over_the_gpus(tmp_path):
    with pytest.raises(UserError) as error:
        plan_arrays([fake_run("odd", batch_size=6)], load_profile("example-gpu"), str(tmp_path), None)
    assert error.value.key == "train.batch_size" and "4 GPUs" in error.value.message


def test_per_device_batch(monkeypatch):
    monkeypatch.setenv("SSA_BENCH_LAUNCHER", "slurm")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert (launch.launcher(), launch.world_size(), launch.rank()) == ("slurm", 4, 2)
    assert not launch.is_main_process()
    assert launch.per_device_batch(16) == 4
    with pytest.raises(UserError):
        launch.per_device_batch(2)
    monkeypatch.delenv("SSA_BENCH_LAUNCHER")
    assert (launch.launcher(), launch.world_size(), launch.per_device_batch(16)) == ("none", 1, 16)


def test_dry_run_prints_scripts_and_runs_without_slurm(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")     # no sbatch, no srun: a laptop
    store = make_store(tmp_path)
    code = SlurmExecutor(store).run([fake_run("x1", batch_size=16), fake_run("x2", batch_size=16)], dry_run=True).code
    out = capsys.readouterr().out
    assert code == 0 and "#SBATCH --gpus-per-node=4" in out and "x1" in out and "x2" in out
    assert "nothing submitted" in out and not (tmp_path / "runs").exists()


def test_run_without_slurm_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="no sbatch"):
        SlurmExecutor(make_store(tmp_path), cluster="local-test").submit([fake_run("x1")])


SACCT = """JobID|State|ExitCode|Reason
7_1|RUNNING|0:0|None
7_[2-4%2]|PENDING|0:0|JobArrayTaskLimit
7_0|COMPLETED|0:0|None
7_3|CANCELLED by 0|0:15|None
8|FAILED|1:0|None
"""


def test_parse_sacct_prefers_task_lines_over_array_ranges():
    jobs = parse_table(SACCT)
    assert jobs["7_1"].state == "RUNNING" and jobs["7_0"].state == "COMPLETED"
    assert jobs["7_2"].state == "PENDING" and jobs["7_2"].reason == "JobArrayTaskLimit"
    assert jobs["7_3"].state == "CANCELLED" and jobs["7_4"].state == "PENDING"
    assert jobs["8"].state == "FAILED" and jobs["8"].reason == "exit code 1:0"


def _state(state, **info):
    return {"state": state, "executor": "slurm", "job_id": "7_1", "attempt": 1, "log": "/x/err", **info}


@pytest.mark.parametrize("disk, slurm, expected", [
    (_state("running"), JobInfo("7_1", "PENDING", "BeginTime", from_controller=True), "queued"),  # requeued
    (_state("running"), JobInfo("7_1", "PENDING", "BeginTime"), None),          # accounting lags the start
    (_state("queued", attempt=0), JobInfo("7_1", "RUNNING"), "running"),
    (_state("running"), JobInfo("7_1", "CANCELLED"), "failed"),
    (_state("running"), JobInfo("7_1", "COMPLETED"), "failed"),                # no record written
    (_state("running"), JobInfo("7_1", "RUNNING"), None),
    (_state("done"), JobInfo("7_1", "CANCELLED"), None),
    (_state("failed", traceback="/t"), JobInfo("7_1", "FAILED"), None),          # worker said why
    (_state("queued", attempt=0), None, None),                                  # not in sacct yet
])
def test_reconcile(disk, slurm, expected):
    update = reconcile(disk, slurm)
    assert (update or {}).get("state") == expected
    if expected == "queued":
        assert update["requeued"] == 1 and "requeued" in update["reason"]
    if expected == "failed":
        assert update["traceback"] == "/x/err" and "7_1" in update["reason"]


@pytest.mark.parametrize("value, minutes", [(90, 90), ("90", 90), ("30:00", 30), ("24:00:00", 1440),
                                            ("2-00:00:00", 2880), ("1-12", 2160), ("0:30", 1)])
def test_slurm_time_formats(value, minutes):
    assert parse_minutes(value) == minutes


@pytest.mark.parametrize("value", ["two days", "", 0, -5, "1-", True, 1.5])
def test_bad_slurm_times(value):
    assert parse_minutes(value) is None


def test_memory_sizes():
    assert [parse_memory(v) for v in ("48G", "48gb", "4096M", "1T", 32, 1.5)] == \
        ["48G", "48G", "4096M", "1T", "32G", "1536M"]
    assert parse_memory("lots") is None and parse_memory(0) is None


def test_row_asks_for_nodes_and_extra_flags():
    profile = load_profile("example-gpu")
    res = job_resources(profile, {"gpus": 8, "nodes": 2, "mem_per_gpu": "64G", "extra": {"exclusive": True}})
    assert (res.nodes, res.params["gpus_per_node"], res.params["mem_per_gpu"]) == (2, 4, "64G")
    assert res.params["additional_parameters"] == {"exclusive": True, "requeue": True}
    with pytest.raises(UserError, match="do not split evenly"):
        job_resources(profile, {"gpus": 16, "nodes": 1})      # 16 GPUs on one 8-GPU node


def _cli(*args, cwd=REPO):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "ssa_bench.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_cli_dry_run_of_a_paper_scale_table(tmp_path, paper_data_layout):
    # the pre-run check passes: the data sets' folders are there and no checkpoint is needed
    done = _cli("run", "tables/table3.yaml", "--executor", "slurm", "--dry-run", "--max-parallel", "3",
                "--results-dir", str(tmp_path), "--set", "train.pretrained=none")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in ("#SBATCH --array=0-6%3", "#SBATCH --gpus-per-node=4", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem-per-gpu=48G", "#SBATCH --signal=USR2@300",
                 "export SSA_BENCH_LAUNCHER=slurm", "launcher slurm (distributed)", "16 / 4", "160000",
                 "SSA (Ours)", "nothing submitted (7 runs in 1 array(s))"):
        assert line in out, line
    assert not (tmp_path / "runs").exists()


def test_cli_unknown_cluster_is_one_line_exit_2(tmp_path):
    done = _cli("run", "tables/table3.yaml", "--executor", "slurm", "--dry-run", "--cluster", "nope",
                "--results-dir", str(tmp_path))
    assert done.returncode == 2
    (error,) = [line for line in done.stderr.splitlines() if "error" in line]
    assert "--cluster: unknown cluster profile 'nope'" in error and "example-gpu" in error


def test_an_older_job_with_the_same_id_is_not_ours():
    # A wiped cluster numbers jobs from 1 again while accounting keeps the old rows.
    import time

    infos = parse_table("JobID|State|ExitCode|Reason|Submit\n5|COMPLETED|0:0|None|2020-01-01T10:00:00\n")
    assert infos["5"].submitted == time.mktime((2020, 1, 1, 10, 0, 0, 0, 0, -1))
    assert job_info({"job_id": "5", "submitted_at": time.time()}, infos) is None
    assert job_info({"job_id": "5", "submitted_at": infos["5"].submitted - 5}, infos) is infos["5"]
    assert job_info({"job_id": "5"}, infos) is infos["5"]        # states written before submitted_at


def test_cli_dry_run_gives_a_big_row_its_own_job(tmp_path, paper_data_layout):
    # The spec's `slurm:` block (spec grammar) reaches the executor as Run.slurm.
    done = _cli("run", "tests/executors/fixtures/big_row.yaml", "--executor", "slurm", "--dry-run",
                "--results-dir", str(tmp_path), "--set", "train.pretrained=none")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("2 of 2")
    assert "#SBATCH --gpus-per-node=4" in first and "#SBATCH --time=1440" in first
    for line in ("#SBATCH --gpus-per-node=8", "#SBATCH --ntasks-per-node=8", "#SBATCH --time=2880",
                 "#SBATCH --mem-per-gpu=64G", "#SBATCH --exclusive", "UperNet Swin-L", "16 / 2"):
        assert line in second, line
