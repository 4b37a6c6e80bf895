"""The report table as a LaTeX `table` float: booktabs rules, dataset headers with \\cmidrule,
paper | ours | Δ under each metric, and the paper's green up-arrow for gains beyond the seed noise.

Needs \\usepackage{booktabs,xcolor} (and graphicx for tables wider than a column, which are scaled
with \\resizebox); the file says so in its first lines.
"""
from __future__ import annotations

import re

from ssa_bench.report.caption import caption_sentences
from ssa_bench.report.cells import (CellText, Mark, Notation, delta_text, ours_text, paper_text,
                                    rank_text, section_titles, seeds_text)
from ssa_bench.report.table_model import Column, ReportTable
from ssa_bench.report.text import latex_escape, latex_label
from ssa_bench.vocabulary.metrics import HEADINGS

UP_COLOUR = "green!60!black"
DOWN_COLOUR = "red!70!black"
NOISE_COLOUR = "black!50"
# A tabular whose plain text is wider than this many characters (about a one-column article's
# text width at \small) is scaled to \linewidth rather than running into the margin.
WIDE_TABLE_CHARACTERS = 75


LATEX = Notation(spread=Mark(r" $\pm$ "),
                 gain={"up": Mark(rf" {{\color{{{UP_COLOUR}}}$\uparrow$", "}"),
                       "down": Mark(rf" {{\color{{{DOWN_COLOUR}}}$\downarrow$", "}"),
                       "noise": Mark(rf" {{\color{{{NOISE_COLOUR}}}(", ")}")},
                 escape=latex_escape)


def _cell(text: CellText) -> str:
    if text.value == "—":
        return "---"
    return text.render(LATEX)


def _spans(columns: list[Column], key) -> list[tuple[object, int]]:
    """Runs of consecutive columns with the same key: [(key, length), ...]."""
    spans: list[tuple[object, int]] = []
    for column in columns:
        value = key(column)
        if spans and spans[-1][0] == value:
            spans[-1] = (value, spans[-1][1] + 1)
        else:
            spans.append((value, 1))
    return spans


def _header(table: ReportTable, label_titles: list[str]) -> list[str]:
    width = 3 if table.has_paper else 1
    lead = len(label_titles)
    lines = []
    if any(c.group is not None and not c.shared for c in table.columns):
        cells, rules, start = [""] * lead, [], lead + 1
        for (group, shared), length in _spans(table.columns, lambda c: (c.group_title, c.shared)):
            span = length * width
            if shared or group is None:
                cells.extend([""] * span)
            else:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(group)}}}")
                rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    metric_cells = []
    rules, start = [], lead + 1
    for column in table.columns:
        title = latex_escape(HEADINGS.get(column.metric, column.metric))
        metric_cells.append(rf"\multicolumn{{{width}}}{{c}}{{{title}}}" if width > 1 else title)
        if width > 1:
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    if table.has_paper:
        lines.append(" & ".join([""] * lead + metric_cells) + r" \\")
        lines.append(" ".join(rules))
        lines.append(" & ".join(label_titles + [r"Paper & Ours & $\Delta$"] * len(table.columns)) + r" \\")
    else:
        lines.append(" & ".join(label_titles + metric_cells) + r" \\")
    return lines


def _is_wide(rows: list[list[str]]) -> bool:
    """Estimate from the plain text of each column's widest cell (markup stripped) plus column gaps."""
    plain = [[re.sub(r"\\[a-zA-Z]+(\{[^}]*\})?|[{}$]", "", cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in plain) for i in range(len(plain[0]))] if plain else []
    return sum(widths) + 2 * len(widths) > WIDE_TABLE_CHARACTERS


def _label_for_tex(name: str) -> str:
    return "tab:ssa-bench-" + re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")


def render_latex(table: ReportTable) -> str:
    label_titles = ((["Section"] if table.has_sections else []) + ["Method"] + (["\\#"] if table.rank_by else [])
                    + (["n"] if table.max_seeds > 1 else []))
    numbers = len(table.columns) * (3 if table.has_paper else 1)
    spec = "l" * len(label_titles) + "r" * numbers
    body = [r"\toprule", *_header(table, label_titles), r"\midrule"]
    sections = section_titles(table)
    row_cells: list[list[str]] = []
    for index, (row, section) in enumerate(zip(table.rows, sections)):
        if index and section:
            body.append(r"\midrule")
        cells = ([latex_escape(section)] if table.has_sections else []) + [latex_label(row.label) + (" (paper only)" if row.paper_only else "")]
        if table.rank_by:
            cells.append(rank_text(row))
        if table.max_seeds > 1:
            cells.append(seeds_text(row))
        for column, cell in zip(table.columns, row.cells):
            ours = _cell(ours_text(table, row, column, cell))
            if table.has_paper:
                cells += [_cell(paper_text(table, row, column, cell)), ours,
                          latex_escape(delta_text(table, column, cell))]
            else:
                cells.append(ours)
        body.append(" & ".join(cells) + r" \\")
        row_cells.append(cells)
    body.append(r"\bottomrule")
    tabular = [rf"\begin{{tabular}}{{{spec}}}", *body, r"\end{tabular}"]
    wide = _is_wide(row_cells)
    if wide:
        tabular = [r"\resizebox{\linewidth}{!}{%", *tabular, "}"]
    caption = " ".join(latex_escape(s) for s in caption_sentences(table))
    lines = [
        f"% ssa-bench report '{table.name}' (profile {table.profile}); generated -- edit the spec, not this file.",
        r"% Needs \usepackage{booktabs} and \usepackage{xcolor}" + (r" and \usepackage{graphicx}." if wide else "."),
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{_label_for_tex(table.name)}}}",
        *tabular,
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
