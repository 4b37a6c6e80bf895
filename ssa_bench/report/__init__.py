"""Records -> tables: gather (pandas), the table model, LaTeX/Markdown/CSV/terminal renderers and the
paper's transcribed numbers. No torch here; figures live in `ssa_bench.report.figures`.

`gather` is not re-exported here: `ssa_bench.report.gather` stays the module (docs/ARCHITECTURE.md
names `ssa_bench.report.gather.gather`)."""
from ssa_bench.report.api import (
    check_paper,
    paper_gate,
    tolerances_from,
    report_table,
    report_text,
    terminal_table,
    write_report,
)
from ssa_bench.vocabulary.paper_numbers import load_paper_numbers
from ssa_bench.report.paper_check import PaperCheck, PaperDifference, parse_tolerances
from ssa_bench.report.table_model import build_table

__all__ = ["PaperCheck", "PaperDifference", "build_table", "check_paper", "load_paper_numbers",
           "paper_gate", "parse_tolerances", "report_table",
           "tolerances_from", "report_text", "terminal_table", "write_report"]
