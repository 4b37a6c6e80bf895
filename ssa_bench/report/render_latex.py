"""The report table as a LaTeX `table` float that fits \\linewidth in `article`, as the paper's own
tables do: booktabs rules, dataset headers with \\cmidrule, one column per metric whose cell holds
the paper's number above ours (the paper's green up-arrow for gains, as a superscript; Δ = ours −
paper as a subscript where the numbers are comparable), section names as rows of their own, a
caption of one or two sentences and the details in a notes block under the table.

Needs \\usepackage{booktabs,xcolor}; the file says so in its first lines. No \\resizebox: when the
plain text estimate is wide, the table steps down to a smaller font and tighter column gaps.

Every text comes from the table model (api.report_table wrote the cells' texts and the caption);
this module lays them out and is the one place plain text becomes LaTeX: specials escaped, the few
unicode signs mapped to math, and row labels in the paper's notation ("+ SEPA + Lg + Lsd" ->
"+ SEPA + $\\mathcal{L}_{g}$ + $\\mathcal{L}_{sd}$").
"""
from __future__ import annotations

import re
from dataclasses import replace

from ssa_bench.report.table_model import CellText, Column, ReportTable
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


# Unicode the plain-text renderers use, and what it is in LaTeX.
_UNICODE_TO_LATEX = {
    "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "Δ": r"$\Delta$", "—": "---",
    "–": "--", "−": "$-$", "×": r"$\times$", "√": r"$\surd$", "²": r"$^2$", "·": r"$\cdot$",
}
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text: specials escaped, the few unicode signs we use mapped to math."""
    out = []
    for char in str(text):
        if char in _LATEX_SPECIALS:
            out.append(_LATEX_SPECIALS[char])
        elif char in _UNICODE_TO_LATEX:
            out.append(_UNICODE_TO_LATEX[char])
        elif ord(char) < 128:
            out.append(char)
        else:
            # pdflatex without inputenc extras chokes on arbitrary unicode; keep the table compiling.
            out.append("?")
    return "".join(out)


# Plain label tokens -> the paper's notation (Tables 3-6).
_LABEL_TOKENS = [
    (re.compile(r"(?<![A-Za-z])L_?\{?(g|c|rd|sd|pd)\}?(?![A-Za-z])"), lambda m: rf"$\mathcal{{L}}_{{{m.group(1)}}}$"),
    (re.compile(r"(?<![A-Za-z])Softmax_?\{?(K|HW)\}?(?![A-Za-z])"), lambda m: rf"Softmax$_{{{m.group(1)}}}$"),
    (re.compile(r"(?<![A-Za-z0-9])-\s?(H|B|E)(?![A-Za-z0-9])"), lambda m: rf"$-\mathcal{{{m.group(1)}}}$"),
]


def latex_label(label: str) -> str:
    """A plain row label in the paper's LaTeX: "Lg" -> $\\mathcal{L}_{g}$, "Softmax_HW" -> Softmax$_{HW}$."""
    text = str(label)
    pieces: list[tuple[int, int, str]] = []
    for pattern, render in _LABEL_TOKENS:
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end, _ in pieces):
                pieces.append((match.start(), match.end(), render(match)))
    out, position = [], 0
    for start, end, latex in sorted(pieces):
        out.append(latex_escape(text[position:start]))
        out.append(latex)
        position = end
    out.append(latex_escape(text[position:]))
    return "".join(out)


def _script(colour: str, before: str, after: str = "") -> tuple[str, str]:
    """A gain as a tiny superscript, coloured: (what comes before the gain, what after); it stacks
    over the Δ subscript instead of widening the cell."""
    return rf"$^{{\mbox{{\tiny\color{{{colour}}}{before}", rf"{after}}}}}$"


# a gain within the noise in brackets, closed inside the superscript
_GAIN = {"up": _script(UP_COLOUR, r"$\uparrow$"), "down": _script(DOWN_COLOUR, r"$\downarrow$"),
         "noise": _script(NOISE_COLOUR, "(", ")")}


def _cell(text: CellText) -> str:
    if text.missing:
        return "---"
    rendered = latex_escape(text.value)
    if text.spread is not None:
        rendered += rf"{{\scriptsize$\pm${latex_escape(text.spread)}}}"
    if text.interval is not None:
        rendered += rf" {{\scriptsize[{latex_escape(text.interval)}]}}"
    if text.gain_kind is not None:
        before, after = _GAIN[text.gain_kind]
        rendered += before + latex_escape(text.gain) + after
    return rendered


def _ours_and_spread(text: CellText) -> tuple[str, str]:
    """Ours, and its seed spread as a tiny line of its own under it (a column as narrow as one
    number: Table 1 over three seeds fits the text width); a zero spread is left out."""
    if text.missing or text.spread is None:
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
    for index, row in enumerate(table.rows):
        if row.section_title:
            if index:
                body.append(r"\midrule")
            body.append(rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textit{{{latex_escape(row.section_title)}}}}} \\")
        cells = [latex_label(row.label) + (" (paper only)" if row.paper_only else "")]
        if table.rank_by:
            cells.append(row.rank_text)
        if table.max_seeds > 1:
            cells.append(row.seeds_text)
        for cell in row.cells:
            ours, spread = _ours_and_spread(cell.ours_text)
            if spread and spread_inline:
                ours, spread = _inline(ours, spread), ""
            if table.has_paper:
                cells.append(_stacked([_cell(cell.paper_text), _with_delta(ours, cell.delta_text), spread]))
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
    return lines + sum(1 for row in table.rows if row.section_title)


def render_latex(table: ReportTable) -> str:
    lead = ["Method"] + (["\\#"] if table.rank_by else []) + (["n"] if table.max_seeds > 1 else [])
    spec = "@{}" + "l" * len(lead) + "r" * len(table.columns) + "@{}"
    # the seed spread beside ours where the width allows, on a line of its own under ours where not
    body, row_cells = _body(table, lead, spread_inline=True)
    if _width(row_cells) > FOOTNOTESIZE_CHARACTERS:
        body, row_cells = _body(table, lead, spread_inline=False)
    size, gap = _font(_width(row_cells), _height(table, row_cells))
    notes = table.notes
    lines = [
        f"% ssa-bench report '{table.name}' (profile {table.profile}); generated -- edit the spec, not this file.",
        r"% Needs \usepackage{booktabs} and \usepackage{xcolor}.",
        r"\begin{table}[t]",
        r"\centering",
        size,
        rf"\setlength{{\tabcolsep}}{{{gap}}}",
        rf"\caption{{{latex_escape(table.caption_line)}}}",
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
