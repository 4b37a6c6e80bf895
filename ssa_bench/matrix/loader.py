"""``load_spec(path, profile, overrides) -> Spec``: read, validate, expand and resolve a matrix --
the steps in order: the document checked (``spec_checks``), its rows expanded (``expand``), the
profile and ``--set`` applied (``profiles``, ``overrides``), each row resolved to a run config
(``resolve``) whose hash is its id (``run``), the report block checked (``report_settings``).

The result holds one :class:`~ssa_bench.matrix.run.Run` per table cell to fill -- a row label, its section and column,
a seed, and the fully resolved run config whose hash is the run's id (``ssa_bench.matrix.run``).
Nothing here imports torch: ``plan`` and ``status`` must answer in well under a second.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path


from ssa_bench.errors import SpecError
from ssa_bench.matrix.expand import expand, get_path, set_path
from ssa_bench.matrix.overrides import parse_overrides
from ssa_bench.matrix.profiles import apply_profile
from ssa_bench.matrix.report_settings import check_pivot_key, check_report
from ssa_bench.matrix.resolve import forget_pretrained, resolve_config
from ssa_bench.matrix.run import Run, run_id
from ssa_bench.matrix.spec_checks import (check_axes, check_datasets, check_matrix_size, check_top,
                                          read_spec_document, validate_paper_only, validate_values)
from ssa_bench.vocabulary.names import BASELINES
from ssa_bench.vocabulary.profiles import PROFILES

REPO_EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@dataclass(frozen=True)
class SpecRow:
    """A row as the report lists it (paper-only rows included)."""
    label: str
    section: str | None = None
    paper_only: bool = False


@dataclass
class Spec:
    name: str
    title: str
    path: str
    profile: str
    report: dict
    paper_table: str | None
    rows: list[SpecRow]
    runs: list[Run] = field(default_factory=list)
    datasets: dict = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)   # the --set KEY=VALUE it was loaded with


def resolve_path(path: str) -> Path:
    candidates = [Path(path), Path("experiments") / path, REPO_EXPERIMENTS / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if Path(path).exists():          # a directory, a socket...: say what it is, not "not found"
        return Path(path)
    raise SpecError(f"spec file not found: {path}", file=path, key="SPEC",
                    fix="give a path to a YAML file, or one under experiments/ (e.g. tables/table3.yaml)")


def _section_name(key: str | None, values: dict, axis_values: dict):
    if not key:
        return values.get("section")
    value = axis_values.get(key, get_path(values, key))
    if key == "baseline" and value in BASELINES:
        info = BASELINES[value]
        return info.title if info.title == info.backbone else f"{info.title} ({info.backbone})"
    return None if value is None else str(value)


def load_spec(path: str, profile: str = "paper", overrides=()) -> Spec:
    if profile not in PROFILES:
        raise SpecError(f"unknown profile '{profile}'", key="--profile",
                        fix=f"use one of: {', '.join(PROFILES)}")
    file_path = resolve_path(path)
    forget_pretrained()
    file = str(file_path)
    spec_path = os.path.relpath(file) if not os.path.isabs(path) else file
    doc = read_spec_document(file_path)
    parsed = parse_overrides(overrides)
    for item in parsed:
        if item.top_level:
            set_path(doc, item.key, item.value)
    check_top(doc, file)
    datasets = check_datasets(doc.get("datasets"), file)
    axes = check_axes(doc.get("axes"), file, "axes")
    zipped = check_axes(doc.get("zip"), file, "zip")
    check_matrix_size(doc, axes, zipped, file)
    expanded = expand(doc.get("base") or {}, doc.get("rows") or [], axes, zipped,
                      doc.get("include") or [], doc.get("exclude") or [], file)
    rows_for_report: list[SpecRow] = []
    listed: set[SpecRow] = set()
    runs: list[Run] = []
    seen: dict = {}
    columns_key, sections_key = doc.get("columns"), doc.get("sections")
    for index, row in enumerate(expanded):
        label = str(row.values.get("label") or doc.get("name") or file_path.stem)
        section = _section_name(sections_key, row.values, row.axis_values) or row.values.get("section")
        if row.values.get("paper_only"):
            validate_paper_only(row.values, file, row.origin, datasets)
            rows_for_report.append(SpecRow(label, section, True))
            continue
        validate_values(row.values, file, row.origin, datasets)
        extra = [f"{k.split('.')[-1]}={v}" for k, v in row.axis_values.items() if k not in (columns_key, sections_key)]
        if extra:
            label = f"{label} ({', '.join(extra)})"
        column = row.axis_values.get(columns_key, get_path(row.values, columns_key)) if columns_key else None
        values = apply_profile(row.values, profile)
        for item in parsed:
            if not item.top_level:
                set_path(values, item.key, copy.deepcopy(item.value))
        if parsed:
            validate_values(values, file, "--set", datasets)
        for seed in doc.get("seeds") or [values.get("seed", 0)]:
            values["seed"] = seed
            key = (section, label, None if column is None else str(column), seed)
            if key in seen:
                raise SpecError(f"duplicate row '{label}'" + (f" in section '{section}'" if section else "")
                                + (f" for column '{column}'" if column is not None else "") + f", seed {seed}",
                                file=file, key=row.origin,
                                fix=f"give it a label different from {seen[key]}, or drop one of the two")
            seen[key] = row.origin
            config = resolve_config(values, datasets)
            runs.append(Run(id=run_id(config), label=label, group=label, section=section,
                            column=None if column is None else str(column), seed=int(seed), row_index=index,
                            config=config, spec_name=spec_path, paper_baseline=row.values["baseline"],
                            paper_dataset=row.values["dataset"], slurm=copy.deepcopy(values.get("slurm")),
                            origin=row.origin))
        if SpecRow(label, section) not in listed:
            listed.add(SpecRow(label, section))
            rows_for_report.append(SpecRow(label, section))
    if not runs:
        raise SpecError("the matrix expands to no runs", file=file, key="rows",
                        fix="add rows, or loosen exclude: rules")
    report = dict(doc.get("report") or {})
    check_pivot_key(doc, file)
    labels = {row.label for row in rows_for_report} | {row.values.get("label") for row in expanded}
    paper_only = [row.origin for row in expanded if row.values.get("paper_only")]
    check_report(doc, report, {str(label) for label in labels if label}, paper_only, file)
    paper_table = report.get("paper_table", doc.get("paper_table"))
    if paper_table is not None:
        paper_table = str(paper_table)
        paper_table = paper_table if paper_table.startswith("table") else f"table{paper_table}"
        report["paper_table"] = paper_table
    return Spec(name=str(doc.get("name") or file_path.stem), title=str(doc.get("title") or ""),
                path=spec_path, profile=profile,
                report=report, paper_table=paper_table, rows=rows_for_report, runs=runs,
                datasets=datasets, overrides=[str(item) for item in overrides])
