"""The ``report:`` block checked when a spec is planned, not after its runs trained.

Every name the report would look up later -- a metric in ``columns``/``decimals``/``rank_by``,
the ``baseline_row``, the paper's table and its paper-only rows, the keys ``columns:`` and
``sections:`` pivot on -- is resolved here, so ``plan`` and ``run`` refuse a table that
``report`` could not draw. The metric names come from ``ssa_bench.vocabulary.metrics``.
"""
from __future__ import annotations

from ssa_bench.errors import SpecError
from ssa_bench.vocabulary.spec_keys import closest
from ssa_bench.vocabulary.metrics import METRICS

MAX_DECIMALS = 6
# How Markdown, the terminal and LaTeX show a cell's bootstrap interval over test images
# (docs/statistics.md): not at all, as [low, high], or as ± its half-width. CSV always carries it.
INTERVAL_MODES = ("off", "ci", "pm")


def _metric(name, file: str, key: str) -> None:
    if name not in METRICS:
        raise SpecError(f"unknown metric '{name}'", file=file, key=key,
                        fix=f"{closest(str(name), METRICS)}use one of: {', '.join(METRICS)}")


def interval_mode(report: dict, file: str | None = None) -> str:
    """``report.intervals`` as one of INTERVAL_MODES ("off" when absent; YAML's bare ``off`` is false)."""
    value = report.get("intervals", "off")
    value = "off" if value is False else value
    if value not in INTERVAL_MODES:
        raise SpecError(f"unknown intervals mode {value!r}", file=file, key="report.intervals",
                        fix=f"{closest(str(value), INTERVAL_MODES)}use one of: {', '.join(INTERVAL_MODES)}")
    return value


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
    columns = report.get("columns") or []
    for index, metric in enumerate(columns):
        _metric(metric, file, f"report.columns[{index}]")
    if "rank_by" in report:
        _metric(report["rank_by"], file, "report.rank_by")
    for metric, places in (report.get("decimals") or {}).items():
        _metric(metric, file, f"report.decimals.{metric}")
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= MAX_DECIMALS:
            raise SpecError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, got {places!r}", file=file,
                            key=f"report.decimals.{metric}", fix="write e.g. mIoU: 1")
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
