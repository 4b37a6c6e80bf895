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

from tests.report.report_fixtures import write_record

from ssa_bench.matrix.loader import load_spec
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
\begin{document}
\input{table.tex}
\end{document}
"""


def compile_latex(table_tex: str, workdir: Path) -> str:
    """pdflatex the table inside a minimal document; raise AssertionError with the errors on failure;
    the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "table.tex").write_text(table_tex)
    (workdir / "doc.tex").write_text(DOCUMENT)
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    log = (workdir / "doc.log").read_text(errors="replace") if (workdir / "doc.log").exists() else done.stdout
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, "pdflatex failed:\n" + "\n".join(errors or log.splitlines()[-30:])
    assert (workdir / "doc.pdf").stat().st_size > 0
    return log


def overfull_boxes(log: str) -> list[str]:
    """Lines of the log that say the table does not fit: a box wider or taller than the text, or a
    float taller than the page."""
    return [line for line in log.splitlines()
            if line.startswith(("Overfull \\hbox", "Overfull \\vbox")) or "Float too large" in line]


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


def _spec_table(tmp_path, number: int, profile: str, overrides=()):
    """Table N from its real spec (experiments/tables/tableN.yaml), every run with a fake record
    whose mIoU the test picks (spread over rows so gains of both signs are drawn)."""
    name = f"table{number}" if isinstance(number, int) else number
    spec = load_spec(f"experiments/tables/{name}.yaml", profile=profile, overrides=overrides)
    results = tmp_path / "results"
    for index, run in enumerate(spec.runs):
        write_record(results, run.id, miou=40.0 + (index % 7) * 0.37 + run.seed * 0.61, seed=run.seed)
    return report_table(spec, spec.runs, results)


PAPER_TABLES = [(n, profile, ()) for n in range(1, 9) for profile in ("paper", "cpu-demo")]
# over three seeds (mean, spread and n); Table 1 over three seeds does not fit one page (left out)
PAPER_TABLES += [(3, "paper", ("seeds=[0,1,2]",)), (2, "paper", ("seeds=[0,1,2]",)),
                 ("classifiers", "paper", ()), ("presets", "paper", ())]


@pytest.mark.parametrize("number,profile,overrides", PAPER_TABLES,
                         ids=[f"{'table' if isinstance(n, int) else ''}{n}-{p}{'-seeds' if o else ''}"
                              for n, p, o in PAPER_TABLES])
def test_the_papers_tables_fit_the_article_text_width(tmp_path, number, profile, overrides):
    # Issue 25: Table 3 was 7.8 pt overfull and Table 1 was 23 columns scaled by \resizebox.
    table = _spec_table(tmp_path, number, profile, overrides)
    tex = render_latex(table)
    assert r"\resizebox" not in tex
    log = compile_latex(tex, tmp_path / "latex")
    assert not overfull_boxes(log), f"Table {number} ({profile}) does not fit \\linewidth:\n" + "\n".join(overfull_boxes(log))


def test_an_overfull_table_is_caught(tmp_path):
    # The overfull check itself must be able to fail.
    log = compile_latex(r"\begin{tabular}{l}" + "x" * 400 + r"\end{tabular}", tmp_path / "wide")
    assert overfull_boxes(log)


def test_a_latex_error_is_caught(tmp_path):
    # The check itself must be able to fail: an undefined macro is a LaTeX error.
    with pytest.raises(AssertionError, match="Undefined control sequence"):
        compile_latex(r"\begin{tabular}{l}\undefinedmacro\end{tabular}", tmp_path / "broken")
