"""The ``report:`` block checked when a spec is planned, not after its runs trained.

Every name the report would look up later -- a metric in ``columns``/``decimals``/``rank_by``,
the ``baseline_row``, the paper's table and its paper-only rows, the keys ``columns:`` and
``sections:`` pivot on -- is resolved here, so ``plan`` and ``run`` refuse a table that
``report`` could not draw. The metric names come from ``ssa_bench.vocabulary.metrics``.
"""
from __future__ import annotations

from ssa_bench.errors import SpecError
from ssa_bench.validation.rules import Field, check_field, reported_as
from ssa_bench.vocabulary.spec_keys import closest
from ssa_bench.vocabulary.metrics import METRICS

MAX_DECIMALS = 6
# How Markdown, the terminal and LaTeX show a cell's bootstrap interval over test images
# (docs/statistics.md): not at all, as [low, high], or as ± its half-width. CSV always carries it.
INTERVAL_MODES = ("off", "ci", "pm")

# The report block's values, as rules of the one validation engine.
METRIC = Field(str, choices=METRICS, noun="metric")
DECIMALS = Field(int, at_least=0, at_most=MAX_DECIMALS, example="mIoU: 1",
                 what=f"a whole number of decimals from 0 to {MAX_DECIMALS}, e.g. mIoU: 1")
# YAML reads a bare on/off as true/false: off is mapped above, and on is refused as a mode, not as a type.
INTERVALS = Field((str, bool), choices=INTERVAL_MODES, noun="intervals mode")


def interval_mode(report: dict, file: str | None = None) -> str:
    """``report.intervals`` as one of INTERVAL_MODES ("off" when absent; YAML's bare ``off`` is false)."""
    value = report.get("intervals", "off")
    value = "off" if value is False else value
    with reported_as(SpecError, file):
        return check_field(value, INTERVALS, "report.intervals")


def check_pivot_key(doc: dict, file: str) -> None:
    """``columns:`` / ``sections:`` name a run key (dataset, baseline, train.lr, ...)."""
    from ssa_bench.matrix.values import every_key

    for name in ("columns", "sections"):
        key = doc.get(name)
        if key is None:
            continue
        known = every_key() + [f"ssa.{k}" for k in _ssa_fields()]
        if key not in known and not str(key).startswith(("cfg.", "classifier.")):
            raise SpecError(f"'{key}' names no run key", file=file, key=name,
                            fix=f"{closest(str(key), known)}use a run key such as dataset or baseline")


def _ssa_fields():
    from ssa_bench.classifier_settings.ssa import SSASettings

    return SSASettings.field_names()


def check_report(doc: dict, report: dict, labels: set[str], paper_only_rows: list[str], file: str) -> None:
    """``labels``: every row label of the expanded matrix; ``paper_only_rows``: key paths of rows
    with ``paper_only: true``."""
    with reported_as(SpecError, file):
        for index, metric in enumerate(report.get("columns") or []):
            check_field(metric, METRIC, f"report.columns[{index}]")
        if "rank_by" in report:
            check_field(report["rank_by"], METRIC, "report.rank_by")
        for metric, places in (report.get("decimals") or {}).items():
            check_field(metric, METRIC, f"report.decimals.{metric}")
            check_field(places, DECIMALS, f"report.decimals.{metric}")
    interval_mode(report, file)
    baseline_row = report.get("baseline_row")
    if baseline_row is not None and baseline_row not in labels:
        raise SpecError(f"baseline_row '{baseline_row}' names no row", file=file, key="report.baseline_row",
                        fix=f"{closest(str(baseline_row), labels)}use a row label of this spec")
    paper_name = report.get("paper_table", doc.get("paper_table"))
    paper = _paper_table(paper_name, file) if paper_name is not None else None
    requests = report.get("paper_only_rows") or []
    if (requests or paper_only_rows) and paper_name is None:
        where = "report.paper_only_rows" if requests else paper_only_rows[0]
        raise SpecError("paper-only rows but no paper table to take their numbers from", file=file, key=where,
                        fix="set paper_table: (e.g. 2) or drop the paper-only rows")
    for index, item in enumerate(requests):
        key = f"report.paper_only_rows[{index}]"
        label = item if isinstance(item, str) else item.get("label") if isinstance(item, dict) else None
        if not label:
            raise SpecError("a paper-only row needs a label", file=file, key=key,
                            fix="write the paper's row name, e.g. 'DNC', or {label: DNC, section: ...}")
        if paper is not None and not _paper_has_row(paper, str(label)):
            raise SpecError(f"paper-only row '{label}' is not in the paper's {paper_name}", file=file, key=key,
                            fix="use a row name of that table as printed (ssa_bench/vocabulary/paper_numbers.yaml)")


def _paper_table(name, file: str):
    # The paper's numbers are data of the report stage; loading them (YAML, no torch) is what
    # lets plan refuse a table name report would not find.
    from ssa_bench.vocabulary.paper_numbers import load_paper_numbers, table_key

    numbers = load_paper_numbers()
    table = numbers.table(name)
    if table is None:
        known = sorted(numbers.tables)
        raise SpecError(f"unknown paper table '{name}'", file=file, key="paper_table",
                        fix=f"{closest(str(table_key(name)), known)}use one of: {', '.join(known)}")
    return table


def _paper_has_row(table, label: str) -> bool:
    return any(section.row(label) is not None for section in table.sections)


__all__ = ["INTERVAL_MODES", "interval_mode", "check_pivot_key", "check_report"]
