"""``load_spec(path, profile, overrides) -> Spec``: read, validate, expand and resolve a matrix.

The result holds one :class:`~ssa_bench.matrix.run.Run` per table cell to fill -- a row label, its section and column,
a seed, and the fully resolved run config whose hash is the run's id (``ssa_bench.matrix.run``).
Nothing here imports torch: ``plan`` and ``status`` must answer in well under a second.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path


from ssa_bench.vocabulary.names import BASELINES, DATASETS
from ssa_bench.vocabulary.protocol import EVALUATE_DEFAULTS
from ssa_bench.errors import SpecError
from ssa_bench.classifier_settings import SettingsError, resolve_classifier
from ssa_bench.classifier_settings.ssa import DISABLED_BLOCK, SSASettingsError, resolve_settings
from ssa_bench.validation.yaml_file import read_yaml
from ssa_bench.vocabulary import spec_keys as schema
from ssa_bench.matrix.expand import expand, get_path, set_path
from ssa_bench.matrix.overrides import parse_overrides
from ssa_bench.matrix.run import Run, run_id
from ssa_bench.matrix.report_settings import check_pivot_key, check_report
from ssa_bench.matrix.values import check_value
from ssa_bench.matrix.profiles import apply_profile, measure_defaults, train_defaults
from ssa_bench.vocabulary.profiles import PROFILES
from ssa_bench.weights.catalog import check_pretrained, resolve_pretrained

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


def _read_yaml(path: Path) -> dict:
    document = read_yaml(path, error=SpecError, what="YAML spec", arg="SPEC")
    if document is None:
        raise SpecError("the spec file is empty", file=str(path), key="(file)",
                        fix="write at least `base: {baseline: ..., dataset: ...}` and `rows:`")
    if not isinstance(document, dict):
        raise SpecError(f"a spec is a mapping of keys, got a {type(document).__name__}", file=str(path),
                        key="(file)", fix="start the file with keys such as name:, base:, rows:")
    return document


def _check_row_block(block, file: str, where: str, need_label: bool) -> None:
    schema.check_type(block, dict, file, where)
    for key, value in block.items():
        check_value(str(key), value, file, f"{where}.{key}")
    if need_label and not str(block.get("label") or "").strip():
        raise SpecError("a row needs a label", file=file, key=f"{where}.label",
                        fix="add label: with the paper's row name, e.g. label: + SEPA")


def _check_axis_key(key: str, file: str, where: str) -> None:
    parts = key.split(".")
    nested = schema.NESTED
    allowed = set(schema.ROW_KEYS) - {"label", "section", "paper_only"}
    if parts[0] not in allowed:
        raise SpecError(f"unknown axis key '{key}'", file=file, key=f"{where}.{key}",
                        fix=f"{schema.closest(parts[0], allowed)}an axis varies one of: {', '.join(sorted(allowed))}")
    if parts[0] in nested and (len(parts) != 2 or parts[1] not in nested[parts[0]]):
        sub = nested[parts[0]]
        raise SpecError(f"unknown axis key '{key}'", file=file, key=f"{where}.{key}",
                        fix=f"{schema.closest(parts[-1], sub)}{parts[0]} keys: {', '.join(sub)}")


def _check_axes(block, file: str, where: str) -> dict:
    if block is None:
        return {}
    schema.check_type(block, dict, file, where)
    for key, values in block.items():
        _check_axis_key(str(key), file, where)
        if not isinstance(values, list) or not values:
            raise SpecError("an axis needs a non-empty list of values", file=file, key=f"{where}.{key}",
                            fix=f"write e.g. {key}: [a, b]")
        for index, value in enumerate(values):
            _check_axis_value(str(key), value, file, f"{where}.{key}[{index}]")
    return block


def _check_axis_value(key: str, value, file: str, where: str) -> None:
    """One axis value, reported where it is written (axes.seed[1]), not at the row it lands in."""
    check_value(key, value, file, where)
    if key.startswith("ssa."):
        try:
            _resolved_ssa({key.split(".", 1)[1]: value})
        except SSASettingsError as error:
            raise SpecError(error.message, file=file, key=where, fix=error.fix) from None


# Labels are 8-bit PNGs and mmseg ignores label 255: classes 0..254 at most.
MAX_CLASSES = 255


def _check_classes(classes: list, file: str, where: str) -> None:
    if not classes or not all(isinstance(c, str) and c.strip() for c in classes):
        raise SpecError("classes must be a non-empty list of names", file=file, key=where,
                        fix="write classes: [road, car, ...]")
    if len(classes) > MAX_CLASSES:
        raise SpecError(f"{len(classes)} classes is more than {MAX_CLASSES}", file=file, key=where,
                        fix="ADE20K-layout labels are 8-bit PNGs and label 255 means 'ignore': list at most "
                            f"{MAX_CLASSES} classes")
    seen: dict[str, int] = {}
    for index, name in enumerate(classes):
        key = name.strip().casefold()
        if key in seen:
            raise SpecError(f"class '{name}' is listed twice (positions {seen[key]} and {index})", file=file,
                            key=f"{where}[{index}]",
                            fix="each class is one label value: list every class once, in label order")
        seen[key] = index


def _check_datasets(block, file: str) -> dict:
    if block is None:
        return {}
    schema.check_type(block, dict, file, "datasets")
    for name, definition in block.items():
        where = f"datasets.{name}"
        if name in DATASETS:
            raise SpecError(f"inline dataset '{name}' shadows a built-in dataset", file=file, key=where,
                            fix="give your dataset another name")
        schema.check_block(definition, schema.DATASET_KEYS, file, where)     # types, sizes, max_iters
        for required in ("root", "classes"):
            if required not in definition:
                raise SpecError(f"inline dataset needs '{required}'", file=file, key=f"{where}.{required}",
                                fix="give root: (a folder in ADE20K layout) and classes: [names...]")
        _check_classes(definition["classes"], file, f"{where}.classes")
        if not definition["root"].strip():
            raise SpecError("empty dataset root", file=file, key=f"{where}.root",
                            fix="give the folder holding images/ and annotations/")
    return block


def _check_name(name: str, file: str) -> None:
    """The spec's name becomes file and folder names (reports/<name>/<name>.tex): one plain path part."""
    if not name.strip() or name.strip() in (".", "..") or any(c in name for c in "/\\") \
            or any(ord(c) < 32 for c in name):
        raise SpecError(f"name {name!r} cannot be a file name", file=file, key="name",
                        fix="use letters, digits, '-' and '_' (e.g. name: table3_rerun), or drop name: "
                            "to use the file's name")


def _check_top(doc: dict, file: str) -> None:
    schema.check_keys(doc, schema.TOP_KEYS, file, "")
    for key in ("name", "title", "description", "columns", "sections"):
        if key in doc:
            schema.check_type(doc[key], str, file, key)
    if "paper_table" in doc:
        schema.check_type(doc["paper_table"], (str, int), file, "paper_table")
    _check_row_block(doc.get("base") or {}, file, "base", need_label=False)
    for key in ("rows", "include", "exclude"):
        if key in doc:
            schema.check_type(doc[key], list, file, key)
    if doc.get("rows") == []:
        raise SpecError("rows: is an empty list", file=file, key="rows",
                        fix="list the table's rows ({label: ...} each), or drop rows: for one row made of base:")
    if "name" in doc:
        _check_name(doc["name"], file)
    for index, row in enumerate(doc.get("rows") or []):
        _check_row_block(row, file, f"rows[{index}]", need_label=True)
    for index, row in enumerate(doc.get("include") or []):
        _check_row_block(row, file, f"include[{index}]", need_label=True)
    for index, rule in enumerate(doc.get("exclude") or []):
        schema.check_type(rule, dict, file, f"exclude[{index}]")
        if not rule:
            raise SpecError("an empty exclusion {} would drop every row", file=file, key=f"exclude[{index}]",
                            fix="give the keys a dropped row must match, e.g. {label: + SEPA, dataset: ade20k}")
    if "seeds" in doc:
        seeds = doc["seeds"]
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            raise SpecError(f"seeds must be a non-empty list of integers, got {seeds!r}", file=file,
                            key="seeds", fix="write e.g. seeds: [0, 1, 2]")
        for index, seed in enumerate(seeds):
            check_value("seed", seed, file, f"seeds[{index}]")      # [0, 2**32 - 1], as a row's seed
        if len(set(seeds)) != len(seeds):
            raise SpecError(f"seeds repeat a value: {seeds}", file=file, key="seeds", fix="list each seed once")
    if "report" in doc:
        schema.check_block(doc["report"], schema.REPORT_KEYS, file, "report")


def _check_baseline_and_dataset(values: dict, file: str, where: str, datasets: dict, required: bool) -> None:
    baseline, dataset = values.get("baseline"), values.get("dataset")
    if baseline is None and required:
        raise SpecError("no baseline given", file=file, key=f"{where}.baseline",
                        fix=f"set base.baseline to one of: {', '.join(BASELINES)}")
    if baseline is not None and baseline not in BASELINES:
        raise SpecError(f"unknown baseline '{baseline}'", file=file, key=f"{where}.baseline",
                        fix=f"{schema.closest(str(baseline), BASELINES)}use one of: {', '.join(BASELINES)}")
    if dataset is None and required:
        raise SpecError("no dataset given", file=file, key=f"{where}.dataset",
                        fix=f"set base.dataset to one of: {', '.join(DATASETS)}")
    if dataset is not None and dataset not in DATASETS and dataset not in datasets:
        known = list(DATASETS) + list(datasets)
        raise SpecError(f"unknown dataset '{dataset}'", file=file, key=f"{where}.dataset",
                        fix=f"{schema.closest(str(dataset), known)}use one of: {', '.join(known)}, "
                            "or define it under datasets:")


def _check_ssa_block(values: dict, file: str, where: str) -> None:
    try:
        _resolved_ssa(values.get("ssa") or {})
    except SSASettingsError as error:      # the engine's error: its fix has the 'did you mean'
        raise SpecError(error.message, file=file, key=f"{where}.ssa.{error.key}", fix=error.fix) from None


def _validate_paper_only(values: dict, file: str, where: str, datasets: dict) -> None:
    """A paper-only row trains nothing, but what it names must exist: a typo in its baseline or
    ssa: block would otherwise pass unseen (and mislead whoever copies the row into a run)."""
    _check_baseline_and_dataset(values, file, where, datasets, required=False)
    _check_classifier(values, file, where)
    _check_ssa_block(values, file, where)


def _validate_values(values: dict, file: str, where: str, datasets: dict) -> None:
    _check_baseline_and_dataset(values, file, where, datasets, required=True)
    # Every other value of the row was checked where it was written (check_value: rows, axes,
    # --set); what is left needs the row's baseline and its other blocks.
    baseline = values["baseline"]
    train = values.get("train") or {}
    check_pretrained(train.get("pretrained"), baseline, file, f"{where}.train.pretrained")
    _check_classifier(values, file, where)
    _check_ssa_block(values, file, where)


def _check_classifier(values: dict, file: str, where: str) -> None:
    """A ``classifier:`` block: its type and settings (the type's settings module), and not
    a second classifier beside an enabled ``ssa:`` block."""
    block = values.get("classifier")
    if block is None:
        return
    try:
        kind, _ = _resolved_classifier(block)
    except SettingsError as error:
        raise SpecError(error.message, file=file, key=f"{where}.classifier.{error.key}",
                        fix=error.fix) from None
    if kind != "ssa" and (values.get("ssa") or {}).get("enabled"):
        raise SpecError(f"two classifiers: classifier type '{kind}' and an enabled ssa: block",
                        file=file, key=f"{where}.classifier",
                        fix="drop 'ssa: {enabled: true}' from this row, or use classifier: "
                            "{type: ssa, ...} alone")


# Resolved classifier blocks by their content (planning speed, as _RESOLVED_SSA).
_RESOLVED_CLASSIFIERS: dict[str, tuple[str, dict]] = {}


def _resolved_classifier(block) -> tuple[str, dict]:
    """(type, resolved settings dict) of a ``classifier:`` block, memoised."""
    key = _block_key(block)
    resolved = _RESOLVED_CLASSIFIERS.get(key)
    if resolved is None:
        kind, settings = resolve_classifier(block)
        resolved = _RESOLVED_CLASSIFIERS[key] = (kind, settings.to_dict())
    return resolved


def _classifier_blocks(values: dict) -> dict:
    """The run config's ``ssa`` and (for the other types) ``classifier`` entries. ``type: ssa``
    becomes the ``ssa:`` block, so an SSA run has one id whichever way it was written; a run
    without a classifier block has no ``classifier`` key (ids of existing runs unchanged)."""
    block = values.get("classifier")
    if block is None:
        return {"ssa": _ssa_block(values.get("ssa") or {})}
    kind, settings = _resolved_classifier(block)
    if kind == "ssa":
        return {"ssa": _ssa_block({**settings, "enabled": True})}
    return {"ssa": _ssa_block({}), "classifier": {"type": kind, **settings}}


def _section_name(key: str | None, values: dict, axis_values: dict):
    if not key:
        return values.get("section")
    value = axis_values.get(key, get_path(values, key))
    if key == "baseline" and value in BASELINES:
        info = BASELINES[value]
        return info.title if info.title == info.backbone else f"{info.title} ({info.backbone})"
    return None if value is None else str(value)


def _block_key(block) -> str:
    """A memo key of a settings block: its sorted items' repr, several times cheaper than JSON
    at 10,000 runs, and as exact (1, 1.0 and True stay distinct)."""
    return repr(sorted(block.items(), key=lambda item: str(item[0]))) if isinstance(block, dict) else repr(block)


# The run config's train.pretrained per (baseline, spec value): the catalog lookup is a few path
# operations, done once per distinct pair instead of once per run. A relative path is made absolute
# against the working directory, so the memo lives for one load_spec call only.
_PRETRAINED: dict[tuple[str, str], object] = {}


def _pretrained_ref(baseline: str, value):
    key = (baseline, repr(value))
    if key not in _PRETRAINED:
        _PRETRAINED[key] = resolve_pretrained(baseline, value)
    return _PRETRAINED[key]


# Resolved SSA blocks by their content: a 10,000-run matrix has a few distinct blocks, and
# resolving one (type hints of every field) costs ~0.5 ms, most of planning's time at that scale.
_RESOLVED_SSA: dict[str, dict] = {}


def _resolved_ssa(block: dict) -> dict:
    """resolve_settings(block).to_dict(), memoised; raises SSASettingsError as it does."""
    key = _block_key(block)
    settings = _RESOLVED_SSA.get(key)
    if settings is None:
        settings = _RESOLVED_SSA[key] = resolve_settings(block).to_dict()
    return settings


def _ssa_block(block: dict) -> dict:
    settings = _resolved_ssa(block)
    if not settings["enabled"]:
        # Switched off, the other switches change nothing: one baseline run for every table, its
        # block fixed (DISABLED_BLOCK), not the default's, so baseline ids outlive a new default.
        settings = _resolved_ssa(DISABLED_BLOCK)
    return dict(settings)


def _resolve_config(values: dict, datasets: dict) -> dict:
    dataset = values["dataset"]
    dataset_def = None
    if dataset in datasets:
        definition = datasets[dataset]
        dataset_def = {"root": definition["root"], "classes": list(definition["classes"]),
                       "reduce_zero_label": bool(definition.get("reduce_zero_label", False)),
                       "img_suffix": definition.get("img_suffix", ".jpg"),
                       "seg_map_suffix": definition.get("seg_map_suffix", ".png")}
        if definition.get("scale"):         # only when set: ids of runs without it do not change
            dataset_def["scale"] = list(definition["scale"])
    ssa_on = (bool((values.get("ssa") or {}).get("enabled"))
              or (values.get("classifier") or {}).get("type") == "ssa")
    train = {**train_defaults(dataset, datasets.get(dataset), values["baseline"], ssa_on),
             **(values.get("train") or {})}
    # a catalog reference (the checkpoint's identity, not this machine's cache path), a path or None
    train["pretrained"] = _pretrained_ref(values["baseline"], train["pretrained"])
    if train["lr"] is not None:
        train["lr"] = float(train["lr"])
    measure = {**measure_defaults(train["crop_size"]), **(values.get("measure") or {})}
    return {
        "baseline": values["baseline"],
        "dataset": dataset,
        "dataset_def": dataset_def,
        **_classifier_blocks(values),
        "train": train,
        "measure": measure,
        "evaluate": {**EVALUATE_DEFAULTS, **(values.get("evaluate") or {})},
        "cfg": dict(values.get("cfg") or {}),
        "seed": int(values.get("seed", 0)),
    }


# More runs than this is a typo in an axis (or a hostile file), not a table: refused before expansion,
# which would otherwise take minutes and gigabytes before saying anything.
MAX_RUNS = 100_000


def _check_matrix_size(doc: dict, axes: dict, zipped: dict, file: str) -> None:
    count = max(len(doc.get("rows") or []), 1) + len(doc.get("include") or [])
    for values in axes.values():
        count *= len(values)
    count *= max((len(v) for v in zipped.values()), default=1)
    count *= len(doc.get("seeds") or [0])
    if count > MAX_RUNS:
        raise SpecError(f"the matrix would expand to about {count:,} runs, more than {MAX_RUNS:,}", file=file,
                        key="axes", fix="check the axes: and seeds: lists; split a study this large into several specs")


def load_spec(path: str, profile: str = "paper", overrides=()) -> Spec:
    if profile not in PROFILES:
        raise SpecError(f"unknown profile '{profile}'", key="--profile",
                        fix=f"use one of: {', '.join(PROFILES)}")
    file_path = resolve_path(path)
    _PRETRAINED.clear()
    file = str(file_path)
    spec_path = os.path.relpath(file) if not os.path.isabs(path) else file
    doc = _read_yaml(file_path)
    parsed = parse_overrides(overrides)
    for item in parsed:
        if item.top_level:
            set_path(doc, item.key, item.value)
    _check_top(doc, file)
    datasets = _check_datasets(doc.get("datasets"), file)
    axes = _check_axes(doc.get("axes"), file, "axes")
    zipped = _check_axes(doc.get("zip"), file, "zip")
    _check_matrix_size(doc, axes, zipped, file)
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
            _validate_paper_only(row.values, file, row.origin, datasets)
            rows_for_report.append(SpecRow(label, section, True))
            continue
        _validate_values(row.values, file, row.origin, datasets)
        extra = [f"{k.split('.')[-1]}={v}" for k, v in row.axis_values.items() if k not in (columns_key, sections_key)]
        if extra:
            label = f"{label} ({', '.join(extra)})"
        column = row.axis_values.get(columns_key, get_path(row.values, columns_key)) if columns_key else None
        values = apply_profile(row.values, profile)
        for item in parsed:
            if not item.top_level:
                set_path(values, item.key, copy.deepcopy(item.value))
        if parsed:
            _validate_values(values, file, "--set", datasets)
        for seed in doc.get("seeds") or [values.get("seed", 0)]:
            values["seed"] = seed
            key = (section, label, None if column is None else str(column), seed)
            if key in seen:
                raise SpecError(f"duplicate row '{label}'" + (f" in section '{section}'" if section else "")
                                + (f" for column '{column}'" if column is not None else "") + f", seed {seed}",
                                file=file, key=row.origin,
                                fix=f"give it a label different from {seen[key]}, or drop one of the two")
            seen[key] = row.origin
            config = _resolve_config(values, datasets)
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
