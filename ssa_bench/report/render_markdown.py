"""The report table as GitHub Markdown: a pipe table (one header row, groups folded into the
column names) followed by the caption's sentences as a list. Every text comes from the table model
(api.report_table wrote the cells' texts and the caption); this module lays them out."""
from __future__ import annotations

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
    for row in table.rows:
        cells = ([row.section_title] if table.has_sections else []) + [row.label_text]
        if table.rank_by:
            cells.append(row.rank_text)
        if table.max_seeds > 1:
            cells.append(row.seeds_text)
        for cell in row.cells:
            ours = cell.ours_text.plain()
            if table.has_paper:
                cells += [cell.paper_text.plain(), ours, cell.delta_text]
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
    lines += [f"- {sentence}" for sentence in table.notes]
    return "\n".join(lines) + "\n"
