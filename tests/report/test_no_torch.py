"""Reporting must stay fast: building and rendering a table never imports torch (or mmseg)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys
sys.path[:0] = [{repo!r}, {tests!r}]
from tests.report.report_fixtures import planned_run, FakeSpec, write_record
from ssa_bench.report import report_table, report_text, write_report
from ssa_bench.report.render_latex import render_latex
root = {root!r}
write_record(root, "r1", miou=42.0)
spec = FakeSpec("t3", paper_table=3, report={{"columns": ["gflops", "mIoU"]}})
runs = [planned_run("r1", "Baseline")]
render_latex(report_table(spec, runs, root)); report_text(spec, runs, root)
write_report(spec, runs, root, formats=["latex", "markdown", "csv"])
heavy = sorted(m for m in ("torch", "mmseg", "mmengine", "mmcv") if m in sys.modules)
print(",".join(heavy) or "clean")
"""


def test_reporting_does_not_import_torch(tmp_path):
    script = SCRIPT.format(repo=str(REPO), tests=str(REPO / "tests" / "report"), root=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"
