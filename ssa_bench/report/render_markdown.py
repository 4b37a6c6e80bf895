"""The report table as GitHub Markdown: a pipe table (one header row, groups folded into the
column names) followed by the caption's sentences as a list."""
from __future__ import annotations

from ssa_bench.report.caption import caption_sentences
from ssa_bench.report.cells import delta_text, label_text, ours_text, paper_text, rank_text, section_titles, seeds_text
from ssa_bench.report.table_model import Column, ReportTable
from ssa_bench.vocabulary.metrics import HEADINGS


def _escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def column_titles(table: ReportTable, column: Column) -> list[str]:
    """Header names of one metric column: with its group, and split into paper/ours/Δ when the paper has it."""
    metric = HEADINGS.get(column.metric, column.metric)
    prefix = f"{column.group_title} " if column.group_title and not column.shared else ""
    name = f"{prefix}{metric}"
    if table.has_paper:
        return [f"{name} paper", f"{name} ours", f"{name} Δ"]
    return [name]


def render_markdown(table: ReportTable) -> str:
    lead = ((["Section"] if table.has_sections else []) + ["Method"] + (["#"] if table.rank_by else [])
            + (["n"] if table.max_seeds > 1 else []))
    header = list(lead)
    for column in table.columns:
        header += column_titles(table, column)
    rows = []
    for row, section in zip(table.rows, section_titles(table)):
        cells = ([section] if table.has_sections else []) + [label_text(row)]
        if table.rank_by:
            cells.append(rank_text(row))
        if table.max_seeds > 1:
            cells.append(seeds_text(row))
        for column, cell in zip(table.columns, row.cells):
            ours = ours_text(table, row, column, cell).plain()
            if table.has_paper:
                cells += [paper_text(table, row, column, cell).plain(), ours, delta_text(table, column, cell)]
            else:
                cells.append(ours)
        rows.append(cells)
    # a number column empty in every row (the Δ of a latency from another device, every Δ under
    # cpu-demo) is left out rather than printed blank
    keep = [i for i in range(len(header)) if i < len(lead) or any(cells[i] for cells in rows)]
    lines = [f"**{_escape(table.caption or table.title)}**", "",
             "| " + " | ".join(_escape(header[i]) for i in keep) + " |",
             "|" + "|".join(":---" if i < len(lead) else "---:" for i in keep) + "|"]
    lines += ["| " + " | ".join(_escape(cells[i]) for i in keep) + " |" for cells in rows]
    lines.append("")
    lines += [f"- {sentence}" for sentence in caption_sentences(table)[1:]]
    return "\n".join(lines) + "\n"
