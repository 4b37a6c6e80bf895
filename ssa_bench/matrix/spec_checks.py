"""A spec document checked against the grammar (``vocabulary/spec_keys.py``) before anything is
expanded or resolved: its top level, rows, axes, inline datasets, the matrix's size, and each
expanded row's values that need the row's other blocks (baseline, classifier, ssa:, pretrained).
Every error is one ``SpecError`` naming the file and the key path where the value is written."""
from __future__ import annotations

from pathlib import Path

from ssa_bench.classifier_settings import SettingsError
from ssa_bench.classifier_settings.ssa import SSASettingsError
from ssa_bench.errors import SpecError
from ssa_bench.matrix.resolve import resolved_classifier, resolved_ssa
from ssa_bench.matrix.values import check_value
from ssa_bench.validation.yaml_file import read_yaml
from ssa_bench.vocabulary import spec_keys as schema
from ssa_bench.vocabulary.names import BASELINES, DATASETS
from ssa_bench.weights.catalog import check_pretrained


def read_spec_document(path: Path) -> dict:
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


def check_axes(block, file: str, where: str) -> dict:
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
            resolved_ssa({key.split(".", 1)[1]: value})
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


def check_datasets(block, file: str) -> dict:
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


def check_top(doc: dict, file: str) -> None:
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
        resolved_ssa(values.get("ssa") or {})
    except SSASettingsError as error:      # the engine's error: its fix has the 'did you mean'
        raise SpecError(error.message, file=file, key=f"{where}.ssa.{error.key}", fix=error.fix) from None


def validate_paper_only(values: dict, file: str, where: str, datasets: dict) -> None:
    """A paper-only row trains nothing, but what it names must exist: a typo in its baseline or
    ssa: block would otherwise pass unseen (and mislead whoever copies the row into a run)."""
    _check_baseline_and_dataset(values, file, where, datasets, required=False)
    _check_classifier(values, file, where)
    _check_ssa_block(values, file, where)


def validate_values(values: dict, file: str, where: str, datasets: dict) -> None:
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
        kind, _ = resolved_classifier(block)
    except SettingsError as error:
        raise SpecError(error.message, file=file, key=f"{where}.classifier.{error.key}",
                        fix=error.fix) from None
    if kind != "ssa" and (values.get("ssa") or {}).get("enabled"):
        raise SpecError(f"two classifiers: classifier type '{kind}' and an enabled ssa: block",
                        file=file, key=f"{where}.classifier",
                        fix="drop 'ssa: {enabled: true}' from this row, or use classifier: "
                            "{type: ssa, ...} alone")


# More runs than this is a typo in an axis (or a hostile file), not a table: refused before expansion,
# which would otherwise take minutes and gigabytes before saying anything.
MAX_RUNS = 100_000


def check_matrix_size(doc: dict, axes: dict, zipped: dict, file: str) -> None:
    count = max(len(doc.get("rows") or []), 1) + len(doc.get("include") or [])
    for values in axes.values():
        count *= len(values)
    count *= max((len(v) for v in zipped.values()), default=1)
    count *= len(doc.get("seeds") or [0])
    if count > MAX_RUNS:
        raise SpecError(f"the matrix would expand to about {count:,} runs, more than {MAX_RUNS:,}", file=file,
                        key="axes", fix="check the axes: and seeds: lists; split a study this large into several specs")
