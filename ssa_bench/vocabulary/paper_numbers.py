"""The paper's transcribed numbers (paper_numbers.yaml) and how a spec row finds its number.

A spec names things its own way ("SSA (Ours)" under a section "seaformer_l", a column "ade20k");
the paper file names them the paper's way. Matching is by normalised text against a name and its
aliases, plus the run's paper-scale baseline and dataset (which survive the cpu-demo profile's
mapping), so a spec author never has to copy keys out of this file. A report table reads its
whole paper side in one call (``PaperTable.match``: the block, row, group and number of each of its
sections, rows and cells, and the paper-only rows it asked for).

Each number also carries how the paper tested it (``PaperTable.eval_mode(row, group)``): the file's
``evaluation.default`` (single-scale, Sec. 4.2) unless a row marks it otherwise (``eval_mode``, with
an ``eval_note`` saying where the exception comes from).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ssa_bench.validation.yaml_file import read_yaml
from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.vocabulary.protocol import EVAL_MODES, SINGLE_SCALE
from ssa_bench.errors import DataError

PAPER_NUMBERS_PATH = Path(__file__).with_name("paper_numbers.yaml")

_IGNORED_CHARACTERS = re.compile(r"[\s_{}$\\]+")


def normalize(text: object) -> str:
    """Spelling-insensitive key: case, spaces and LaTeX braces do not matter ("Softmax_{HW}" == "softmax HW")."""
    return _IGNORED_CHARACTERS.sub("", str(text)).lower()


def table_key(value: object) -> str | None:
    """3, "3", "Table 3", "table3" -> "table3"; None stays None."""
    if value is None:
        return None
    text = normalize(value)
    if text.isdigit():
        return f"table{int(text)}"
    return text


@dataclass(frozen=True)
class PaperRow:
    table: str
    section: str | None
    label: str
    source: str
    aliases: tuple[str, ...] = ()
    values: dict = field(default_factory=dict)         # metric -> number, whole row
    groups: dict = field(default_factory=dict)         # group -> metric -> number
    printed_gains: dict = field(default_factory=dict)  # group (or "") -> metric -> gain as printed
    eval_modes: dict = field(default_factory=dict)     # group (or "" for the whole row) -> evaluation mode
    eval_note: str = ""                                # where an evaluation exception comes from

    def names(self) -> set[str]:
        return {normalize(self.label), *(normalize(a) for a in self.aliases)}


@dataclass(frozen=True)
class PaperSection:
    name: str | None
    baseline: str | None
    aliases: tuple[str, ...]
    rows: tuple[PaperRow, ...]

    def names(self) -> set[str]:
        names = {normalize(a) for a in self.aliases}
        if self.name:
            names.add(normalize(self.name))
        if self.baseline:
            names.add(normalize(self.baseline))
        return names

    def row(self, label: str) -> PaperRow | None:
        key = normalize(label)
        exact = [r for r in self.rows if normalize(r.label) == key]
        if exact:
            return exact[0]
        aliased = [r for r in self.rows if key in r.names()]
        return aliased[0] if len(aliased) == 1 else None


@dataclass(frozen=True)
class MatchedRow:
    """One paper row a report table shows: where the paper prints it in its block, and its numbers."""
    row: PaperRow
    order: int              # position in the paper's block
    numbers: dict           # (metric, the table's column value) -> (the paper's number or None, its eval mode)


@dataclass(frozen=True)
class PaperMatch:
    """A report table's layout read against one paper table, in one pass (``PaperTable.match``)."""
    shared: dict            # metric printed once per row -> the table's column value it was measured on
    rows: dict              # (section, label) of the spec's rows -> MatchedRow, or None where the paper has none
    paper_only: dict        # section -> [(request key, label, MatchedRow)] to show with the paper's numbers only
    used: frozenset         # the request keys the paper has a row for (in some section)


@dataclass(frozen=True)
class PaperTable:
    key: str
    title: str
    note: str
    sections: tuple[PaperSection, ...]
    dataset: str | None = None           # Tables 3-8: the one dataset every number is on
    baseline: str | None = None
    latency_device: str | None = None
    shared_metrics: dict = field(default_factory=dict)  # metric -> group it was measured on
    decimals: dict = field(default_factory=dict)
    eval_mode_default: str = SINGLE_SCALE               # the mode of every number not marked otherwise

    def section(self, name: str | None, paper_baselines: set[str] = frozenset()) -> PaperSection | None:
        """The paper block a spec section means: by the runs' paper baseline first, then by name."""
        if len(self.sections) == 1 and self.sections[0].name is None:
            return self.sections[0]
        by_baseline = [s for s in self.sections if s.baseline and s.baseline in paper_baselines]
        if len(by_baseline) == 1:
            return by_baseline[0]
        if name is None:
            return None
        key = normalize(name)
        named = [s for s in self.sections if s.name and normalize(s.name) == key]
        if not named:
            named = [s for s in self.sections if key in s.names()]
        return named[0] if len(named) == 1 else None

    def group(self, column: str | None, paper_datasets: set[str] = frozenset()) -> str | None:
        """The paper's column group (a catalog dataset name) for a spec's column value."""
        if column is None:
            return None
        known = {g for s in self.sections for r in s.rows for g in r.groups}
        if self.dataset:
            known.add(self.dataset)
        key = normalize(column)
        for name in sorted(known):
            title = DATASETS[name].title if name in DATASETS else name
            if key in (normalize(name), normalize(title)):
                return name
        matches = known & set(paper_datasets)
        return next(iter(matches)) if len(matches) == 1 else None

    def match(self, sections: dict, groups: dict, metrics: list, requests: list) -> PaperMatch:
        """The paper's side of a report table. ``sections``: section -> (its row labels, the runs'
        paper baselines); ``groups``: the table's column values in order (None when it does not pivot)
        -> the runs' paper datasets; ``requests``: (label, section or None, key) of the rows asked for
        with the paper's numbers only. A paper-only row the spec runs itself is not repeated."""
        paper_groups = {value: self.group(value, datasets) for value, datasets in groups.items()}
        shared = {}
        if list(groups) != [None]:
            for metric in metrics:
                measured_on = self.shared_metrics.get(metric)
                if measured_on:
                    matching = [g for g in groups if paper_groups[g] == measured_on]
                    shared[metric] = matching[0] if matching else list(groups)[0]

        def matched(block: PaperSection, row: PaperRow) -> MatchedRow:
            numbers = {(metric, value): (self.value(row, metric, group), self.eval_mode(row, group))
                       for metric in metrics for value, group in paper_groups.items()}
            return MatchedRow(row, block.rows.index(row), numbers)

        rows, paper_only, used = {}, {}, set()
        for section, (labels, baselines) in sections.items():
            block = self.section(section, baselines)
            for label in labels:
                row = block.row(label) if block else None
                rows[(section, label)] = matched(block, row) if row is not None else None
            if block is None:
                continue
            shown = {rows[(section, label)].row.source for label in labels if rows[(section, label)]}
            for label, wanted, key in requests:
                if wanted is not None and normalize(wanted) != normalize(section) and normalize(wanted) not in block.names():
                    continue
                row = block.row(label)
                if row is None:
                    continue
                used.add(key)
                if row.source not in shown:
                    shown.add(row.source)
                    paper_only.setdefault(section, []).append((key, label, matched(block, row)))
        return PaperMatch(shared, rows, paper_only, frozenset(used))

    def eval_mode(self, row: PaperRow, group: str | None) -> str:
        """How the paper's numbers of `row` in column group `group` were tested (single-scale unless
        the file marks the row or the group otherwise)."""
        if group is not None and group in row.eval_modes:
            return row.eval_modes[group]
        return row.eval_modes.get("", self.eval_mode_default)

    def value(self, row: PaperRow, metric: str, group: str | None) -> float | None:
        """The paper's number for a metric in a column group; row-wide numbers hold for every group."""
        if group is not None and metric in row.groups.get(group, {}):
            return float(row.groups[group][metric])
        if metric not in row.values:
            return None
        if group is not None and self.dataset and group != self.dataset:
            return None
        return float(row.values[metric])


@dataclass(frozen=True)
class PaperNumbers:
    paper: str
    tables: dict[str, PaperTable]
    eval_mode_default: str = SINGLE_SCALE
    eval_source: str = ""                 # where the paper states its evaluation protocol

    def table(self, key: object) -> PaperTable | None:
        return self.tables.get(table_key(key) or "")

    def gflops(self, baseline: str, dataset: str) -> tuple[float, float] | None:
        """(without SSA, with SSA) GFLOPs of a paper baseline on a dataset as Tables 1-2 print
        them; None where the paper gives none (a model it does not list, or Table 2's models on
        another dataset than ADE20K, the one its GFLOPs column was measured on)."""
        for table in (self.tables.get("table1"), self.tables.get("table2")):
            for section in table.sections if table else ():
                ssa = section.row("SSA (Ours)")
                if section.baseline != baseline or ssa is None:
                    continue
                if table.shared_metrics.get("gflops", dataset) != dataset:
                    continue                      # printed once per row, measured on another dataset
                numbers = [table.value(row, "gflops", dataset) for row in (section.rows[0], ssa)]
                if None not in numbers:
                    return numbers[0], numbers[1]
        return None


def _fail(path: Path, key: str, message: str) -> DataError:
    return DataError(message, file=str(path), key=key, fix="fix the entry; the layout is described at the top of the file")


def _numbers(path: Path, key: str, mapping: object) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise _fail(path, key, "expected a mapping of metric -> number")
    for metric, number in mapping.items():
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            raise _fail(path, f"{key}.{metric}", f"expected a number, got {number!r}")
    return dict(mapping)


def _mode(path: Path, key: str, value: object) -> str:
    if value not in EVAL_MODES:
        raise _fail(path, key, f"unknown evaluation mode {value!r} (use one of: {', '.join(EVAL_MODES)})")
    return str(value)


def _eval_modes(path: Path, key: str, raw: object, groups: dict) -> dict:
    """A row's `eval_mode`: one mode for the whole row ("" key), or group -> mode."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return {"": _mode(path, key, raw)}
    for group in raw:
        if group not in groups:
            raise _fail(path, f"{key}.{group}", f"eval_mode for group '{group}', which the row has no numbers for")
    return {str(g): _mode(path, f"{key}.{g}", m) for g, m in raw.items()}


def _parse_row(path: Path, table: str, section: str | None, key: str, raw: dict) -> PaperRow:
    for required in ("label", "source"):
        if not raw.get(required):
            raise _fail(path, f"{key}.{required}", f"missing '{required}'")
    groups = {g: _numbers(path, f"{key}.groups.{g}", m) for g, m in (raw.get("groups") or {}).items()}
    gains = {g: _numbers(path, f"{key}.printed_gains.{g}", m) for g, m in (raw.get("printed_gains") or {}).items()}
    return PaperRow(table=table, section=section, label=str(raw["label"]), source=str(raw["source"]),
                    aliases=tuple(str(a) for a in raw.get("aliases") or ()),
                    values=_numbers(path, f"{key}.values", raw.get("values")), groups=groups,
                    printed_gains=gains, eval_modes=_eval_modes(path, f"{key}.eval_mode", raw.get("eval_mode"), groups),
                    eval_note=str(raw.get("eval_note") or ""))


def _parse_table(path: Path, key: str, raw: dict, eval_mode_default: str = SINGLE_SCALE) -> PaperTable:
    sections = []
    for s_index, s_raw in enumerate(raw.get("sections") or ()):
        s_key = f"tables.{key}.sections[{s_index}]"
        name = s_raw.get("name")
        rows = tuple(_parse_row(path, key, name, f"{s_key}.rows[{r_index}]", r_raw)
                     for r_index, r_raw in enumerate(s_raw.get("rows") or ()))
        if not rows:
            raise _fail(path, f"{s_key}.rows", "a section without rows")
        sections.append(PaperSection(name=name, baseline=s_raw.get("baseline"),
                                     aliases=tuple(str(a) for a in s_raw.get("aliases") or ()), rows=rows))
    if not sections:
        raise _fail(path, f"tables.{key}.sections", "a table without sections")
    return PaperTable(key=key, title=str(raw.get("title", key)), note=str(raw.get("note", "")),
                      sections=tuple(sections), dataset=raw.get("dataset"), baseline=raw.get("baseline"),
                      latency_device=raw.get("latency_device"),
                      shared_metrics=dict(raw.get("shared_metrics") or {}),
                      decimals=dict(raw.get("decimals") or {}),
                      eval_mode_default=_mode(path, f"tables.{key}.eval_mode", raw["eval_mode"])
                      if raw.get("eval_mode") is not None else eval_mode_default)


def load_paper_numbers(path: str | Path | None = None) -> PaperNumbers:
    """Parse and check the paper-numbers file (the packaged one by default; cached)."""
    return _load(Path(path) if path else PAPER_NUMBERS_PATH)


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> PaperNumbers:
    try:
        raw = read_yaml(path, error=DataError, what="paper-numbers file")
    except DataError as error:           # the packaged file: whatever is wrong, git has it right
        raise DataError(f"cannot read the paper numbers: {error.message}", file=error.file, key=error.key,
                        fix="restore the file from git") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), dict):
        raise _fail(path, "tables", "expected a top-level 'tables' mapping")
    evaluation = raw.get("evaluation") or {}
    if not isinstance(evaluation, dict):
        raise _fail(path, "evaluation", "expected a mapping with default: and source:")
    default = _mode(path, "evaluation.default", evaluation.get("default", SINGLE_SCALE))
    tables = {table_key(k): _parse_table(path, table_key(k), v, default) for k, v in raw["tables"].items()}
    return PaperNumbers(paper=str(raw.get("paper", "")), tables=tables, eval_mode_default=default,
                        eval_source=str(evaluation.get("source") or ""))
