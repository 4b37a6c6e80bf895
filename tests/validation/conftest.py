"""Shared by the bad-input tests: run the CLI in-process on a spec and check the refusal.

Every refusal must be exit 2 with exactly one line on stderr that names where the mistake is
(the file and the key path, or the offending value), and must leave the results root untouched:
nothing written, no run started.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from ssa_bench.cli import main



def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as stop:        # argparse refuses before main's handler
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def nothing_written(results: Path) -> bool:
    return not results.exists() or not any(results.rglob("*"))


class Refusal:
    def __init__(self, tmp_path: Path, capsys):
        self.tmp_path, self.capsys = tmp_path, capsys
        self.results = tmp_path / "results"

    def spec(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def __call__(self, argv: list[str], *expected: str, command: str = "run") -> str:
        """Run ``ssa-bench COMMAND argv --results-dir R``; assert the refusal; return stderr."""
        full = [command, *argv]
        if command in ("plan", "run", "status", "report", "figures") and "--results-dir" not in argv:
            full += ["--results-dir", str(self.results)]
        code, out, err = run_cli(full, self.capsys)
        assert code == 2, f"exit {code}, stdout {out[:300]!r}, stderr {err[:300]!r}"
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        for text in expected:
            assert text in lines[0], f"{text!r} not in {lines[0]!r}"
        assert nothing_written(self.results), sorted(os.listdir(self.results))
        return lines[0]

    def bad_spec(self, text: str, *expected: str, extra=(), command: str = "run") -> str:
        path = self.spec(text)
        return self(([str(path), *extra]), str(path), *expected, command=command)


@pytest.fixture
def refuse(tmp_path, capsys) -> Refusal:
    return Refusal(tmp_path, capsys)
