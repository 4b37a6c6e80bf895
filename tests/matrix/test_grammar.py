"""The matrix grammar: one fixture per feature (tests/matrix/fixtures/), expanded and resolved."""
from __future__ import annotations

from pathlib import Path


from ssa_bench.matrix import load_spec, plan

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str, **kwargs):
    return load_spec(str(FIXTURES / name), **kwargs)


def test_axes_cross_rows_and_become_columns():
    spec = load("axes_product.yaml")
    cells = [(e.label, e.column) for e in spec.runs]
    assert cells == [(label, d) for label in ("Baseline", "SSA")
                     for d in ("ade20k", "coco_stuff10k", "pascal_context59")]
    crops = {e.column: e.config["train"]["crop_size"] for e in spec.runs}
    assert crops["pascal_context59"] == [480, 480] and crops["ade20k"] == [512, 512]
    assert {e.config["train"]["max_iters"] for e in spec.runs if e.column == "ade20k"} == {160_000}


def test_zip_steps_axes_together_and_names_them_in_labels():
    spec = load("zip_axes.yaml")
    assert [(e.config["ssa"]["edge_size"], e.config["train"]["lr"]) for e in spec.runs] == [
        (3, 1e-4), (4, 2e-4), (5, 3e-4)]
    assert spec.runs[0].label == "SSA (edge_size=3, lr=0.0001)"


def test_include_and_exclude():
    spec = load("include_exclude.yaml")
    cells = [(e.label, e.column) for e in spec.runs]
    assert ("SSA", "coco_stuff10k") not in cells
    assert ("SSA", "ade20k") in cells and ("Baseline", "coco_stuff10k") in cells
    released = [e for e in spec.runs if e.label == "SSA released"]
    assert released and released[0].config["ssa"]["logits"] == "cosine"


def test_seeds_repeat_rows_with_distinct_runs():
    runs = plan(load("seeds.yaml"))
    assert [(r.label, r.seed) for r in runs] == [(label, s) for label in ("Baseline", "SSA") for s in (0, 1, 2)]
    assert len({r.id for r in runs}) == 6
    assert {r.group for r in runs} == {"Baseline", "SSA"}


def test_sections_name_baselines_as_the_paper_does():
    spec = load("sections.yaml")
    assert [e.section for e in spec.runs] == ["OCRNet (HRNet-W48)", "SeaFormer-B"] * 2
    assert [e.label for e in spec.runs] == ["Baseline", "Baseline", "SSA (Ours)", "SSA (Ours)"]


def test_inline_dataset_is_resolved_into_the_config():
    entry = load("inline_dataset.yaml").runs[0]
    assert entry.config["dataset"] == "my_roads"
    assert entry.config["dataset_def"]["classes"] == ["road", "car", "person"]
    assert entry.config["dataset_def"]["reduce_zero_label"] is False
    assert entry.config["train"]["max_iters"] == 2000


def test_cfg_overrides_are_kept_flat_and_hashed():
    spec = load("cfg_override.yaml")
    assert spec.runs[0].config["cfg"] == {"model.decode_head.channels": 128}
    other = load("cfg_override.yaml", overrides=["cfg.model.decode_head.channels=256"])
    assert plan(spec)[0].id != plan(other)[0].id


def test_paper_only_rows_are_listed_for_the_report_but_never_run():
    spec = load("paper_only.yaml")
    assert [(r.label, r.paper_only) for r in spec.rows] == [("FCN", False), ("ProtoSeg", True), ("SSA (Ours)", False)]
    assert [e.label for e in spec.runs] == ["FCN", "SSA (Ours)"]


def test_set_overrides_apply_after_the_profile():
    spec = load("seeds.yaml", profile="cpu-demo", overrides=["train.max_iters=7", "seeds=[4]"])
    assert {e.config["train"]["max_iters"] for e in spec.runs} == {7}
    assert {e.seed for e in spec.runs} == {4}
    assert {e.config["baseline"] for e in spec.runs} == {"segformer_mini"}
    assert {e.paper_baseline for e in spec.runs} == {"seaformer_l"}


def test_set_dataset_to_an_inline_dataset_by_name():
    spec = load("inline_dataset.yaml", overrides=["dataset=my_roads", "ssa.variant=released"])
    assert spec.runs[1].config["ssa"]["variant"] == "released"


def test_cpu_demo_profile_maps_the_paper_setting_onto_the_demo():
    spec = load("axes_product.yaml", profile="cpu-demo")
    assert {e.config["dataset"] for e in spec.runs} == {"demo_shapes"}
    assert {e.config["train"]["device"] for e in spec.runs} == {"cpu"}
    assert {e.paper_dataset for e in spec.runs} == {"ade20k", "coco_stuff10k", "pascal_context59"}
    # SSA switches survive the mapping
    assert [e.config["ssa"]["enabled"] for e in spec.runs] == [False] * 3 + [True] * 3


def test_a_switched_off_ssa_block_resolves_to_one_baseline_config():
    spec_a = load("seeds.yaml", overrides=["seeds=[0]"])
    spec_b = load("seeds.yaml", overrides=["seeds=[0]", "ssa.w_g=0"])
    assert plan(spec_a)[0].id == plan(spec_b)[0].id      # Baseline row: ssa off either way
    assert plan(spec_a)[1].id != plan(spec_b)[1].id      # SSA row: w_g matters
