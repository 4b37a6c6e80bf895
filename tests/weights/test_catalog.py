"""The weights catalog as data: complete, consistent with mmseg's configs, and the cache folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ssa_bench.configs.baselines import baseline_recipe
from ssa_bench.errors import UserError
from ssa_bench.weights import catalog as weights_catalog
from ssa_bench.weights import load_catalog, lookup, weights_dir

MMSEG_BASELINES = ["fcn_r101", "ocrnet_hr48", "upernet_swin_t", "upernet_swin_b", "upernet_swin_l",
                   "segformer_b5", "segnext_t"]


def _resolve_openmmlab(link: str) -> str:
    from mmengine.runner.checkpoint import get_external_models

    prefix = "open-mmlab://"
    return get_external_models()[link[len(prefix):]] if link.startswith(prefix) else link


@pytest.mark.parametrize("name", MMSEG_BASELINES)
def test_the_catalog_names_the_file_mmseg_ships(name):
    entry = load_catalog()[name]
    recipe = baseline_recipe(name, 150)
    # the shipped config's checkpoint is taken out of the model (no download at run time, no
    # non-strict load) and the catalog names the same file
    assert recipe.shipped_pretrained == entry.shipped_as
    assert _resolve_openmmlab(recipe.shipped_pretrained) == entry.url
    assert entry.url.rsplit("/", 1)[1] == entry.file
    # OpenMMLab file names end in -<first 8 hex digits of the sha256>.pth
    assert re.search(r"-([0-9a-f]{8})\.pth$", entry.file).group(1) == entry.sha256_prefix


def test_every_entry_is_complete():
    for entry in load_catalog().values():
        assert entry.file and entry.page and entry.licence != "not stated" and entry.evidence, entry.name
        assert entry.url or entry.page.startswith("https://drive.google.com/"), entry.name   # by hand
        assert entry.url is None or entry.url.startswith("https://")
        if entry.url and "openmmlab" not in entry.url and "drive" not in entry.url:
            assert entry.url.rsplit("/", 1)[1] == entry.file, entry.name


def test_the_ports_drop_the_classifier_and_declare_the_adapter_new():
    catalog = load_catalog()
    assert catalog["seaformer_b"].mapping.unwrap[0] == "state_dict_ema"      # as the authors load it
    assert catalog["seaformer_l"].mapping.drop == (r"^linear\.",)
    vit = catalog["vit_adapter_l"].mapping
    assert vit.is_fresh("interactions.0.injector.gamma") and vit.is_fresh("blocks.3.gamma1")
    assert not vit.is_fresh("blocks.3.attn.qkv.weight") and not vit.is_fresh("pos_embed")


def test_the_weights_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("SSA_BENCH_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_dir() == tmp_path / "xdg" / "ssa-bench" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights_dir() == tmp_path / "home" / ".cache" / "ssa-bench" / "weights"
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(tmp_path / "shared"))
    assert weights_dir() == tmp_path / "shared"


def test_unknown_names_and_bad_site_catalogs(monkeypatch, tmp_path):
    with pytest.raises(UserError, match="did you mean 'segnext_t'"):
        lookup(["segnxt_t"])
    bad = tmp_path / "site.yaml"
    bad.write_text("weights:\n  segnext_t: {file: x.pth, sha256_prefix: nothex}\n")
    monkeypatch.setenv("SSA_BENCH_WEIGHTS_CATALOG", str(bad))
    weights_catalog._load.cache_clear()
    try:
        with pytest.raises(UserError) as error:
            load_catalog()
        assert "weights.segnext_t.sha256_prefix" in str(error.value) and str(bad) in str(error.value)
    finally:
        monkeypatch.delenv("SSA_BENCH_WEIGHTS_CATALOG")
        weights_catalog._load.cache_clear()


def test_the_catalog_ships_with_the_package():
    assert Path(weights_catalog.CATALOG_FILE).is_file()
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"**/*.yaml"' in pyproject
