"""A validated row's values -> the resolved run config whose hash is the run's id: the profile's
training and measuring defaults filled in, the classifier blocks resolved to every setting (so a
new default changes the id of the runs it changes), the pretrained checkpoint named by identity.
Resolving settings is memoised by block content: a 10,000-run matrix has a few distinct blocks."""
from __future__ import annotations

from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.classifier_settings.ssa import DISABLED_BLOCK, resolve_settings
from ssa_bench.matrix.profiles import measure_defaults, train_defaults
from ssa_bench.vocabulary.protocol import EVALUATE_DEFAULTS
from ssa_bench.weights.catalog import resolve_pretrained


# Resolved classifier blocks by their content (planning speed, as _RESOLVED_SSA).
_RESOLVED_CLASSIFIERS: dict[str, tuple[str, dict]] = {}


def resolved_classifier(block) -> tuple[str, dict]:
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
    kind, settings = resolved_classifier(block)
    if kind == "ssa":
        return {"ssa": _ssa_block({**settings, "enabled": True})}
    return {"ssa": _ssa_block({}), "classifier": {"type": kind, **settings}}


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


def resolved_ssa(block: dict) -> dict:
    """resolve_settings(block).to_dict(), memoised; raises SSASettingsError as it does."""
    key = _block_key(block)
    settings = _RESOLVED_SSA.get(key)
    if settings is None:
        settings = _RESOLVED_SSA[key] = resolve_settings(block).to_dict()
    return settings


def _ssa_block(block: dict) -> dict:
    settings = resolved_ssa(block)
    if not settings["enabled"]:
        # Switched off, the other switches change nothing: one baseline run for every table, its
        # block fixed (DISABLED_BLOCK), not the default's, so baseline ids outlive a new default.
        settings = resolved_ssa(DISABLED_BLOCK)
    return dict(settings)


def resolve_config(values: dict, datasets: dict) -> dict:
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


def forget_pretrained() -> None:
    """A relative checkpoint path resolves against the working directory: one load_spec, one memo."""
    _PRETRAINED.clear()
