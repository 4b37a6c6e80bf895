"""The weights catalog's and train.pretrained's errors, whole: each is one line naming the file, the
key and the fix (the project's rule for bad input), and what a run's checkpoint reports as JSON.

The site catalog ($SSA_BENCH_WEIGHTS_CATALOG) is what a user writes by hand, so its mistakes are
the ones met in practice; the catalog cache is cleared around each case (it is keyed by path)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ssa_bench.errors import DataError, SpecError, UserError
from ssa_bench.weights import catalog as weights_catalog
from ssa_bench.weights import load_catalog, lookup
from ssa_bench.weights.catalog import check_pretrained, checkpoint_of, ensure_weights


@pytest.fixture
def site_catalog(tmp_path, monkeypatch):
    """Writes a site catalog and points $SSA_BENCH_WEIGHTS_CATALOG at it."""
    path = tmp_path / "site.yaml"

    def write(text: str) -> Path:
        path.write_text(text)
        monkeypatch.setenv(weights_catalog.CATALOG_ENV, str(path))
        weights_catalog._load.cache_clear()
        return path

    yield write
    weights_catalog._load.cache_clear()


def _error_of_loading() -> UserError:
    with pytest.raises(UserError) as error:
        load_catalog()
    return error.value


@pytest.mark.parametrize("text, key, message, fix", [
    ("weights: [segnext_t]\n", "weights", "the weights catalog has no 'weights:' mapping",
     "see ssa_bench/weights/catalog.yaml for the format"),
    ("weights:\n  segnext_t: mscan_t.pth\n", "weights.segnext_t", "an entry must be a mapping of keys",
     "see docs/weights.md"),
    ("weights:\n  my_backbone: {url: 'https://example.org/x.pth'}\n", "weights.my_backbone",
     "an entry needs at least 'file'", "see docs/weights.md"),
    ("weights:\n  segnext_t: {sha256: not-a-hash}\n", "weights.segnext_t.sha256",
     "sha256 must be hex digits, got 'not-a-hash'",
     "write the sha256 (or the 8-digit prefix of the file name), or null"),
], ids=["no-weights-mapping", "entry-not-a-mapping", "entry-without-file", "hash-not-hex"])
def test_a_bad_site_catalog_is_one_line_naming_file_key_and_fix(site_catalog, text, key, message, fix):
    path = site_catalog(text)
    error = _error_of_loading()
    assert (error.file, error.key, error.message, error.fix) == (str(path), key, message, fix)
    assert str(error) == f"{path}: {key}: {message} -- {fix}"


def test_a_bad_key_mapping_names_its_own_key(site_catalog):
    path = site_catalog("weights:\n  segnext_t: {mapping: {unwarp: [state_dict]}}\n")
    error = _error_of_loading()
    assert (error.file, error.key, error.fix) == (str(path), "weights.segnext_t.mapping", "see docs/weights.md")
    # the mapping's own check names where the typo is, not just "mapping"
    assert error.message.startswith("weights.segnext_t.mapping: unknown key 'unwarp' (allowed: unwrap, ")


def test_an_unreadable_site_catalog_says_how_to_go_back_to_the_shipped_one(site_catalog):
    path = site_catalog("weights: [unclosed\n")
    error = _error_of_loading()
    assert error.file == str(path) and error.message.startswith("cannot read the weights catalog: ")
    assert error.fix.endswith("; or unset SSA_BENCH_WEIGHTS_CATALOG to use the shipped catalog")


def test_a_site_entry_keeps_the_licence_it_states(site_catalog):
    site_catalog("weights:\n  segnext_t: {licence: 'site licence 1.0'}\n  mine: {file: mine.pth}\n")
    catalog = load_catalog()
    assert catalog["segnext_t"].licence == "site licence 1.0"
    assert catalog["mine"].licence == "not stated"


def test_an_unknown_checkpoint_name_lists_the_catalog():
    with pytest.raises(UserError) as error:
        lookup(["segnxt_t"])
    assert error.value.key == "NAME"
    assert error.value.message == "no checkpoint named 'segnxt_t' in the weights catalog"
    assert error.value.fix.endswith("use one of: " + ", ".join(load_catalog()))


# -- train.pretrained in a spec ------------------------------------------------------------------

@pytest.mark.parametrize("value, baseline, key, message, fix", [
    ({"segnext_t": 3}, "segnext_t", "train.pretrained.segnext_t", "expected a string or null, got 3",
     "write catalog, none, catalog:NAME or a checkpoint path"),
    ("catalog", "segformer_mini", "train.pretrained",
     "baseline 'segformer_mini' has no checkpoint in the weights catalog",
     "give a checkpoint path, or none to train from scratch (`ssa-bench weights list` shows the catalog)"),
    ("  ", "segnext_t", "train.pretrained", "empty checkpoint path",
     "write catalog, none, catalog:NAME or a checkpoint path"),
], ids=["not-a-string", "catalog-without-entry", "empty-path"])
def test_a_bad_train_pretrained_is_one_line_naming_spec_key_and_fix(value, baseline, key, message, fix):
    with pytest.raises(SpecError) as error:
        check_pretrained(value, baseline, "spec.yaml", "train.pretrained")
    assert str(error.value) == f"spec.yaml: {key}: {message} -- {fix}"


# -- a run's checkpoint on this machine ----------------------------------------------------------

def test_a_path_checkpoint_reports_its_source_baseline_and_path(tmp_path):
    file = tmp_path / "my_swin.pth"
    checkpoint = checkpoint_of({"baseline": "segnext_t", "train": {"pretrained": str(file)}})
    assert checkpoint.source == "path" and checkpoint.entry.name == "segnext_t"
    assert checkpoint.to_json() == {"source": "path", "name": "segnext_t", "file": "my_swin.pth",
                                    "path": str(file), "present": False}
    file.write_bytes(b"x")
    assert checkpoint.to_json()["present"] is True
    assert checkpoint_of({"train": {"pretrained": None}}).to_json() == {
        "source": "none", "name": None, "file": None, "path": None, "present": None}


def test_a_missing_path_checkpoint_stops_the_runs_naming_the_key(tmp_path):
    missing = tmp_path / "gone.pth"
    with pytest.raises(DataError) as error:
        ensure_weights([{"baseline": "segnext_t", "train": {"pretrained": str(missing)}}])
    assert str(error.value) == (
        f"train.pretrained: pretrained checkpoint {missing} of baseline 'segnext_t' does not exist -- point "
        "train.pretrained at an existing file, use catalog, or none to train from scratch on purpose")


def test_missing_catalog_checkpoints_are_named_once_each_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    catalog = load_catalog()
    configs = [{"baseline": name, "train": {"pretrained": catalog[name].ref}}
               for name in ("segnext_t", "segformer_b5", "segnext_t")]
    with pytest.raises(DataError) as error:
        ensure_weights(configs)
    files = f"segnext_t: {catalog['segnext_t'].file}, segformer_b5: {catalog['segformer_b5'].file}"
    assert str(error.value) == (
        f"train.pretrained: pretrained checkpoint missing for baselines {files} (expected in {tmp_path / 'weights'})"
        " -- run `ssa-bench weights fetch segnext_t segformer_b5` (or put the files there by hand, or set "
        "SSA_BENCH_WEIGHTS); train.pretrained: none trains from scratch on purpose")


# -- found by the recheck of the sample on this tree -------------------------------------------

def test_a_site_catalog_that_is_a_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(weights_catalog.CATALOG_ENV, str(tmp_path))
    weights_catalog._load.cache_clear()
    try:
        error = _error_of_loading()
    finally:
        weights_catalog._load.cache_clear()
    assert error.file == str(tmp_path)
    assert error.message == "cannot read the weights catalog: is a directory, not a weights catalog"


def test_a_binary_site_catalog_keeps_the_key_the_reader_names(site_catalog):
    path = site_catalog("")
    path.write_bytes(b"\x80\x02\x8a\x0a not yaml at all \x00\x00")      # a checkpoint given by mistake
    error = _error_of_loading()
    assert (error.file, error.key) == (str(path), "(file)")
    assert error.message == "cannot read the weights catalog: is a binary file, not a weights catalog"


@pytest.mark.parametrize("value, key, message", [
    ("catalog:nosuch", "train.pretrained", "no checkpoint named 'nosuch' in the weights catalog"),
    (5, "train.pretrained", None),                  # a --set value of the wrong type: the type check's message
], ids=["unknown-catalog-name", "not-a-string-at-all"])
def test_every_train_pretrained_error_names_the_spec_file(value, key, message):
    with pytest.raises(SpecError) as error:
        check_pretrained(value, "segnext_t", "spec.yaml", "train.pretrained")
    assert (error.value.file, error.value.key) == ("spec.yaml", key)
    if message:
        assert error.value.message == message
        assert error.value.fix == "use one of: " + ", ".join(load_catalog())


def test_a_run_naming_a_checkpoint_this_version_lacks_is_one_line():
    with pytest.raises(DataError) as error:
        checkpoint_of({"baseline": "segnext_t", "train": {"pretrained": "catalog:gone_model:gone.pth"}})
    assert str(error.value) == ("train.pretrained: the run names checkpoint 'gone_model', which the weights catalog "
                                "does not have -- plan the spec again with this version of ssa-bench")


def test_one_missing_catalog_checkpoint_is_named_in_the_singular(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path))
    entry = load_catalog()["segnext_t"]
    with pytest.raises(DataError) as error:
        ensure_weights([{"baseline": "segnext_t", "train": {"pretrained": entry.ref}}])
    assert error.value.message.startswith(f"pretrained checkpoint missing for baseline segnext_t: {entry.file} (")


def test_a_reference_without_a_file_takes_the_catalogs_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path))
    assert weights_catalog.parse_ref("catalog:segnext_t") == ("segnext_t", "", None)
    checkpoint = checkpoint_of({"baseline": "segnext_t", "train": {"pretrained": "catalog:segnext_t"}})
    assert checkpoint.path == tmp_path / load_catalog()["segnext_t"].file
