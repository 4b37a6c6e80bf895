"""The text of one table cell (paper, ours, Δ), decided once so every renderer prints the same thing.

A cell is a value, an optional seed spread (or, with ``report.intervals: pm``, the bootstrap
interval's half-width), an optional interval ``[low, high]`` (``report.intervals: ci``), and an
optional gain over the section's baseline row with its kind: "up"/"down" (an arrow: its paired
bootstrap interval excludes 0; without per-image evidence: beyond the seed noise, or a single seed)
or "noise" (shown in brackets, no arrow). Renderers only decide the markup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ssa_bench.vocabulary.metrics import ACCURACY_METRICS
from ssa_bench.report.table_model import Cell, Column, ReportTable, Row
from ssa_bench.report.text import MISSING, format_number


@dataclass(frozen=True)
class CellText:
    value: str                   # "45.36", "—" (ours missing) or "" (nothing to show)
    spread: str | None = None    # seed std, "0.20"
    gain: str | None = None      # "3.00" for an arrow, "+0.05" for a gain within the noise
    gain_kind: str | None = None  # "up", "down", "noise"
    interval: str | None = None  # "44.10, 46.52": the bootstrap interval (report.intervals: ci)

    def render(self, notation: Notation) -> str:
        text = notation.escape(self.value)
        if self.spread is not None:
            text += notation.spread.around(notation.escape(self.spread))
        if self.interval is not None:
            text += notation.interval.around(notation.escape(self.interval))
        if self.gain_kind is not None:
            text += notation.gain[self.gain_kind].around(notation.escape(self.gain))
        return text

    def plain(self) -> str:
        return self.render(PLAIN)


@dataclass(frozen=True)
class Mark:
    """What a format writes before and after one part of a cell (its spread or its gain)."""
    before: str
    after: str = ""

    def around(self, text: str) -> str:
        return f"{self.before}{text}{self.after}"


@dataclass(frozen=True)
class Notation:
    """How one output format writes a cell's spread and its gain of each kind ("up", "down",
    "noise"); ``escape`` makes the cell's own text safe in the format."""
    spread: Mark
    gain: dict[str, Mark]
    escape: Callable[[str], str] = str
    interval: Mark = Mark(" [", "]")


PLAIN = Notation(spread=Mark(" ± "), gain={"up": Mark(" ↑"), "down": Mark(" ↓"), "noise": Mark(" (", ")")})


def _arrow(gain: float, decimals: int) -> tuple[str, str]:
    return ("up" if gain > 0 else "down"), format_number(abs(gain), decimals)


def paper_text(table: ReportTable, row: Row, column: Column, cell: Cell) -> CellText:
    decimals = table.decimals_for(column.metric)
    if cell.paper is None:
        return CellText("")
    gain = kind = None
    if cell.paper_gain and column.metric in ACCURACY_METRICS and not row.is_baseline:
        kind, gain = _arrow(cell.paper_gain, decimals)
    return CellText(format_number(cell.paper, decimals), gain=gain, gain_kind=kind)


def ours_text(table: ReportTable, row: Row, column: Column, cell: Cell) -> CellText:
    decimals = table.decimals_for(column.metric)
    if row.paper_only:
        return CellText("")
    if cell.ours is None:
        return CellText(MISSING if cell.missing else "")
    spread = format_number(cell.std, decimals) if cell.std is not None else None
    interval = None
    if cell.ci_low is not None and column.metric in ACCURACY_METRICS:
        if table.intervals == "ci":
            interval = f"{format_number(cell.ci_low, decimals)}, {format_number(cell.ci_high, decimals)}"
        elif table.intervals == "pm":
            # ± the interval's half-width takes the place of the seed std (the caption says so)
            spread = format_number((cell.ci_high - cell.ci_low) / 2, decimals)
    gain = kind = None
    if cell.gain is not None and column.metric in ACCURACY_METRICS and not row.is_baseline:
        if cell.gain_shown:
            kind, gain = _arrow(cell.gain, decimals)
        else:
            kind, gain = "noise", format_number(cell.gain, decimals, signed=True)
    return CellText(format_number(cell.ours, decimals), spread=spread, gain=gain, gain_kind=kind,
                    interval=interval)


def delta_shown(table: ReportTable, column: Column) -> bool:
    """Whether a Δ (ours − paper) may be printed for this column: never under a profile the caption
    calls not comparable with the paper (cpu-demo), never for a latency measured on another device."""
    if not table.has_paper or table.profile == "cpu-demo":
        return False
    return column.metric != "latency_ms" or table.latency_comparable


def delta_text(table: ReportTable, column: Column, cell: Cell) -> str:
    if cell.delta is None or not delta_shown(table, column):
        return ""
    # round off float noise (6.4 − 6.4 = 9e-16 would print as +0.0000)
    return format_number(round(cell.delta, 9), table.decimals_for(column.metric), signed=True)


def rank_text(row: Row) -> str:
    return "" if row.rank is None else str(row.rank)


def seeds_text(row: Row) -> str:
    done, asked = row.seeds
    if row.paper_only or asked == 0:
        return ""
    return str(asked) if done == asked else f"{done}/{asked}"


def label_text(row: Row) -> str:
    return f"{row.label} (paper only)" if row.paper_only else str(row.label)


def section_titles(table: ReportTable) -> list[str]:
    """The section cell of each row: the section's name on its first row, blank below (as the paper prints)."""
    titles, previous = [], object()
    for row in table.rows:
        titles.append("" if row.section == previous or row.section is None else str(row.section))
        previous = row.section
    return titles
