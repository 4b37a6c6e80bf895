"""The report table for the terminal: a rich Table with coloured arrows, missing cells in red with
their runs' state, one rule between sections, and the caption's sentences underneath. Every text
comes from the table model (api.report_table wrote the cells' texts and the caption); this module
lays them out."""
from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ssa_bench.report.table_model import MISSING, CellText, ReportTable, Row
from ssa_bench.vocabulary.metrics import HEADINGS

_STYLES = {"up": "green", "down": "red", "noise": "dim"}


def _text(cell: CellText, row: Row | None = None) -> Text:
    if cell.missing:
        states = ", ".join(sorted(row.states)) if row is not None and row.states else "not run"
        return Text(f"{MISSING} {states}", style="red")
    text = Text(cell.value)
    if cell.spread is not None:
        text.append(f" ± {cell.spread}", style="dim")
    if cell.interval is not None:
        text.append(f" [{cell.interval}]", style="dim")
    if cell.gain_kind:
        gain = {"up": f" ↑{cell.gain}", "down": f" ↓{cell.gain}", "noise": f" ({cell.gain})"}[cell.gain_kind]
        text.append(gain, style=_STYLES[cell.gain_kind])
    return text


def _delta_column(table: ReportTable, column) -> bool:
    """A Δ column only where the caption calls ours comparable with the paper and some row has one
    (as the Markdown and LaTeX tables): under cpu-demo, or for a latency from another device, the
    column would be empty in every row."""
    if not table.shows_delta(column):
        return False
    index = table.columns.index(column)
    return any(row.cells[index].delta_text for row in table.rows)


def terminal_renderable(table: ReportTable) -> Group:
    """A rich renderable: the table and its caption lines."""
    title = f"{table.title} -- profile {table.profile}"
    grid = Table(title=title, title_justify="left", show_lines=False)
    if table.has_sections:
        grid.add_column("section", style="bold")
    grid.add_column("method")
    if table.rank_by:
        grid.add_column("#", justify="right")
    if table.max_seeds > 1:
        grid.add_column("n", justify="right")
    for column in table.columns:
        head = HEADINGS.get(column.metric, column.metric)
        if column.group_title and not column.shared:
            head = f"{column.group_title}\n{head}"
        if table.has_paper:
            grid.add_column(f"{head}\npaper", justify="right", style="cyan")
            grid.add_column(f"{head}\nours", justify="right")
            if _delta_column(table, column):
                grid.add_column(f"{head}\nΔ", justify="right")
        else:
            grid.add_column(head, justify="right")
    for index, row in enumerate(table.rows):
        if index and row.section_title:
            grid.add_section()
        label = Text(row.label_text, style="italic dim" if row.paper_only else ("bold" if row.is_baseline else ""))
        cells: list = ([row.section_title] if table.has_sections else []) + [label]
        if table.rank_by:
            cells.append(row.rank_text)
        if table.max_seeds > 1:
            cells.append(row.seeds_text)
        for column, cell in zip(table.columns, row.cells):
            ours = _text(cell.ours_text, row)
            if table.has_paper:
                cells += [_text(cell.paper_text), ours]
                if _delta_column(table, column):
                    cells.append(cell.delta_text)
            else:
                cells.append(ours)
        grid.add_row(*cells)
    notes = Text("\n".join(table.notes), style="dim")
    return Group(grid, notes)


def terminal_text(table: ReportTable, width: int = 160) -> str:
    """The same, as plain text (no colour codes), e.g. for logs and tests."""
    console = Console(width=width, record=True, force_terminal=False, color_system=None, file=io.StringIO())
    console.print(terminal_renderable(table))
    return console.export_text()

