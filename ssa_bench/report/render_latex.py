"""The report table as a LaTeX `table` float that fits \\linewidth in `article`, as the paper's own
tables do: booktabs rules, dataset headers with \\cmidrule, one column per metric whose cell holds
the paper's number above ours (the paper's green up-arrow for gains, as a superscript; Δ = ours −
paper as a subscript where the numbers are comparable), section names as rows of their own, a
caption of one or two sentences and the details in a notes block under the table.

Needs \\usepackage{booktabs,xcolor}; the file says so in its first lines. No \\resizebox: when the
plain text estimate is wide, the table steps down to a smaller font and tighter column gaps.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ssa_bench.report.caption import caption_parts
from ssa_bench.report.cells import (CellText, Mark, Notation, delta_shown, delta_text, ours_text,
                                    paper_text, rank_text, section_titles, seeds_text)
from ssa_bench.report.table_model import Column, ReportTable
from ssa_bench.report.text import latex_escape, latex_label
from ssa_bench.vocabulary.metrics import HEADINGS

UP_COLOUR = "green!60!black"
DOWN_COLOUR = "red!70!black"
NOISE_COLOUR = "black!50"
# Estimated plain-text width (characters at \small) beyond which the table steps down a font size:
# about a one-column article's text width (345 pt) at \small, then at \footnotesize.
SMALL_CHARACTERS = 62
FOOTNOTESIZE_CHARACTERS = 72
# Text lines (a two-line cell counts two) beyond which it steps down, so the float with its notes
# stays on one page (article: 550 pt of text height).
SMALL_LINES = 32
FOOTNOTESIZE_LINES = 40


def _script(colour: str | None, before: str, after: str = "") -> Mark:
    """A gain as a tiny superscript, coloured; stacks over the Δ subscript instead of widening the cell."""
    colour_cmd = rf"\color{{{colour}}}" if colour else ""
    return Mark(rf"$^{{\mbox{{\tiny{colour_cmd}{before}", rf"{after}}}}}$")


LATEX = Notation(spread=Mark(r"{\scriptsize$\pm$", "}"),
                 gain={"up": _script(UP_COLOUR, r"$\uparrow$"),
                       "down": _script(DOWN_COLOUR, r"$\downarrow$"),
                       "noise": _script(NOISE_COLOUR, "(", ")")},
                 escape=latex_escape, interval=Mark(r" {\scriptsize[", "]}"))


def _cell(text: CellText) -> str:
    if text.value == "—":
        return "---"
    rendered = text.render(LATEX)
    if text.gain_kind == "noise":     # the bracket opened in the superscript closes inside it
        rendered = rendered[:-len("}}$")] + ")}}$"
    return rendered


def _ours_and_spread(text: CellText) -> tuple[str, str]:
    """Ours, and its seed spread as a tiny line of its own under it (a column as narrow as one
    number: Table 1 over three seeds fits the text width); a zero spread is left out."""
    if text.value == "—" or text.spread is None:
        return _cell(text), ""
    spread = "" if not text.spread.strip("0.") else rf"{{\tiny$\pm${latex_escape(text.spread)}}}"
    return _cell(replace(text, spread=None)), spread


def _with_delta(ours: str, delta: str) -> str:
    """Ours with Δ as a tiny subscript (the notes say so); after a gain superscript the two stack."""
    if not delta:
        return ours
    sub = rf"_{{\mbox{{\tiny{latex_escape(delta)}}}}}$"
    if ours.endswith("}}$"):
        return ours[:-1] + sub
    return ours + "$" + sub


def _stacked(lines: list[str]) -> str:
    lines = [line for line in lines if line]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    # lines closer than the table's own rows: a stacked cell is one entry, and a 20-row table stays on a page
    return (r"{\renewcommand{\arraystretch}{0.8}\begin{tabular}[c]{@{}r@{}}" + r"\\".join(lines)
            + r"\end{tabular}}")


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


def _header(table: ReportTable, lead: list[str]) -> list[str]:
    lines = []
    if any(c.group is not None and not c.shared for c in table.columns):
        cells, rules, start = [""] * len(lead), [], len(lead) + 1
        for (group, shared), length in _spans(table.columns, lambda c: (c.group_title, c.shared)):
            if shared or group is None:
                cells.extend([""] * length)
            else:
                cells.append(rf"\multicolumn{{{length}}}{{c}}{{{latex_escape(group)}}}")
                rules.append(rf"\cmidrule(lr){{{start}-{start + length - 1}}}")
            start += length
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    titles = [latex_escape(HEADINGS.get(c.metric, c.metric)) for c in table.columns]
    lines.append(" & ".join(lead + titles) + r" \\")
    return lines


def _plain_width(cell: str) -> int:
    """Characters a cell shows on its widest line, markup stripped (tiny scripts count half)."""
    widths = []
    for line in cell.split(r"\\"):
        tiny = sum(len(re.sub(r"\\[a-zA-Z]+(\{[^}]*\})?|[{}$]", "", m)) for m in re.findall(r"\\tiny(.*?)\}\}", line))
        plain = len(re.sub(r"\\[a-zA-Z]+(\{[^}]*\})?|[{}$@^_\[\]]", "", line))
        widths.append(plain - tiny + (tiny + 1) // 2)
    return max(widths, default=0)


def _width(rows: list[list[str]]) -> int:
    widths = [max(_plain_width(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return sum(widths) + len(widths)


def _label_for_tex(name: str) -> str:
    return "tab:ssa-bench-" + re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")


def _font(width: int, lines: int) -> tuple[str, str]:
    """(font size, column gap) for a table of this estimated width (characters) and height (text
    lines, stacked cells counted by their lines): the largest size that keeps it on the text width
    and on one page with its notes."""
    if width <= SMALL_CHARACTERS and lines <= SMALL_LINES:
        return r"\small", "5pt"
    if width <= FOOTNOTESIZE_CHARACTERS and lines <= FOOTNOTESIZE_LINES:
        return r"\footnotesize", "4pt"
    return r"\scriptsize", "2pt"


def _body(table: ReportTable, lead: list[str], spread_inline: bool) -> tuple[list[str], list[list[str]]]:
    """(tabular lines from \\toprule to \\bottomrule, the cells of each row)."""
    width = len(lead) + len(table.columns)
    body = [r"\toprule", *_header(table, lead), r"\midrule"]
    row_cells: list[list[str]] = []
    for index, (row, section) in enumerate(zip(table.rows, section_titles(table))):
        if section:
            if index:
                body.append(r"\midrule")
            body.append(rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textit{{{latex_escape(section)}}}}} \\")
        cells = [latex_label(row.label) + (" (paper only)" if row.paper_only else "")]
        if table.rank_by:
            cells.append(rank_text(row))
        if table.max_seeds > 1:
            cells.append(seeds_text(row))
        for column, cell in zip(table.columns, row.cells):
            ours, spread = _ours_and_spread(ours_text(table, row, column, cell))
            if spread and spread_inline:
                ours, spread = _inline(ours, spread), ""
            if table.has_paper:
                delta = delta_text(table, column, cell) if delta_shown(table, column) else ""
                cells.append(_stacked([_cell(paper_text(table, row, column, cell)), _with_delta(ours, delta), spread]))
            else:
                cells.append(_stacked([ours, spread]))
        body.append(" & ".join(cells) + r" \\")
        row_cells.append(cells)
    body.append(r"\bottomrule")
    return body, row_cells


def _inline(ours: str, spread: str) -> str:
    """The spread right after the value, before any gain superscript."""
    at = ours.find("$^")
    return ours + spread if at < 0 else ours[:at] + spread + ours[at:]


def _height(table: ReportTable, row_cells: list[list[str]]) -> int:
    lines = sum(max(cell.count(r"\\") + 1 for cell in cells) for cells in row_cells)
    return lines + sum(1 for section in section_titles(table) if section)


def render_latex(table: ReportTable) -> str:
    lead = ["Method"] + (["\\#"] if table.rank_by else []) + (["n"] if table.max_seeds > 1 else [])
    spec = "@{}" + "l" * len(lead) + "r" * len(table.columns) + "@{}"
    # the seed spread beside ours where the width allows, on a line of its own under ours where not
    body, row_cells = _body(table, lead, spread_inline=True)
    if _width(row_cells) > FOOTNOTESIZE_CHARACTERS:
        body, row_cells = _body(table, lead, spread_inline=False)
    size, gap = _font(_width(row_cells), _height(table, row_cells))
    caption, notes = caption_parts(table)
    lines = [
        f"% ssa-bench report '{table.name}' (profile {table.profile}); generated -- edit the spec, not this file.",
        r"% Needs \usepackage{booktabs} and \usepackage{xcolor}.",
        r"\begin{table}[t]",
        r"\centering",
        size,
        rf"\setlength{{\tabcolsep}}{{{gap}}}",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{_label_for_tex(table.name)}}}",
        rf"\begin{{tabular}}{{{spec}}}", *body, r"\end{tabular}",
    ]
    if table.has_paper and table.profile != "cpu-demo":
        notes = ["Superscript: gain over the section's baseline row; subscript: Δ.", *notes]
    if notes:
        # the caption's details as notes under the table (plain LaTeX, no threeparttable needed)
        notes_size = r"\scriptsize" if size == r"\scriptsize" else r"\footnotesize"
        lines += [rf"\par\smallskip{notes_size}\raggedright", " ".join(latex_escape(s) for s in notes) + r"\par"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
