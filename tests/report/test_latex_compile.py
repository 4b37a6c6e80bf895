"""Every generated LaTeX table compiles with a real pdflatex (Debian: ci/apt-latex.txt).

Each table is \\input into a tiny article that loads only what the generated file's header says it
needs; any LaTeX error (a line starting with '!') fails the test, with the log excerpt.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.report.test_table_model import _table1, _table2, _table3

from ssa_bench.report import report_table
from ssa_bench.report.render_latex import render_latex

PDFLATEX = shutil.which("pdflatex")
pytestmark = [
    pytest.mark.latex,
    pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (apt-get install $(grep -v '^#' ci/apt-latex.txt))"),
]

DOCUMENT = r"""\documentclass{article}
\usepackage[T1]{fontenc}
\usepackage{booktabs}
\usepackage{xcolor}
\usepackage{graphicx}
\begin{document}
\input{table.tex}
\end{document}
"""


def compile_latex(table_tex: str, workdir: Path) -> None:
    """pdflatex the table inside a minimal document; raise AssertionError with the errors on failure."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "table.tex").write_text(table_tex)
    (workdir / "doc.tex").write_text(DOCUMENT)
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    log = (workdir / "doc.log").read_text(errors="replace") if (workdir / "doc.log").exists() else done.stdout
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, "pdflatex failed:\n" + "\n".join(errors or log.splitlines()[-30:])
    assert (workdir / "doc.pdf").stat().st_size > 0


# Tables exercising every layout the renderer has: name -> (results root -> (spec, runs)).
CASES = {
    "table3-seeds-missing": lambda r: _table3(r, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, None], seeds=2, spread=0.4),
    "table3-cpu-demo": lambda r: _table3(r, [42.0] * 7, profile="cpu-demo"),
    "table1-grouped": lambda r: _table1(r),
    "table2-paper-only": lambda r: _table2(r, ["ProtoSeg", "DNC", "GMMSeg"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_tables_compile(tmp_path, case):
    spec, runs = CASES[case](tmp_path / "results")
    compile_latex(render_latex(report_table(spec, runs, tmp_path / "results")), tmp_path / "latex")


def test_a_latex_error_is_caught(tmp_path):
    # The check itself must be able to fail: an undefined macro is a LaTeX error.
    with pytest.raises(AssertionError, match="Undefined control sequence"):
        compile_latex(r"\begin{tabular}{l}\undefinedmacro\end{tabular}", tmp_path / "broken")
