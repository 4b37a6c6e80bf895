"""Every script under benchmarks/ runs in its quick mode, so none rots unnoticed (gather_scale.py
once failed for weeks with an AttributeError after Run gained a field). The quick modes check
that the scripts work and print their ratios; the numbers themselves are the scripts' business,
never a test's."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(path.name for path in (REPO / "benchmarks").glob("*.py"))


def test_every_benchmark_is_listed_here():
    # A new script must join the parametrisation below (by existing): the glob is the list.
    assert SCRIPTS, "no benchmark scripts found"


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_quick_mode_runs_and_prints_a_ratio(script):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--quick"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script} --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "ratio" in done.stdout.lower(), f"{script} --quick printed no ratio:\n{done.stdout[-2000:]}"
