"""Every paper-profile run of Tables 1-2 is composed and compared, fact by fact, with the SSA
authors' resolved configs (tests/fixtures/authors_configs/, README there says how it was made).

A fact may differ only where docs/baselines.md lists the difference ("Deliberate differences
from the authors' configs"), and then it must have exactly the value listed in DELIBERATE.
Config composition only (no model is built): all 58 runs take a few seconds.
"""
from __future__ import annotations

import pytest

from tests.configs.authors_facts import authors_facts, load_fixture, our_facts
from ssa_bench.configs import build_mmseg_config
from ssa_bench.matrix import load_spec, plan

TABLES = ("tables/table1.yaml", "tables/table2.yaml")
FIXTURE = load_fixture()

# (fact, baseline or None for every baseline) -> (our value, where docs/baselines.md lists it).
# Each is a row of "Deliberate differences from the authors' configs" in docs/baselines.md.
DELIBERATE = {
    # One process loads the whole batch of 16 here unless the run gets GPUs; a run's record and
    # the table's caption say so where the split changes BN statistics (AFFormer-B).
    ("batch.samples_per_gpu", None): (16, "docs/baselines.md#deliberate-differences-from-the-authors-configs"),
    ("batch.gpus", None): (1, "docs/baselines.md#deliberate-differences-from-the-authors-configs"),
    # Classes that hard-code their norm or drop path (no config key there): the ports take it
    # from the config, written out with the authors' value.
    ("model.backbone_norm", "vit_adapter_l"): ("SyncBN", "docs/baselines.md#deliberate-differences-from-the-authors-configs"),
    ("model.backbone_norm", "afformer_b"): ("BN", "docs/baselines.md#deliberate-differences-from-the-authors-configs"),
    ("model.backbone_drop_path_rate", "afformer_b"): (0.0, "docs/baselines.md#deliberate-differences-from-the-authors-configs"),
}
# model.pretrained: the weights catalog names the published file (docs/weights.md); the authors
# name local copies, renamed (docs/baselines.md, same table).
PRETRAINED = {
    "afformer_b": "AFFormer_base_ImageNet1k.pth",
    "seaformer_b": "SeaFormer_B.pth",
    "seaformer_l": "SeaFormer_L.pth",
}


def _paper_runs() -> dict:
    runs = {}
    for table in TABLES:
        for run in plan(load_spec(table, profile="paper")):
            config = run.config
            if config.get("classifier"):
                continue        # the comparators of Table 2: no authors' file (fixture: no_authors_file)
            runs[(config["baseline"], config["dataset"], bool(config["ssa"]["enabled"]))] = config
    return runs


RUNS = _paper_runs()


def expected(fact: str, run: dict, authors_value):
    for key in ((fact, run["baseline"]), (fact, None)):
        if key in DELIBERATE:
            return DELIBERATE[key][0]
    if fact == "model.pretrained" and run["baseline"] in PRETRAINED:
        return PRETRAINED[run["baseline"]]
    return authors_value


def mismatches(cfg, config: dict, run: dict, facts=None) -> list[str]:
    ours = our_facts(cfg, config)
    theirs = authors_facts(run)
    out = []
    for fact, value in theirs.items():
        if facts is not None and fact not in facts:
            continue
        want = expected(fact, run, value)
        if ours.get(fact, "<missing>") != want:
            source = run["facts"][fact]["source"]
            out.append(f"{fact}: ours {ours.get(fact, '<missing>')!r}, authors {value!r} ({source})"
                       + ("" if want == value else f", documented {want!r}"))
    return out


def test_every_paper_run_of_tables_1_and_2_is_covered():
    # 62 distinct runs; the four FCN runs have no authors' file (the fixture lists them)
    assert len(RUNS) == 62
    in_fixture = {(r["baseline"], r["dataset"], r["ssa"]) for r in FIXTURE["runs"]}
    no_file = {(r["baseline"], r["dataset"], r["ssa"]) for r in FIXTURE["no_authors_file"] if "baseline" in r}
    assert set(RUNS) == in_fixture | no_file and len(in_fixture) == 58


@pytest.mark.parametrize("run", FIXTURE["runs"], ids=lambda r: f"{r['baseline']}-{r['dataset']}-{'ssa' if r['ssa'] else 'base'}")
def test_recipe_equals_the_authors_config(run, tmp_path):
    config = RUNS[(run["baseline"], run["dataset"], run["ssa"])]
    cfg = build_mmseg_config(config, str(tmp_path))
    facts = [f for f in run["facts"] if not f.startswith("ssa.")]
    assert mismatches(cfg, config, run, facts) == []


def test_ssa_runs_train_the_authors_released_head(tmp_path):
    bad = []
    for run in FIXTURE["runs"]:
        if not run["ssa"]:
            continue
        config = RUNS[(run["baseline"], run["dataset"], True)]
        cfg = build_mmseg_config(config, str(tmp_path))
        facts = [f for f in run["facts"] if f.startswith("ssa.")]
        bad += [f"{run['file']}: {m}" for m in mismatches(cfg, config, run, facts)]
    assert bad == []


def test_batch_split_is_the_authors_and_noted_where_bn_depends_on_it():
    from ssa_bench.vocabulary.authors_runs import authors_batch_split, batch_split_record

    for run in FIXTURE["runs"]:
        facts = run["facts"]
        assert authors_batch_split(run["baseline"], run["dataset"], run["ssa"]) == (
            facts["batch.samples_per_gpu"]["value"], facts["batch.gpus"]["value"]), run["file"]
    afformer = RUNS[("afformer_b", "ade20k", False)]
    assert batch_split_record(afformer, 4) == {"per_gpu": 4, "gpus": 4, "authors": [4, 4], "note": None}
    one = batch_split_record(afformer, 1)
    assert one["per_gpu"] == 16 and "BN statistics over 16 images per GPU x 1 (the authors: 4 x 4)" in one["note"]
    # SyncBN (ViT-Adapter-L: 2 x 8 there) computes its statistics over the whole batch: no note
    assert batch_split_record(RUNS[("vit_adapter_l", "ade20k", True)], 1)["note"] is None
    assert batch_split_record(RUNS[("fcn_r101", "ade20k", False)], 1)["authors"] is None


def test_vit_adapter_pascal_context_test_resize_runs_as_the_authors(tmp_path):
    # configs/vit-adapter/upernet_augreg_adapter_large_480_80k_pc.py:56,61: keep-ratio resize to
    # (4096, 520), then up to a multiple of 32: a 500x375 image is tested at 704x544 (h x w 544 x 704)
    import numpy as np

    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    from mmcv.transforms import Compose
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = build_mmseg_config(RUNS[("vit_adapter_l", "pascal_context59", False)], str(tmp_path))
    steps = [s for s in cfg.test_dataloader.dataset.pipeline if s["type"] in ("Resize", "ResizeToMultiple")]
    assert [s["type"] for s in steps] == ["Resize", "ResizeToMultiple"]
    out = Compose([dict(s) for s in steps])({"img": np.zeros((375, 500, 3), np.uint8)})
    assert out["img"].shape[:2] == (544, 704)
    # COCO-Stuff without ResizeToMultiple for a whole-image baseline: 512 x 683 stays
    cfg = build_mmseg_config(RUNS[("segformer_b5", "coco_stuff10k", False)], str(tmp_path))
    steps = [s for s in cfg.test_dataloader.dataset.pipeline if s["type"] in ("Resize", "ResizeToMultiple")]
    out = Compose([dict(s) for s in steps])({"img": np.zeros((375, 500, 3), np.uint8)})
    assert out["img"].shape[:2] == (512, 683)
