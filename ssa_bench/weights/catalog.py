"""The weights catalog (``catalog.yaml``), the cache folder, and what ``train.pretrained`` means.

A spec's ``train.pretrained`` (docs/weights.md):

==================  ==========================================================================
absent / null       the profile's default: ``paper`` uses the catalog checkpoint of the run's
                    baseline (from scratch for a baseline without one, e.g. the demo model);
                    ``cpu-demo`` sets ``none``
``catalog``         the catalog checkpoint of the run's baseline (an error if it has none)
``catalog:NAME``    the catalog checkpoint of baseline NAME
``none``            from scratch, on purpose (the report's caption says so)
a path              that file, loaded with the baseline's catalog key mapping
a mapping           per baseline: ``{upernet_swin_l: /data/swin_l.pth, default: none}``; a baseline
                    not listed takes ``default`` (absent: the profile's default)
==================  ==========================================================================

In the resolved run config (what the run id hashes) it becomes ``None`` (from scratch), an
absolute path, or ``catalog:<baseline>:<file>[:sha256=<hex>]``: the checkpoint's identity, never
the user's cache path, so one run has one id on every machine. No torch here.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ssa_bench.errors import DataError, SpecError, UserError
from ssa_bench.validation import rules
from ssa_bench.validation.yaml_file import read_yaml
from ssa_bench.weights.mapping import KeyMapping

CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
# A site can point at its own catalog (e.g. the same files on an internal mirror).
CATALOG_ENV = "SSA_BENCH_WEIGHTS_CATALOG"
WEIGHTS_ENV = "SSA_BENCH_WEIGHTS"
REF_PREFIX = "catalog:"
SCRATCH = "none"
ENTRY_KEYS = ("title", "file", "url", "page", "shipped_as", "sha256", "sha256_prefix", "mapping",
              "licence", "evidence")


@dataclass(frozen=True)
class WeightEntry:
    name: str                    # the baseline it belongs to
    title: str
    file: str
    url: str | None
    page: str
    shipped_as: str | None
    sha256: str | None
    sha256_prefix: str | None
    mapping: KeyMapping
    licence: str
    evidence: str = ""

    @property
    def expected_hash(self) -> str | None:
        """The sha256 (or its published prefix) a file must start with; None when nothing is published."""
        return self.sha256 or self.sha256_prefix

    @property
    def ref(self) -> str:
        """What a resolved run config holds: the checkpoint's identity, not where it is."""
        digest = f":sha256={self.expected_hash}" if self.expected_hash else ""
        return f"{REF_PREFIX}{self.name}:{self.file}{digest}"

    def path(self, directory: Path | None = None) -> Path:
        return (directory or weights_dir()) / self.file

    def fetch_command(self) -> str:
        return f"ssa-bench weights fetch {self.name}"


def weights_dir() -> Path:
    """$SSA_BENCH_WEIGHTS, else $XDG_CACHE_HOME/ssa-bench/weights, else ~/.cache/ssa-bench/weights."""
    explicit = os.environ.get(WEIGHTS_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().absolute() / "ssa-bench" / "weights"


def catalog_path() -> Path:
    """The site catalog when $SSA_BENCH_WEIGHTS_CATALOG names one, else the shipped catalog."""
    return Path(os.environ.get(CATALOG_ENV) or CATALOG_FILE)


def _read_blocks(path: str) -> dict[str, dict]:
    """The raw ``weights:`` blocks of one catalog file, each checked to be a mapping of known keys."""
    try:
        document = read_yaml(path, what="weights catalog")
    except UserError as error:
        raise UserError(f"cannot read the weights catalog: {error.message}", file=error.file, key=error.key,
                        fix=f"{error.fix}; or unset {CATALOG_ENV} to use the shipped catalog") from None
    entries = (document or {}).get("weights") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise UserError("the weights catalog has no 'weights:' mapping", file=path, key="weights",
                        fix="see ssa_bench/weights/catalog.yaml for the format")
    for name, block in entries.items():
        where = f"weights.{name}"
        if not isinstance(block, dict):
            raise UserError("an entry must be a mapping of keys", file=path, key=where, fix="see docs/weights.md")
        with rules.reported_as(UserError, path):        # the one engine: "did you mean 'sha256'?"
            rules.check_keys(block, ENTRY_KEYS, where)
    return {str(name): dict(block) for name, block in entries.items()}


def _entry(name: str, block: dict, path: str) -> WeightEntry:
    where = f"weights.{name}"
    if not block.get("file"):
        raise UserError("an entry needs at least 'file'", file=path, key=where, fix="see docs/weights.md")
    try:
        mapping = KeyMapping.from_dict(block.get("mapping"), f"{where}.mapping")
    except ValueError as error:
        raise UserError(str(error), file=path, key=f"{where}.mapping", fix="see docs/weights.md") from None
    hashes = {k: (str(block[k]).lower() if block.get(k) else None) for k in ("sha256", "sha256_prefix")}
    for key, value in hashes.items():
        if value is not None and not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise UserError(f"{key} must be hex digits, got {value!r}", file=path, key=f"{where}.{key}",
                            fix="write the sha256 (or the 8-digit prefix of the file name), or null")
    return WeightEntry(
        name=name, title=str(block.get("title") or name), file=str(block["file"]),
        url=block.get("url") or None, page=str(block.get("page") or ""), shipped_as=block.get("shipped_as"),
        sha256=hashes["sha256"], sha256_prefix=hashes["sha256_prefix"], mapping=mapping,
        licence=str(block.get("licence") or "not stated"), evidence=str(block.get("evidence") or ""))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict[str, WeightEntry]:
    """The catalog a run sees: the shipped entries, with a site catalog (``path``, when it is not
    the shipped file) laid over them key by key.

    A site catalog usually mirrors a few files (``url``, ``file``) and must not make every other
    baseline train from scratch by omission, so each entry it names overrides only the keys it
    gives (``sha256: null`` says on purpose that its file has no published hash) and every entry
    it does not name is inherited. Baselines only the site catalog names are added."""
    shipped = _read_blocks(str(CATALOG_FILE))
    site = _read_blocks(path) if Path(path).resolve() != CATALOG_FILE.resolve() else {}
    out = {}
    for name in list(shipped) + [n for n in site if n not in shipped]:
        block = {**shipped.get(name, {}), **site.get(name, {})}
        out[name] = _entry(name, block, path if name in site else str(CATALOG_FILE))
    return out


def load_catalog() -> dict[str, WeightEntry]:
    return _load(str(catalog_path()))


def site_overrides() -> dict[str, str]:
    """Baseline name -> the site catalog that overrides (or adds) its entry; empty without one."""
    path = catalog_path()
    if path.resolve() == CATALOG_FILE.resolve():
        return {}
    return {name: str(path) for name in _read_blocks(str(path))}


def entry_for(name: str) -> WeightEntry | None:
    return load_catalog().get(name)


def lookup(names) -> list[WeightEntry]:
    """Catalog entries by baseline name (all of them for no names); an unknown name is a UserError."""
    catalog = load_catalog()
    if not names:
        return list(catalog.values())
    unknown = [n for n in names if n not in catalog]
    if unknown:
        from ssa_bench.vocabulary.spec_keys import closest

        raise UserError(f"no checkpoint named '{unknown[0]}' in the weights catalog", key="NAME",
                        fix=f"{closest(unknown[0], catalog)}use one of: {', '.join(catalog)}")
    return [catalog[n] for n in names]


# -- train.pretrained: spec value -> run config value ------------------------------------------

def _value_for(baseline: str, value):
    """The scalar value that applies to this baseline (a mapping picks its entry or 'default')."""
    if isinstance(value, dict):
        return value.get(baseline, value.get("default"))
    return value


def check_pretrained(value, baseline: str, file: str | None, key: str) -> None:
    """Validate a spec's train.pretrained for a row of this baseline; raises SpecError."""
    from ssa_bench.vocabulary.spec_keys import check_type

    check_type(value, (str, dict, type(None)), file, key)       # --set values arrive unchecked
    if isinstance(value, dict):
        from ssa_bench.vocabulary.names import BASELINES
        from ssa_bench.vocabulary.spec_keys import closest

        for name, item in value.items():
            if name != "default" and name not in BASELINES:
                raise SpecError(f"unknown baseline '{name}' in train.pretrained", file=file, key=f"{key}.{name}",
                                fix=f"{closest(str(name), BASELINES)}keys are baseline names or 'default'")
            if item is not None and not isinstance(item, str):
                raise SpecError(f"expected a string or null, got {item!r}", file=file, key=f"{key}.{name}",
                                fix="write catalog, none, catalog:NAME or a checkpoint path")
    scalar = _value_for(baseline, value)
    if not isinstance(scalar, str):
        return
    if scalar == "catalog" and entry_for(baseline) is None:
        raise SpecError(f"baseline '{baseline}' has no checkpoint in the weights catalog", file=file, key=key,
                        fix="give a checkpoint path, or none to train from scratch (`ssa-bench weights list` "
                            "shows the catalog)")
    if scalar.startswith(REF_PREFIX):
        name = scalar[len(REF_PREFIX):].split(":")[0]
        if entry_for(name) is None:
            raise SpecError(f"no checkpoint named '{name}' in the weights catalog", file=file, key=key,
                            fix=f"use one of: {', '.join(load_catalog())}")
    if not scalar.strip():
        raise SpecError("empty checkpoint path", file=file, key=key,
                        fix="write catalog, none, catalog:NAME or a checkpoint path")


def resolve_pretrained(baseline: str, value) -> str | None:
    """The run config's train.pretrained for a validated spec value (see the module docstring)."""
    scalar = _value_for(baseline, value)
    if scalar is None:                       # the paper's setting: the catalog, where there is one
        entry = entry_for(baseline)
        return entry.ref if entry else None
    if scalar == SCRATCH:
        return None
    if scalar == "catalog":
        return entry_for(baseline).ref
    if scalar.startswith(REF_PREFIX):
        name = scalar[len(REF_PREFIX):].split(":")[0]
        return entry_for(name).ref
    return str(Path(scalar).expanduser().absolute())


# -- run config value -> a file on this machine -------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """Where a run's backbone starts from, on this machine."""
    source: str                 # "catalog", "path" or "none"
    entry: WeightEntry | None
    path: Path | None

    @property
    def present(self) -> bool:
        return self.path is not None and self.path.is_file()

    @property
    def label(self) -> str:
        if self.source == "none":
            return "none (from scratch)"
        name = self.entry.file if self.entry and self.source == "catalog" else str(self.path)
        return f"{name} ({'present' if self.present else 'missing'})"

    def to_json(self) -> dict:
        return {"source": self.source, "name": self.entry.name if self.entry else None,
                "file": self.path.name if self.path else None, "path": str(self.path) if self.path else None,
                "present": self.present if self.source != "none" else None}


def parse_ref(value: str) -> tuple[str, str, str | None]:
    """'catalog:<name>:<file>[:sha256=<hex>]' -> (name, file, hash or None)."""
    parts = value[len(REF_PREFIX):].split(":")
    name = parts[0]
    file = parts[1] if len(parts) > 1 else ""
    digest = parts[2][len("sha256="):] if len(parts) > 2 and parts[2].startswith("sha256=") else None
    return name, file, digest


def checkpoint_of(config: dict) -> Checkpoint:
    value = (config.get("train") or {}).get("pretrained")
    if value is None:
        return Checkpoint("none", None, None)
    if value.startswith(REF_PREFIX):
        name, file, _ = parse_ref(value)
        entry = entry_for(name)
        if entry is None:
            raise DataError(f"the run names checkpoint '{name}', which the weights catalog does not have",
                            key="train.pretrained", fix="plan the spec again with this version of ssa-bench")
        return Checkpoint("catalog", entry, weights_dir() / (file or entry.file))
    return Checkpoint("path", entry_for(config.get("baseline", "")), Path(value))


def ensure_weights(configs) -> None:
    """Raise one DataError naming every missing checkpoint of these runs, before anything is queued."""
    missing_catalog: dict[str, Checkpoint] = {}
    for config in configs:
        checkpoint = checkpoint_of(config)
        if checkpoint.source == "none" or checkpoint.present:
            continue
        if checkpoint.source == "path":
            raise DataError(f"pretrained checkpoint {checkpoint.path} of baseline '{config['baseline']}' does not "
                            "exist", key="train.pretrained",
                            fix="point train.pretrained at an existing file, use catalog, or none to train from "
                                "scratch on purpose")
        missing_catalog.setdefault(checkpoint.entry.name, checkpoint)
    if not missing_catalog:
        return
    names = list(missing_catalog)
    files = ", ".join(f"{name}: {c.path.name}" for name, c in missing_catalog.items())
    raise DataError(f"pretrained checkpoint missing for baseline{'s' if len(names) > 1 else ''} {files} "
                    f"(expected in {weights_dir()})", key="train.pretrained",
                    fix=f"run `ssa-bench weights fetch {' '.join(names)}` (or put the files there by hand, or set "
                        f"{WEIGHTS_ENV}); train.pretrained: none trains from scratch on purpose")
