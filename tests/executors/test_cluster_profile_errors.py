"""Bad cluster profiles (issue 14 item 7): each is refused before anything is planned or submitted,
with exit 2 and one line naming the profile file, the key and the fix -- never the spec."""
from __future__ import annotations

from pathlib import Path

import pytest

from ssa_bench import cli
from ssa_bench.executors.cluster_profiles import load_profile

REPO = Path(__file__).resolve().parents[2]
SPEC = "tables/table3.yaml"
VALID_CPU = "partition: debug\ngpus_per_node: 0\ntime: 30\nsignal_delay_s: 60\n"
VALID_GPU = "partition: gpu\ngpus_per_node: 8\ngpus: 4\ntime: '24:00:00'\nsignal_delay_s: 300\n"

# (case id, profile text, key expected in the message, words expected in the message)
CASES = [
    ("time-seconds-over-59", VALID_CPU.replace("time: 30", 'time: "25:99"'), "time", "25:99"),
    ("time-minutes-over-59", VALID_CPU.replace("time: 30", 'time: "1:75:00"'), "time", "1:75:00"),
    ("time-day-hours-over-23", VALID_CPU.replace("time: 30", 'time: "1-30:00:00"'), "time", "1-30"),
    ("time-zero", VALID_CPU.replace("time: 30", "time: 0"), "time", "not a SLURM time limit"),
    ("time-words", VALID_CPU.replace("time: 30", "time: one hour"), "time", "not a SLURM time limit"),
    ("gpus-without-gpus-per-node", "partition: gpu\ngpus: 4\ntime: 60\n", "gpus", "gpus_per_node is not set"),
    ("gpus-on-cpu-cluster", VALID_CPU + "gpus: 2\n", "gpus", "gpus_per_node is 0"),
    ("signal-delay-equal-to-limit", VALID_CPU.replace("signal_delay_s: 60", "signal_delay_s: 1800"),
     "signal_delay_s", "1800 s"),
    ("signal-delay-over-limit", VALID_GPU.replace("signal_delay_s: 300", "signal_delay_s: 90000"),
     "signal_delay_s", "90000 s"),
    ("cpus-per-gpu-zero", VALID_GPU + "cpus_per_gpu: 0\n", "cpus_per_gpu", "at least 1"),
    ("cpus-per-task-zero", VALID_CPU + "cpus_per_task: 0\n", "cpus_per_task", "at least 1"),
    ("nodes-zero", VALID_GPU + "nodes: 0\n", "nodes", "at least 1"),
    ("max-parallel-zero", VALID_CPU + "max_parallel: 0\n", "max_parallel", "at least 1"),
    ("negative-requeues", VALID_CPU + "max_requeues: -1\n", "max_requeues", "at least 0"),
    ("gpus-not-splitting-over-nodes", VALID_GPU + "nodes: 3\n", "nodes", "do not split evenly"),
    ("cpu-cluster-with-two-nodes", VALID_CPU + "nodes: 2\n", "nodes", "one task on one node"),
    ("memory-words", VALID_GPU + "mem_per_gpu: lots\n", "mem_per_gpu", "not a memory size"),
    ("unknown-key", VALID_CPU + "partiton: debug\n", "partiton", "unknown key"),
    ("setup-not-strings", VALID_CPU + "setup: {module: cuda}\n", "setup", "expected a list or a string"),
    ("extra-not-a-mapping", VALID_CPU + "extra: --requeue\n", "extra", "expected a mapping"),
]

# (case id, file content as bytes, words expected in the message)
WHOLE_FILE_CASES = [
    ("empty-file", b"", "empty"),
    ("only-a-comment", b"# nothing here\n", "empty"),
    ("empty-mapping", b"{}\n", "empty"),
    ("a-list", b"- partition: gpu\n", "mapping of keys to values"),
    ("a-scalar", b"gpu\n", "mapping of keys to values"),
    ("yaml-indentation", b"partition: debug\n  time: 30\n", "line 2, column 7"),
    ("yaml-unclosed-quote", b'partition: debug\ntime: "30\n', "line 2"),
    ("not-utf8", b"partition: d\xe9bug\n", "not UTF-8"),
]


def _run_cli(tmp_path, capsys, profile_text: str | bytes):
    profile = tmp_path / "mycluster.yaml"
    if isinstance(profile_text, bytes):
        profile.write_bytes(profile_text)
    else:
        profile.write_text(profile_text)
    results = tmp_path / "results"
    code = cli.main(["run", SPEC, "--executor", "slurm", "--dry-run", "--cluster", str(profile),
                     "--results-dir", str(results)])
    captured = capsys.readouterr()
    return code, captured, profile, results


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("text, key, words", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_profile_value_is_one_line_naming_profile_and_key(tmp_path, capsys, text, key, words):
    code, captured, profile, results = _run_cli(tmp_path, capsys, text)
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"ssa-bench: error: {profile}: {key}: "), lines[0]
    assert words in lines[0]
    assert " -- " in lines[0], "no fix given"
    assert "table3.yaml" not in lines[0], "a profile error blamed on the spec"
    assert captured.out == "", "the dry run printed a script for a bad profile"
    assert not (results / "runs").exists()


@pytest.mark.parametrize("content, words", [case[1:] for case in WHOLE_FILE_CASES],
                         ids=[case[0] for case in WHOLE_FILE_CASES])
def test_unusable_profile_file_is_one_line_naming_the_file(tmp_path, capsys, content, words):
    code, captured, profile, results = _run_cli(tmp_path, capsys, content)
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"ssa-bench: error: {profile}: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in captured.err and not (results / "runs").exists()


@pytest.mark.parametrize("value, minutes", [("59:59", 60), ("23:59:59", 1440), ("1-23:59:59", 2880),
                                            ("2-00", 2880), (90, 90)])
def test_edge_of_valid_time_limits_is_accepted(tmp_path, value, minutes):
    path = tmp_path / "edge.yaml"
    path.write_text(f"partition: debug\ntime: {value!r}\nsignal_delay_s: 30\n"
                    if isinstance(value, str) else f"partition: debug\ntime: {value}\nsignal_delay_s: 30\n")
    assert load_profile(str(path)).time == minutes


@pytest.mark.parametrize("row, where, key", [
    ({"time": 3}, "rows[0].slurm", "rows[0].slurm.time"),       # shorter than the signal delay
    ({"nodes": 3}, "rows[1].slurm", "rows[1].slurm.nodes"),
], ids=["time-shorter-than-signal-delay", "nodes"])
def test_a_bad_row_request_is_blamed_on_the_row(tmp_path, row, where, key):
    from ssa_bench.errors import UserError
    from ssa_bench.executors.cluster_profiles import job_resources

    path = tmp_path / "ok.yaml"
    path.write_text(VALID_GPU)
    profile = load_profile(str(path))
    with pytest.raises(UserError) as error:
        job_resources(profile, row, row_where=where, row_file="spec.yaml")
    assert error.value.file == "spec.yaml" and error.value.key == key


def test_the_shipped_profiles_are_valid():
    for name in ("example-gpu", "local-test"):
        assert load_profile(name).name == name
