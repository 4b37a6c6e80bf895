"""A site catalog ($SSA_BENCH_WEIGHTS_CATALOG) overrides the shipped entries it names, key by key,
and inherits the rest (issue 23, measured case 1: a site catalog naming only a mirrored segnext_t
made 28 of Table 2's 34 runs train from scratch without a word)."""
from __future__ import annotations

import json

import pytest
import yaml

from ssa_bench.cli import main
from ssa_bench.weights import catalog as weights_catalog
from ssa_bench.weights import load_catalog


@pytest.fixture
def mirror_of_segnext(tmp_path, monkeypatch):
    document = {"schema": 1, "weights": {"segnext_t": {
        "file": "mscan_t_20230227-119e8c9f.pth", "url": "https://mirror.example.org/mscan_t_20230227-119e8c9f.pth"}}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("SSA_BENCH_WEIGHTS_CATALOG", str(path))
    weights_catalog._load.cache_clear()
    yield path
    weights_catalog._load.cache_clear()


def test_a_site_entry_overrides_only_the_keys_it_gives(mirror_of_segnext):
    shipped = weights_catalog._read_blocks(str(weights_catalog.CATALOG_FILE))
    catalog = load_catalog()
    assert set(catalog) == set(shipped)
    segnext = catalog["segnext_t"]
    assert segnext.url == "https://mirror.example.org/mscan_t_20230227-119e8c9f.pth"
    # the hash and the key mapping of the shipped entry still apply to the mirrored file
    assert segnext.sha256_prefix == "119e8c9f" and segnext.mapping.to_dict() == \
        weights_catalog._entry("segnext_t", shipped["segnext_t"], "x").mapping.to_dict()
    assert weights_catalog.site_overrides() == {"segnext_t": str(mirror_of_segnext)}


def test_table2_with_a_site_catalog_of_one_mirror_trains_nothing_from_scratch(mirror_of_segnext, tmp_path, capsys,
                                                                              from_repo_root):
    assert main(["plan", "tables/table2.yaml", "--json", "--results-dir", str(tmp_path / "r")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 34
    scratch = [row["label"] for row in rows if row["checkpoint"]["source"] == "none"]
    assert scratch == [], f"{len(scratch)} of {len(rows)} runs would train from scratch: {scratch[:3]}"


def test_a_site_entry_for_a_new_name_needs_a_file(tmp_path, monkeypatch):
    path = tmp_path / "site.yaml"
    path.write_text("weights:\n  my_backbone: {url: 'https://example.org/x.pth'}\n")
    monkeypatch.setenv("SSA_BENCH_WEIGHTS_CATALOG", str(path))
    weights_catalog._load.cache_clear()
    try:
        with pytest.raises(weights_catalog.UserError) as error:
            load_catalog()
        assert "weights.my_backbone" in str(error.value) and str(path) in str(error.value)
    finally:
        monkeypatch.delenv("SSA_BENCH_WEIGHTS_CATALOG")
        weights_catalog._load.cache_clear()
