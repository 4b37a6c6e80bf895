"""The paper's matrix files (experiments/tables/): each plans exactly the cells the paper reports,
and tables that need the same training share its run."""
from __future__ import annotations

from pathlib import Path

import pytest

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.classifier_settings.ssa import PRESETS, SSASettings, resolve_settings
from ssa_bench.matrix import plan
from ssa_bench.vocabulary.paper_numbers import load_paper_numbers
from ssa_bench.matrix import load_spec

REPO = Path(__file__).resolve().parents[2]
# Planned runs per file at the paper's scale: rows x datasets of the paper's table (Table 1: 9
# baselines x 2 rows x 3 datasets; Table 2: 5 baselines x 2 rows x 2 datasets + the 5 CAC cells the
# paper prints); presets: paper, released and one row per difference.
EXPECTED_RUNS = {"table1": 54, "table2": 34, "table3": 7, "table4": 7, "table5": 4, "table6": 2,
                 "table7": 3, "table8": 3, "presets": 17, "classifiers": 6 * 4 * 3}


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def _runs(name: str, profile: str = "paper"):
    spec = load_spec(f"tables/{name}.yaml", profile=profile)
    return spec, plan(spec)


def test_every_table_of_the_paper_has_a_matrix_file():
    names = {p.stem for p in (REPO / "experiments" / "tables").glob("*.yaml")}
    assert names == set(EXPECTED_RUNS)


@pytest.mark.parametrize("name", [f"table{i}" for i in range(1, 9)])
def test_each_file_plans_the_cells_the_paper_reports(name):
    """Every run lands on a cell of the paper's table, and every reported cell of a row the spec
    runs (not a paper-only row) has exactly one run."""
    spec, runs = _runs(name)
    assert len(runs) == EXPECTED_RUNS[name]
    paper = load_paper_numbers().table(name)
    paper_only = set()
    for row in spec.rows:
        if row.paper_only:
            section = paper.section(row.section)
            paper_only.add((section.name, section.row(row.label).label))
    planned = []
    for run in runs:
        section = paper.section(run.section, {run.paper_baseline})
        assert section is not None, (run.section, run.label)
        row = section.row(run.label)
        assert row is not None, f"{name}: row '{run.label}' is not a row of the paper's {section.name or name}"
        group = run.paper_dataset if row.groups else None
        assert paper.value(row, "mIoU", group) is not None, (section.name, row.label, group)
        planned.append((section.name, row.label, group))
    assert len(set(planned)) == len(planned)
    reported = set()
    for section in paper.sections:
        for row in section.rows:
            if (section.name, row.label) in paper_only:
                continue
            groups = [g for g, values in row.groups.items() if "mIoU" in values] or [None]
            reported |= {(section.name, row.label, g) for g in groups}
    assert set(planned) == reported


def test_table1_crosses_nine_baselines_with_three_datasets_in_the_papers_order():
    spec, runs = _runs("table1")
    sections = list(dict.fromkeys(run.section for run in runs))
    assert sections[0] == "OCRNet (HRNet-W48)" and sections[-1] == "SeaFormer-L" and len(sections) == 9
    assert {run.column for run in runs} == {"ade20k", "coco_stuff10k", "pascal_context59"}
    pascal = [run for run in runs if run.column == "pascal_context59"]
    assert all(run.config["train"]["crop_size"] == [480, 480] == run.config["measure"]["input_size"] for run in pascal)
    assert {run.config["train"]["max_iters"] for run in runs if run.column == "ade20k"} == {160_000}
    assert spec.report["columns"] == ["latency_ms", "gflops", "mIoU"]


def test_table2_runs_every_cell_the_paper_prints():
    spec, runs = _runs("table2")
    assert not [row for row in spec.rows if row.paper_only]
    cells = {(run.label, run.paper_baseline, run.column) for run in runs
             if run.label not in ("Baseline", "SSA (Ours)")}
    assert cells == {
        ("ProtoSeg", "fcn_r101", "ade20k"), ("ProtoSeg", "fcn_r101", "coco_stuff10k"),
        ("DNC", "fcn_r101", "ade20k"), ("DNC", "fcn_r101", "coco_stuff10k"),
        ("DNC", "upernet_swin_b", "ade20k"), ("DNC", "upernet_swin_b", "coco_stuff10k"),
        ("GMMSeg", "upernet_swin_b", "ade20k"), ("GMMSeg", "upernet_swin_b", "coco_stuff10k"),
        ("GMMSeg", "ocrnet_hr48", "ade20k"),
        ("CAC", "ocrnet_hr48", "ade20k"),
        ("CAC", "segnext_t", "ade20k"), ("CAC", "segnext_t", "coco_stuff10k"),
        ("CAC", "seaformer_b", "ade20k"), ("CAC", "seaformer_b", "coco_stuff10k")}
    for run in runs:
        kind = {"ProtoSeg": "protoseg", "DNC": "dnc", "GMMSeg": "gmmseg", "CAC": "cac"}.get(run.label)
        assert (run.config.get("classifier") or {}).get("type") == kind
        assert not (kind and run.config["ssa"]["enabled"])
    assert len({run.id for run in runs}) == 5 * 2 * 2 + 14


def test_the_full_ssa_model_is_one_run_across_tables():
    """SeaFormer-L + SSA on ADE20K (the released head, issue 22) is the last row of Tables 3 and 4,
    Table 1's SSA row, the paper's choice in Tables 5-7, the released code's edge size in Table 8
    (3; the paper's is 4) and the presets table's released row: one training serves all of them."""
    ids = {
        "table1": next(r.id for r in _runs("table1")[1] if r.label == "SSA (Ours)"
                       and r.paper_baseline == "seaformer_l" and r.column == "ade20k"),
        "table3": _runs("table3")[1][-1].id,
        "table4": _runs("table4")[1][-1].id,
        "table5": next(r.id for r in _runs("table5")[1] if r.label == "SSA"),
        "table6": next(r.id for r in _runs("table6")[1] if r.label == "Softmax_HW"),
        "table7": next(r.id for r in _runs("table7")[1] if r.label == "CPVT"),
        "table8": next(r.id for r in _runs("table8")[1] if r.label == "3"),
        "presets": _runs("presets")[1][-1].id,
    }
    assert len(set(ids.values())) == 1, ids
    assert _runs("table3")[1][-1].config["ssa"] == resolve_settings({"enabled": True}).to_dict()
    baseline_t1 = next(r.id for r in _runs("table1")[1] if r.label == "Baseline"
                       and r.paper_baseline == "seaformer_l" and r.column == "ade20k")
    assert baseline_t1 == _runs("table3")[1][0].id


def test_presets_table_switches_on_each_released_difference_once():
    _, runs = _runs("presets")
    paper = resolve_settings({"enabled": True, "variant": "paper"}).to_dict()
    released = resolve_settings({"enabled": True}).to_dict()
    assert runs[0].config["ssa"] == paper and runs[-1].config["ssa"] == released
    differences = {key for key in SSASettings.field_names() if paper[key] != released[key]} - {"variant"}
    assert differences <= set(PRESETS["released"])
    covered = []
    for run in runs[1:-1]:
        changed = {key for key in paper if run.config["ssa"][key] != paper[key]}
        assert changed and changed <= differences, (run.label, changed)
        assert all(run.config["ssa"][key] == released[key] for key in changed)
        covered += changed
    assert sorted(covered) == sorted(differences)   # every difference, each in one row


@pytest.mark.parametrize("name", sorted(EXPECTED_RUNS))
def test_every_file_runs_on_the_demo_profile(name):
    spec, runs = _runs(name, "cpu-demo")
    assert len(runs) == EXPECTED_RUNS[name]
    assert {r.config["baseline"] for r in runs} == {"segformer_mini"}
    assert {r.config["dataset"] for r in runs} == {"demo_shapes"}
    assert {r.paper_dataset for r in runs} <= set(DATASETS)


@pytest.mark.parametrize("name", [f"table{i}" for i in range(1, 9)] + ["classifiers"])
def test_every_ssa_run_of_the_papers_tables_is_the_released_head(name):
    """Issue 22: Tables 1-8 (and the classifiers table) train the authors' released head; the
    ablation rows switch keys on top of it, never the preset's differences from the paper."""
    released = resolve_settings({"enabled": True}).to_dict()
    differences = set(PRESETS["released"])
    ssa_runs = [run for run in _runs(name)[1] if run.config["ssa"]["enabled"]]
    assert ssa_runs
    for run in ssa_runs:
        ssa = run.config["ssa"]
        assert ssa["variant"] == "released", run.label
        # Tables 3-4 switch L_sd / L_pd off (0) or on at the released weights; Table 8 the edge size
        changed = {key for key in differences if ssa[key] != released[key]}
        assert changed <= {"w_sd", "w_pd", "edge_size"}, (run.label, changed)
        assert ssa["w_sd"] in (0.0, released["w_sd"]) and ssa["w_pd"] in (0.0, released["w_pd"])


def test_the_schedule_study_names_both_presets():
    spec = load_spec("studies/schedule.yaml", profile="cpu-demo")
    variants = {run.label: run.config["ssa"]["variant"] for run in plan(spec)
                if run.config["ssa"]["enabled"]}
    assert set(variants.values()) == {"paper", "released"}
    assert all(("paper" in label) == (variant == "paper") for label, variant in variants.items())


def test_the_demo_profile_keeps_a_demo_data_studys_own_schedule():
    """A study written for demo data keeps its rows' iterations under cpu-demo (the profile fills
    only what the study leaves out); a paper table is mapped onto the profile's 2000 iterations."""
    runs = plan(load_spec("studies/schedule.yaml", profile="cpu-demo"))
    assert len(runs) == 36 and len({run.id for run in runs}) == 36
    assert {run.config["dataset"] for run in runs} == {"demo_scenes"}
    by_row: dict[str, set[int]] = {}
    for run in runs:
        by_row.setdefault(run.group, set()).add(run.config["train"]["max_iters"])
    assert len(by_row) == 3
    assert all(iters == {1000, 2000, 4000, 8000} for iters in by_row.values()), by_row
    # the column a run lands in (train.max_iters is pivoted) is the iterations it trains
    assert all(run.column == str(run.config["train"]["max_iters"]) for run in runs)
    # what the study leaves out the profile fills: the demo model trains from scratch
    assert {run.config["train"]["pretrained"] for run in runs} == {None}
    table = plan(load_spec("tables/table3.yaml", profile="cpu-demo"))
    assert {run.config["train"]["max_iters"] for run in table} == {2000}
