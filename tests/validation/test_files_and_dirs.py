"""Root cause 5: files and OS errors became tracebacks -- a binary or non-UTF-8 spec, an unreadable
one, a directory as SPEC, --results-dir naming a file or an uncreatable place, report --out naming a
file. Each is now one line and exit 2, before anything is written."""
from __future__ import annotations

import os

import pytest

GOOD = "base: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: a}]\n"


@pytest.mark.parametrize("command", ["plan", "run", "status", "report", "figures"])
def test_binary_spec(refuse, tmp_path, command):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    refuse([str(path)], str(path), "binary file", command=command)


@pytest.mark.parametrize("data,line", [(b"rows: [{label: caf\xe9}]\n", "line 1"),
                                       (b"name: x\n\nrows: [{label: \xff}]\n", "line 3")])
def test_non_utf8_spec(refuse, tmp_path, data, line):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(data)
    refuse([str(path)], str(path), "not UTF-8", line)


def test_directory_as_spec(refuse, tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    refuse([str(folder)], str(folder), "is a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_spec(refuse, tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text(GOOD)
    path.chmod(0)
    refuse([str(path)], str(path), "cannot read")


def test_missing_spec(refuse, tmp_path):
    refuse([str(tmp_path / "nope.yaml")], "nope.yaml", "not found")


@pytest.mark.parametrize("command", ["plan", "run", "status", "report", "figures"])
def test_results_dir_is_a_file(refuse, tmp_path, command):
    spec = refuse.spec(GOOD)
    afile = tmp_path / "results.txt"
    afile.write_text("x")
    refuse([str(spec), "--results-dir", str(afile)], "--results-dir", "is a file", command=command)
    assert afile.read_text() == "x"


@pytest.mark.parametrize("command", ["run", "report", "figures"])
def test_results_dir_cannot_be_created(refuse, tmp_path, command):
    spec = refuse.spec(GOOD)
    afile = tmp_path / "file"
    afile.write_text("x")
    refuse([str(spec), "--results-dir", str(afile / "results")], "--results-dir", "is a file", command=command)


@pytest.mark.parametrize("command", ["run", "report"])
def test_results_dir_on_a_read_only_file_system(refuse, command):
    spec = refuse.spec(GOOD)
    refuse([str(spec), "--results-dir", "/proc/ssa-bench-results"], "--results-dir", "cannot create",
           command=command)


@pytest.mark.parametrize("command", ["report", "figures"])
def test_out_is_a_file(refuse, tmp_path, command):
    spec = refuse.spec(GOOD)
    out = tmp_path / "table.tex"
    out.write_text("keep me")
    refuse([str(spec), "--out", str(out)], "--out", "is a file", command=command)
    assert out.read_text() == "keep me"
