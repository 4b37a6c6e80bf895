"""The table a report renders: rows = the spec's row labels (grouped by section, in spec order),
columns = metrics (per column group when the spec pivots, e.g. per dataset), and in each cell the
paper's number, ours (mean over seeds), the difference, and the gain over the section's baseline row.

Every number is decided here (``build_table``). The model also holds the texts every renderer
prints: each cell's and row's text (written by ``cells.write_cell_texts``) and the caption's
sentences (``caption.write_caption``); ``api.report_table`` runs these steps in order, and the
renderers (LaTeX, Markdown, CSV, JSON, terminal) only lay the model out.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.errors import UserError
from ssa_bench.report.aggregate import SeedStats, aggregate_seeds, cell_key
from ssa_bench.vocabulary.metrics import ACCURACY_METRICS, DEFAULT_DECIMALS, LOWER_IS_BETTER, METRICS
from ssa_bench.matrix.report_settings import interval_mode
from ssa_bench.vocabulary.paper_numbers import MatchedRow, PaperMatch, PaperNumbers, PaperTable, load_paper_numbers

DEFAULT_COLUMNS = ("mIoU",)
MISSING = "—"          # a number of ours that was asked for and has no record yet
_PLAIN_GAIN = {"up": " ↑{}", "down": " ↓{}", "noise": " ({})"}


@dataclass(frozen=True)
class CellText:
    """One number of a cell as text: a value, an optional seed spread (or, with ``report.intervals:
    pm``, the bootstrap interval's half-width), an optional interval ``[low, high]``
    (``report.intervals: ci``), and an optional gain over the section's baseline row with its kind:
    "up"/"down" (an arrow) or "noise" (shown in brackets). Renderers only decide the markup."""
    value: str                   # "45.36", MISSING (ours missing) or "" (nothing to show)
    spread: str | None = None    # seed std, "0.20"
    gain: str | None = None      # "3.00" for an arrow, "+0.05" for a gain within the noise
    gain_kind: str | None = None  # "up", "down", "noise"
    interval: str | None = None  # "44.10, 46.52": the bootstrap interval (report.intervals: ci)

    @property
    def missing(self) -> bool:
        return self.value == MISSING

    def plain(self) -> str:
        """As plain text (Markdown): "45.36 ± 0.20 [44.10, 46.52] ↑3.00"."""
        text = self.value
        if self.spread is not None:
            text += f" ± {self.spread}"
        if self.interval is not None:
            text += f" [{self.interval}]"
        if self.gain_kind is not None:
            text += _PLAIN_GAIN[self.gain_kind].format(self.gain)
        return text


@dataclass
class Cell:
    paper: float | None = None
    paper_gain: float | None = None   # the paper's own gain over its baseline row
    ours: float | None = None         # mean over the seeds that finished
    std: float | None = None          # over seeds; None for fewer than two
    n: int = 0                        # seeds with a value
    n_expected: int = 0               # seeds the spec asked for (0: a paper-only row)
    delta: float | None = None        # ours - paper
    gain: float | None = None         # ours - ours of the baseline row
    gain_noise: float | None = None   # the seed spread the gain is tested against
    gain_shown: bool = False          # draw the arrow: the gain exceeds the noise (or single seed)
    paper_eval: str | None = None     # how the paper tested its number (single-scale, multi-scale+flip)
    # Bootstrap over test images (and seeds) from the runs' per-image evidence (report/intervals.py);
    # None where a run has none (records from before it was kept).
    ci_low: float | None = None
    ci_high: float | None = None
    gain_low: float | None = None     # the paired bootstrap interval of ``gain``
    gain_high: float | None = None
    gain_p: float | None = None       # its two-sided p-value (docs/statistics.md)
    gain_rule: str | None = None      # what decided gain_shown: "interval", "seeds" or "single"
    seeds_share: float | None = None  # with several seeds: the share of the gain's spread the seeds explain
    # The texts every renderer prints (cells.write_cell_texts; None before it ran); Δ is "" where
    # the table shows none.
    paper_text: CellText | None = None
    ours_text: CellText | None = None
    delta_text: str = ""

    @property
    def missing(self) -> bool:
        """A number of ours was asked for and no run has produced it yet."""
        return self.n_expected > 0 and self.ours is None

    @property
    def partial(self) -> bool:
        return self.ours is not None and self.n < self.n_expected


@dataclass(frozen=True)
class Column:
    metric: str
    group: str | None          # the spec's column-group value (e.g. "ade20k"); None when not pivoted
    group_title: str | None    # how headers name it ("ADE20K")
    shared: bool = False       # printed once per row (the paper's Table 1 latency); measured in `group`


@dataclass
class Row:
    section: str | None
    label: str
    cells: list[Cell]                  # aligned with ReportTable.columns
    is_baseline: bool = False
    paper_only: bool = False
    paper_source: str | None = None
    paper_eval_note: str | None = None   # the paper row's evaluation exception, as the file explains it
    run_ids: list[str] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)   # states of runs without a record
    rank: int | None = None            # 1 = best mean of report.rank_by within its section
    # The texts every renderer prints (cells.write_cell_texts)
    section_title: str = ""            # the section's name on its first row, blank below (as the paper prints)
    label_text: str = ""               # the label, "(paper only)" after a row not run here
    rank_text: str = ""
    seeds_text: str = ""               # "3", or "2/3" when fewer seeds are done than asked

    @property
    def seeds(self) -> tuple[int, int]:
        """(fewest seeds done in any cell, most seeds asked for) for the row's n column."""
        expected = [c.n_expected for c in self.cells if c.n_expected]
        if not expected:
            return 0, 0
        return min(c.n for c in self.cells if c.n_expected), max(expected)


@dataclass
class ReportTable:
    name: str
    title: str
    caption: str | None
    profile: str
    columns: list[Column]
    rows: list[Row]
    paper: PaperTable | None
    paper_name: str
    baseline_rows: dict[str | None, str]        # section -> label the gains are against
    decimals: dict[str, int]
    latency: dict | None = None                 # device facts of our latency column
    ours_baselines: list[str] = field(default_factory=list)
    ours_datasets: list[str] = field(default_factory=list)
    spec_path: str | None = None
    ours_eval_modes: list[str] = field(default_factory=list)      # how our runs are tested (protocol.py)
    ours_eval_windows: dict[str, str] = field(default_factory=dict)  # dataset -> sliding window "480x480/320"
    paper_eval_source: str = ""                                    # where the paper states its protocol
    # baselines whose runs trained the backbone from scratch (train.pretrained none): the caption says so
    from_scratch: list[str] = field(default_factory=list)
    # runs whose per-GPU batch changes what they compute (BN statistics) against the authors' split
    batch_notes: list[str] = field(default_factory=list)
    rank_by: str | None = None         # the metric rows are ranked by within a section (report.rank_by)
    intervals: str = "off"             # report.intervals: how renderers show ci_low/ci_high (off, ci, pm)
    interval_facts: dict = field(default_factory=dict)   # level, method, resamples, images (intervals.py)
    overrides: list[str] = field(default_factory=list)   # --set KEY=VALUE the runs were planned with, if recorded
    # The caption every renderer prints (caption.write_caption)
    sentences: list[str] = field(default_factory=list)   # one per fact, plain text; the first is the heading
    caption_line: str = ""             # the heading without "Table N:" and what the numbers are (LaTeX's \\caption)

    @property
    def latency_comparable(self) -> bool:
        """Our latency and the paper's (a V100) can be subtracted only when ours ran on a GPU too."""
        return self.latency is not None and self.latency.get("device") == "cuda"

    @property
    def has_paper(self) -> bool:
        return self.paper is not None

    @property
    def has_sections(self) -> bool:
        return any(row.section is not None for row in self.rows)

    @property
    def max_seeds(self) -> int:
        return max((row.seeds[1] for row in self.rows), default=0)

    @property
    def notes(self) -> list[str]:
        """The caption's details, printed under the table: every sentence but the heading."""
        return self.sentences[1:]

    def decimals_for(self, metric: str) -> int:
        return self.decimals.get(metric, DEFAULT_DECIMALS.get(metric, 2))

    def shows_delta(self, column: Column) -> bool:
        """Whether a Δ (ours − paper) may be printed for this column: never under a profile the caption
        calls not comparable with the paper (cpu-demo), never for a latency measured on another device."""
        if not self.has_paper or self.profile == "cpu-demo":
            return False
        return column.metric != "latency_ms" or self.latency_comparable


def _value(series_value):
    return None if series_value is None or (isinstance(series_value, float) and math.isnan(series_value)) else series_value


def _ordered_unique(values) -> list:
    seen, out = set(), []
    for value in values:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _spec_metrics(spec, report: dict) -> list[str]:
    columns = report.get("columns") or list(DEFAULT_COLUMNS)
    if isinstance(columns, str):
        columns = [columns]
    for index, metric in enumerate(columns):
        if metric not in METRICS:
            raise UserError(f"unknown report column '{metric}'", file=spec.path,
                            key=f"report.columns[{index}]", fix=f"use metric names from: {', '.join(METRICS)}")
    return list(columns)


def _group_title(value: str | None) -> str | None:
    if value is None:
        return None
    return DATASETS[value].title if value in DATASETS else str(value)


def _paper_only_requests(spec, report: dict) -> list[tuple[str, str | None, str]]:
    """(label, section or None, key path) of rows the spec wants shown with the paper's numbers only."""
    requests = []
    for index, item in enumerate(report.get("paper_only_rows") or ()):
        key = f"report.paper_only_rows[{index}]"
        if isinstance(item, str):
            requests.append((item, None, key))
        elif isinstance(item, dict) and item.get("label"):
            sections = item.get("sections") or [item.get("section")]
            requests.extend((str(item["label"]), s, key) for s in sections)
        else:
            raise UserError("a paper-only row needs a label", file=spec.path, key=key,
                            fix="write the paper's row name, e.g. 'DNC', or {label: DNC, section: ...}")
    for index, row in enumerate(spec.rows):
        if row.paper_only:
            requests.append((row.label, row.section, f"rows[{index}]"))
    return requests


def _latency_facts(spec, frame: pd.DataFrame) -> dict | None:
    measured = frame[frame["latency_ms"].notna()].drop_duplicates(subset=["id"])
    if measured.empty:
        return None
    devices = _ordered_unique(zip(measured["latency_device"], measured["latency_device_name"]))
    if len(devices) > 1:
        listed = "; ".join(f"{device} ({name})" for device, name in devices)
        raise UserError(f"the table's latencies were measured on different devices: {listed}",
                        file=spec.path, key="report.columns",
                        fix="measure every run of this table on one device, or drop latency_ms from report.columns")
    device, name = devices[0]
    return {"device": device, "device_name": name,
            "threads": _ordered_unique(int(t) for t in measured["latency_threads"] if pd.notna(t)),
            "input_sizes": _ordered_unique(s for s in measured["latency_input_size"] if s)}


class _Layout:
    """Sections, their rows and the column groups, in the order the spec lists them."""

    def __init__(self, frame: pd.DataFrame):
        self.sections: dict = {}
        self.paper_baselines: dict = {}
        self.paper_datasets: dict = {}
        self.run_ids: dict = {}
        self.states: dict = {}
        for rec in frame.itertuples(index=False):
            section, group, column = _value(rec.section), rec.group, _value(rec.column)
            rows = self.sections.setdefault(section, [])
            if group not in rows:
                rows.append(group)
            self.paper_baselines.setdefault(section, set()).add(rec.paper_baseline)
            self.paper_datasets.setdefault(column, set()).add(rec.paper_dataset)
            ids = self.run_ids.setdefault((section, group), [])
            if rec.id not in ids:
                ids.append(rec.id)
                if rec.state != "done":
                    self.states.setdefault((section, group), Counter())[rec.state] += 1
        self.groups = _ordered_unique(_value(c) for c in frame["column"]) or [None]


def _columns(metrics: list[str], groups: list, shared: dict[str, str]) -> list[Column]:
    """One column per metric and column value; a metric the paper prints once per row (``shared``:
    metric -> the column value it was measured on) comes first, once."""
    if groups == [None]:
        return [Column(metric, None, None) for metric in metrics]
    columns = [Column(m, shared[m], _group_title(shared[m]), shared=True) for m in metrics if m in shared]
    columns += [Column(m, g, _group_title(g)) for g in groups for m in metrics if m not in shared]
    return columns


def _gain(cell: Cell, base: Cell, metric: str) -> None:
    if cell.ours is not None and base.ours is not None:
        cell.gain = cell.ours - base.ours
        if cell.n >= 2 or base.n >= 2:
            cell.gain_noise = math.hypot(cell.std or 0.0, base.std or 0.0)
            cell.gain_shown = abs(cell.gain) > cell.gain_noise
            cell.gain_rule = "seeds"
        else:
            cell.gain_shown = cell.gain != 0  # single seed: drawn, and the caption says so
            cell.gain_rule = "single"
    if cell.paper is not None and base.paper is not None:
        cell.paper_gain = cell.paper - base.paper
    if metric not in ACCURACY_METRICS:
        cell.gain_shown = False


class _Builder:
    """Fills the cells of one table: ours from the seed statistics, paper from its match."""

    def __init__(self, columns: list[Column], layout: _Layout, stats: dict, latency: dict | None,
                 match: PaperMatch | None):
        self.columns, self.layout, self.stats, self.match = columns, layout, stats, match
        # Our latency (CPU) minus the paper's (V100) would be a device comparison, not a reproduction.
        self.latency_comparable = latency is not None and latency.get("device") == "cuda"

    def paper_cells(self, matched: MatchedRow | None) -> list[Cell]:
        cells = []
        for column in self.columns:
            value, mode = matched.numbers[(column.metric, column.group)] if matched else (None, None)
            cells.append(Cell(paper=value, paper_eval=mode if value is not None and column.metric in ACCURACY_METRICS
                              else None))
        return cells

    def spec_row(self, section, label) -> tuple[int, Row]:
        """(position in the paper's block, or -1, row) for one of the spec's rows."""
        matched = self.match.rows[(section, label)] if self.match else None
        cells = self.paper_cells(matched)
        for cell, column in zip(cells, self.columns):
            got: SeedStats | None = self.stats.get(cell_key(section, label, column.group), {}).get(column.metric)
            if got is not None:
                cell.ours, cell.std, cell.n, cell.n_expected = got.mean, got.std, got.n, got.n_expected
            if (cell.ours is not None and cell.paper is not None
                    and (column.metric != "latency_ms" or self.latency_comparable)):
                cell.delta = cell.ours - cell.paper
        prow = matched.row if matched else None
        row = Row(section, label, cells, paper_source=prow.source if prow else None,
                  paper_eval_note=prow.eval_note or None if prow else None,
                  run_ids=self.layout.run_ids.get((section, label), []),
                  states=dict(self.layout.states.get((section, label), {})))
        return (matched.order if matched else -1), row

    def insert_paper_only(self, section, section_rows: list) -> None:
        """Add the paper-only rows of this block where the paper prints them."""
        for _, label, matched in (self.match.paper_only.get(section, []) if self.match else []):
            # after the last row the paper prints before it
            position = max((i + 1 for i, (o, _) in enumerate(section_rows) if 0 <= o < matched.order),
                           default=len(section_rows))
            section_rows.insert(position, (matched.order, Row(section, label, self.paper_cells(matched),
                                                              paper_only=True, paper_source=matched.row.source,
                                                              paper_eval_note=matched.row.eval_note or None)))


def _unused_request_error(spec, paper: PaperTable | None, label: str, key: str) -> UserError:
    where = dict(file=spec.path, key=key)
    if paper is None:
        return UserError(f"paper-only row '{label}' but the spec names no paper table to take it from", **where,
                         fix="set report.paper_table (or paper_table) to the paper's table number, or drop the row")
    return UserError(f"paper-only row '{label}' is not in the paper's {paper.title.split(':')[0]}", **where,
                     fix="use a row name of that table as printed in the paper (see ssa_bench/vocabulary/paper_numbers.yaml)")


def _ranked(section_rows: list, columns, metric: str | None) -> list:
    """The section's rows, best mean of ``metric`` first (its first column; lower is better for
    cost metrics), rows without a value (paper-only, not run yet) last in spec order; each run
    row gets its rank. Unchanged without ``metric``."""
    if not metric:
        return section_rows
    index = next((i for i, c in enumerate(columns) if c.metric == metric), None)
    if index is None:
        return section_rows
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    with_value = [(pos, row) for pos, row in section_rows if row.cells[index].ours is not None]
    without = [(pos, row) for pos, row in section_rows if row.cells[index].ours is None]
    with_value.sort(key=lambda item: sign * item[1].cells[index].ours)
    for rank, (_, row) in enumerate(with_value, start=1):
        row.rank = rank
    return with_value + without


def _decimals(paper: PaperTable | None, report: dict) -> dict[str, int]:
    """The paper's own decimals, then the spec's ``report.decimals`` over them (the user's word
    last); metrics named by neither print with their vocabulary default."""
    return {**(dict(paper.decimals) if paper else {}), **dict(report.get("decimals") or {})}


def build_table(spec, frame: pd.DataFrame, paper_numbers: PaperNumbers | None = None) -> ReportTable:
    """The report table of a spec from its gathered runs (see `gather`), in order: the spec's report
    block, the runs' layout and seed statistics, the paper's side (one match), then the rows."""
    report = dict(spec.report or {})
    metrics = _spec_metrics(spec, report)
    requests = _paper_only_requests(spec, report)
    intervals = interval_mode(report, str(spec.path or "") or None)
    layout = _Layout(frame)
    latency = _latency_facts(spec, frame) if "latency_ms" in metrics else None
    stats = aggregate_seeds(frame, metrics)
    numbers = paper_numbers or load_paper_numbers()
    paper_name = report.get("paper_table") or spec.paper_table
    paper: PaperTable | None = numbers.table(paper_name) if paper_name is not None else None
    match = paper.match({section: (labels, layout.paper_baselines[section]) for section, labels in layout.sections.items()},
                        {g: layout.paper_datasets.get(g, set()) for g in layout.groups},
                        metrics, requests) if paper is not None else None
    build = _Builder(_columns(metrics, layout.groups, match.shared if match else {}), layout, stats, latency, match)
    rows: list[Row] = []
    baseline_rows: dict = {}
    for section, labels in layout.sections.items():
        section_rows = [build.spec_row(section, label) for label in labels]
        build.insert_paper_only(section, section_rows)
        baseline_label = report.get("baseline_row") if report.get("baseline_row") in labels else labels[0]
        baseline_rows[section] = baseline_label
        base = next(row for _, row in section_rows if row.label == baseline_label and not row.paper_only)
        base.is_baseline = True
        for _, row in section_rows:
            if row is not base:
                for cell, base_cell, column in zip(row.cells, base.cells, build.columns):
                    _gain(cell, base_cell, column.metric)
        ranked = _ranked(section_rows, build.columns, report.get("rank_by"))
        rows.extend(row for _, row in ranked)
    for label, _, key in requests:
        if match is None or key not in match.used:
            raise _unused_request_error(spec, paper, label, key)
    return ReportTable(
        name=str(spec.name), title=str(spec.title or spec.name),
        caption=report.get("caption"), profile=str(spec.profile), columns=build.columns,
        rows=rows, paper=paper, paper_name=str(paper_name) if paper_name is not None else "",
        baseline_rows=baseline_rows, rank_by=report.get("rank_by"), intervals=intervals,
        decimals=_decimals(paper, report), latency=latency,
        ours_baselines=_ordered_unique(b for b in frame["baseline"] if b),
        ours_datasets=_ordered_unique(d for d in frame["dataset"] if d),
        spec_path=str(spec.path or "") or None,
        ours_eval_modes=_ordered_unique(m for m in frame.get("eval_mode", []) if isinstance(m, str)),
        ours_eval_windows={d: w for d, w in zip(frame["dataset"], frame.get("eval_window", [None] * len(frame)))
                           if isinstance(d, str) and isinstance(w, str)},
        paper_eval_source=numbers.eval_source if paper is not None else "")
