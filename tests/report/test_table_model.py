"""The table model: row order, paper | ours | delta, gains and their arrows, missing and paper-only rows."""
from __future__ import annotations

import pytest
from tests.report.report_fixtures import planned_run, FakeSpec, write_record, write_state

from ssa_bench.errors import UserError
from ssa_bench.report import report_table
from ssa_bench.report.api import tolerances_from
from ssa_bench.report.paper_check import compare_with_paper
from ssa_bench.report.caption import caption_sentences

TABLE3 = ["Baseline", "+ SEPA", "+ SPPA", "+ SEPA + SPPA", "+ SEPA + Lg + Lsd", "+ SPPA + Lg + Lpd", "SSA (Ours)"]


def _table3(tmp_path, mious, seeds=1, spread=0.0, columns=("gflops", "mIoU"), report=None, **spec_fields):
    """Runs for Table 3's rows; row i, seed s gets mious[i] + (s - mean seed) * spread (None: no record)."""
    runs = []
    for i, label in enumerate(TABLE3):
        for seed in range(seeds):
            run_id = f"t3r{i}s{seed}"
            runs.append(planned_run(run_id, label, seed=seed, group=label))
            if mious[i] is not None:
                write_record(tmp_path, run_id, miou=mious[i] + (seed - (seeds - 1) / 2) * spread, seed=seed)
            else:
                write_state(tmp_path, run_id, "failed")
    spec = FakeSpec("table3", title="Table 3", paper_table=3,
                    report={"columns": list(columns), **(report or {})}, **spec_fields)
    return spec, runs


def _cell(table, label, metric, group=None):
    column = next(i for i, c in enumerate(table.columns) if c.metric == metric and c.group == group)
    row = next(r for r in table.rows if r.label == label)
    return row.cells[column]


def test_rows_follow_the_spec_and_cells_hold_paper_ours_delta_gain(tmp_path):
    spec, runs = _table3(tmp_path, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, 45.0])
    table = report_table(spec, runs, tmp_path)
    assert [r.label for r in table.rows] == TABLE3
    cell = _cell(table, "+ SEPA + Lg + Lsd", "mIoU")
    assert cell.paper == pytest.approx(44.26)
    assert cell.ours == pytest.approx(44.0)
    assert cell.delta == pytest.approx(44.0 - 44.26)
    assert cell.gain == pytest.approx(2.0)               # over "Baseline", ours
    assert cell.paper_gain == pytest.approx(44.26 - 42.36)
    assert cell.gain_shown                                # single seed: drawn
    base = _cell(table, "Baseline", "mIoU")
    assert base.gain is None and next(r for r in table.rows if r.label == "Baseline").is_baseline
    assert _cell(table, "SSA (Ours)", "gflops").paper == pytest.approx(6.4)
    assert any(s.startswith("Single seed") for s in caption_sentences(table))


def test_arrow_only_when_the_gain_exceeds_the_seed_spread(tmp_path):
    # Rows 1-6 all gain 0.5 over the baseline; seeds spread by 1.0 (std 1.0 per row) -> noise ~1.41.
    spec, runs = _table3(tmp_path, [42.0] + [42.5] * 5 + [45.0], seeds=3, spread=1.0)
    table = report_table(spec, runs, tmp_path)
    small, large = _cell(table, "+ SEPA", "mIoU"), _cell(table, "SSA (Ours)", "mIoU")
    assert small.std == pytest.approx(1.0) and small.n == 3 and small.n_expected == 3
    assert small.gain == pytest.approx(0.5) and small.gain_noise == pytest.approx(2 ** 0.5)
    assert not small.gain_shown
    assert large.gain == pytest.approx(3.0) and large.gain_shown
    assert table.max_seeds == 3
    assert any("seed spread" in s for s in caption_sentences(table))


def test_gflops_gains_never_draw_an_arrow(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] * 7)
    table = report_table(spec, runs, tmp_path)
    assert not any(r.cells[0].gain_shown for r in table.rows)


def test_baseline_row_can_be_named(tmp_path):
    spec, runs = _table3(tmp_path, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, 45.0],
                         report={"baseline_row": "+ SEPA + SPPA"})
    table = report_table(spec, runs, tmp_path)
    assert _cell(table, "SSA (Ours)", "mIoU").gain == pytest.approx(2.0)
    assert _cell(table, "SSA (Ours)", "mIoU").paper_gain == pytest.approx(45.36 - 43.27)
    assert _cell(table, "Baseline", "mIoU").gain == pytest.approx(-1.0)


def test_missing_runs_are_flagged_never_filled(tmp_path):
    spec, runs = _table3(tmp_path, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, None])
    table = report_table(spec, runs, tmp_path)
    cell = _cell(table, "SSA (Ours)", "mIoU")
    assert cell.missing and cell.ours is None and cell.delta is None and cell.gain is None
    assert cell.paper == pytest.approx(45.36)
    assert next(r for r in table.rows if r.label == "SSA (Ours)").states == {"failed": 1}
    assert any("no record yet" in s and "1 failed" in s for s in caption_sentences(table))


def test_partially_finished_seeds_are_marked(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] * 7, seeds=2)
    (tmp_path / "runs" / "t3r6s1" / "record.json").unlink()
    table = report_table(spec, runs, tmp_path)
    cell = _cell(table, "SSA (Ours)", "mIoU")
    assert cell.partial and not cell.missing and (cell.n, cell.n_expected) == (1, 2)
    assert next(r for r in table.rows if r.label == "SSA (Ours)").seeds == (1, 2)


def test_unknown_report_column_is_a_user_error(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] * 7, columns=("mIoU", "miou_ms"))
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert caught.value.key == "report.columns[1]" and "mIoU" in caught.value.fix


def test_cpu_demo_caption_says_it_is_not_the_papers_setting(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] * 7, profile="cpu-demo")
    sentences = caption_sentences(report_table(spec, runs, tmp_path))
    assert any("CPU demo on synthetic data" in s and "not the paper's setting" in s for s in sentences)


def _table1(tmp_path, device_of=lambda run_id: "cpu"):
    runs = []
    blocks = [("ocrnet_hr48", "block-A", "OCRNet"), ("seaformer_l", "block-B", "SeaFormer-L")]
    for b, (baseline, section, base_label) in enumerate(blocks):
        for r, label in enumerate([base_label, "SSA (Ours)"]):
            for d, dataset in enumerate(["ade20k", "coco_stuff10k", "pascal_context59"]):
                run_id = f"t1b{b}r{r}d{d}"
                runs.append(planned_run(run_id, label, section=section, column=dataset, paper_baseline=baseline,
                                    paper_dataset=dataset))
                device = device_of(run_id)
                write_record(tmp_path, run_id, miou=40.0 + r + d, gflops=5.0 + d, latency_ms=20.0 + b,
                             device=device, device_name="gpu0" if device == "cuda" else "test-cpu")
    spec = FakeSpec("table1", title="Table 1", paper_table="table1",
                    report={"columns": ["latency_ms", "gflops", "mIoU"], "column_groups": "dataset"})
    return spec, runs


def test_grouped_table_finds_paper_numbers_by_paper_baseline_and_dataset(tmp_path):
    spec, runs = _table1(tmp_path)
    table = report_table(spec, runs, tmp_path)
    assert [(r.section, r.label) for r in table.rows] == [
        ("block-A", "OCRNet"), ("block-A", "SSA (Ours)"), ("block-B", "SeaFormer-L"), ("block-B", "SSA (Ours)")]
    # latency once per row (measured on the ADE20K model, as the paper did), then each dataset
    assert [(c.metric, c.group, c.shared) for c in table.columns[:3]] == [
        ("latency_ms", "ade20k", True), ("gflops", "ade20k", False), ("mIoU", "ade20k", False)]
    assert len(table.columns) == 1 + 3 * 2
    assert _cell(table, "SSA (Ours)", "mIoU", "pascal_context59").paper == pytest.approx(50.21)
    assert _cell(table, "SSA (Ours)", "latency_ms", "ade20k").paper == pytest.approx(69.3)
    seaformer = [r for r in table.rows if r.section == "block-B"][1]
    assert seaformer.cells[table.columns.index(next(c for c in table.columns if c.group == "ade20k" and c.metric == "mIoU"))].paper == pytest.approx(45.36)


def test_latency_delta_only_between_comparable_devices(tmp_path):
    spec, runs = _table1(tmp_path)
    table = report_table(spec, runs, tmp_path)
    cell = _cell(table, "OCRNet", "latency_ms", "ade20k")
    assert cell.ours == pytest.approx(20.0) and cell.paper == pytest.approx(67.2) and cell.delta is None
    assert any("cpu (test-cpu)" in s and "V100" in s and "no Δ" in s for s in caption_sentences(table))
    gpu_root = tmp_path / "gpu"
    spec, runs = _table1(gpu_root, device_of=lambda run_id: "cuda")
    cell = _cell(report_table(spec, runs, gpu_root), "OCRNet", "latency_ms", "ade20k")
    assert cell.delta == pytest.approx(20.0 - 67.2)


def test_refuses_to_mix_latencies_from_different_devices(tmp_path):
    spec, runs = _table1(tmp_path, device_of=lambda run_id: "cuda" if run_id == "t1b1r1d2" else "cpu")
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert "different devices" in caught.value.message and caught.value.key == "report.columns"
    spec.report["columns"] = ["gflops", "mIoU"]   # without a latency column the table is fine
    assert report_table(spec, runs, tmp_path).rows


def _table2(tmp_path, paper_only):
    runs = []
    for b, (baseline, section) in enumerate([("fcn_r101", "FCN"), ("ocrnet_hr48", "OCRNet")]):
        for r, label in enumerate([section, "CAC", "SSA (Ours)"]):
            for dataset in ("ade20k", "coco_stuff10k"):
                run_id = f"t2b{b}r{r}{dataset}"
                runs.append(planned_run(run_id, label, section=section, column=dataset, paper_baseline=baseline,
                                    paper_dataset=dataset))
                write_record(tmp_path, run_id, miou=40.0 + r)
    spec = FakeSpec("table2", title="Table 2", paper_table=2,
                    report={"columns": ["gflops", "mIoU"], "column_groups": "dataset", "paper_only_rows": paper_only})
    return spec, runs


def test_paper_only_rows_sit_where_the_paper_has_them(tmp_path):
    spec, runs = _table2(tmp_path, ["ProtoSeg", "DNC", {"label": "GMMSeg", "section": "OCRNet"}])
    table = report_table(spec, runs, tmp_path)
    assert [(r.section, r.label, r.paper_only) for r in table.rows] == [
        ("FCN", "FCN", False), ("FCN", "ProtoSeg", True), ("FCN", "DNC", True), ("FCN", "CAC", False),
        ("FCN", "SSA (Ours)", False),
        ("OCRNet", "OCRNet", False), ("OCRNet", "GMMSeg", True), ("OCRNet", "CAC", False),
        ("OCRNet", "SSA (Ours)", False)]
    protoseg = next(r for r in table.rows if r.label == "ProtoSeg")
    ade = next(i for i, c in enumerate(table.columns) if c.group == "ade20k" and c.metric == "mIoU")
    assert protoseg.cells[ade].paper == pytest.approx(41.1)
    assert protoseg.cells[ade].paper_gain == pytest.approx(1.2)
    assert protoseg.cells[ade].ours is None and not protoseg.cells[ade].missing
    # CAC under FCN is ours only: the paper has no such row
    fcn_cac = next(r for r in table.rows if r.section == "FCN" and r.label == "CAC")
    assert fcn_cac.cells[ade].paper is None and fcn_cac.cells[ade].ours == pytest.approx(41.0)
    # GFLOPs printed once per row, measured on ADE20K as the paper did
    assert table.columns[0].metric == "gflops" and table.columns[0].shared


def test_a_paper_only_row_the_spec_runs_or_asks_twice_is_shown_once(tmp_path):
    # CAC is a row of the paper's OCRNet block that the spec runs itself; ProtoSeg is asked for twice.
    spec, runs = _table2(tmp_path, ["CAC", "ProtoSeg", {"label": "ProtoSeg", "section": "FCN"}])
    table = report_table(spec, runs, tmp_path)
    assert [(r.section, r.label, r.paper_only) for r in table.rows] == [
        ("FCN", "FCN", False), ("FCN", "ProtoSeg", True), ("FCN", "CAC", False), ("FCN", "SSA (Ours)", False),
        ("OCRNet", "OCRNet", False), ("OCRNet", "CAC", False), ("OCRNet", "SSA (Ours)", False)]


def test_a_paper_only_row_the_paper_lacks_is_a_user_error(tmp_path):
    spec, runs = _table2(tmp_path, ["ProtoSeg", "Mask2Former"])
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert caught.value.key == "report.paper_only_rows[1]" and "Mask2Former" in caught.value.message


def test_a_table_without_paper_numbers_shows_ours_only(tmp_path):
    write_record(tmp_path, "p1", miou=41.0)
    write_record(tmp_path, "p2", miou=41.5)
    spec = FakeSpec("presets", title="paper vs released", paper_table=None, report={"columns": ["mIoU"]})
    table = report_table(spec, [planned_run("p1", "paper"), planned_run("p2", "released")], tmp_path)
    assert not table.has_paper
    assert table.rows[1].cells[0].gain == pytest.approx(0.5) and table.rows[1].cells[0].paper is None


def test_paper_differences_beyond_tolerance(tmp_path):
    spec, runs = _table3(tmp_path, [42.36, 42.88, 41.0, 43.27, 44.26, 44.48, None])
    table = report_table(spec, runs, tmp_path)
    check = compare_with_paper(table, tolerances_from(0.5))
    found = check.differences
    assert [(d.row, d.column) for d in found] == [("+ SPPA", "mIoU")]
    assert [m.row for m in check.missing] == ["SSA (Ours)"] * 2      # failed: its mIoU and GFLOPs
    assert found[0].paper == pytest.approx(42.76) and found[0].ours == pytest.approx(41.0)
    assert found[0].diff == pytest.approx(1.76)
    assert "+ SPPA" in str(found[0]) and "1.76" in str(found[0])
    assert len(compare_with_paper(table, tolerances_from(2.0)).differences) == 0
    with pytest.raises(UserError):
        tolerances_from(-1)


def test_rank_by_orders_rows_best_first_and_leaves_missing_ones_last(tmp_path):
    spec, runs = _table3(tmp_path, [42.0, 44.5, None, 43.0, 44.0, 41.0, 45.0],
                         report={"rank_by": "mIoU"})
    table = report_table(spec, runs, tmp_path)
    assert [(r.label, r.rank) for r in table.rows] == [
        ("SSA (Ours)", 1), ("+ SEPA", 2), ("+ SEPA + Lg + Lsd", 3), ("+ SEPA + SPPA", 4),
        ("Baseline", 5), ("+ SPPA + Lg + Lpd", 6), ("+ SPPA", None)]
    from ssa_bench.report.render_markdown import render_markdown

    text = render_markdown(table)
    assert "| Method | # |" in text and "| SSA (Ours) | 1 |" in text
    assert any("ranked by mean mIoU" in line for line in text.splitlines())
    # cost metrics rank the smallest first
    spec, runs = _table3(tmp_path / "cost", [42.0] * 7, report={"rank_by": "gflops"})
    assert report_table(spec, runs, tmp_path / "cost").rows[0].rank == 1


@pytest.mark.parametrize("metric", ["gflops", "gflops_full"])
def test_rank_by_a_cost_metric_puts_the_cheapest_row_first(tmp_path, metric):
    # gflops_full was missing from the report's own copy of the cost metrics, so rank_by:
    # gflops_full put the most expensive row first.
    runs = []
    for i, label in enumerate(TABLE3):
        runs.append(planned_run(f"r{i}", label))
        write_record(tmp_path, f"r{i}", miou=42.0, gflops=10.0 - i)    # the last row is the cheapest
    spec = FakeSpec("table3", title="Table 3", paper_table=3, report={"columns": [metric, "mIoU"], "rank_by": metric})
    table = report_table(spec, runs, tmp_path)
    assert [r.label for r in table.rows][0] == TABLE3[-1]
    assert [r.rank for r in table.rows] == list(range(1, 8))


def test_report_decimals_of_the_spec_are_applied_over_the_papers(tmp_path):
    spec, runs = _table3(tmp_path, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, 45.0],
                         report={"decimals": {"mIoU": 1, "gflops": 3}})
    table = report_table(spec, runs, tmp_path)
    assert table.decimals_for("mIoU") == 1 and table.decimals_for("gflops") == 3
    from ssa_bench.report.render_markdown import render_markdown

    text = render_markdown(table)
    assert "45.0" in text and "45.00" not in text      # ours, one decimal
    assert "6.400" in text                              # the paper's 6.4 GFLOPs, three decimals


def test_caption_names_runs_whose_batch_split_changes_bn_statistics(tmp_path):
    import json

    from ssa_bench.vocabulary.authors_runs import batch_split_record

    spec, runs = _table3(tmp_path, [42.0] * 7)
    assert not any("BN statistics" in s for s in caption_sentences(report_table(spec, runs, tmp_path)))
    config = {"baseline": "afformer_b", "dataset": "ade20k", "ssa": {"enabled": False}, "train": {"batch_size": 16}}
    path = tmp_path / "runs" / "t3r0s0" / "record.json"
    record = json.loads(path.read_text())
    record["train"]["batch_split"] = batch_split_record(config, world_size=1)
    path.write_text(json.dumps(record))
    sentences = caption_sentences(report_table(spec, runs, tmp_path))
    assert any("afformer_b: BN statistics over 16 images per GPU x 1 (the authors: 4 x 4)" in s for s in sentences)


# -- found by mutation testing (tools/mutation.py report) -----------------------------------------
def test_table_errors_name_the_spec_file_and_the_fix(tmp_path):
    spec, runs = _table2(tmp_path, ["ProtoSeg", "Mask2Former"])
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert caught.value.file == spec.path and "paper_numbers.yaml" in caught.value.fix
    spec, runs = _table2(tmp_path, ["ProtoSeg"])
    spec.paper_table = None
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert caught.value.file == spec.path and caught.value.key == "report.paper_only_rows[0]"
    assert "no paper table" in caught.value.message and "report.paper_table" in caught.value.fix
    spec, runs = _table1(tmp_path, device_of=lambda run_id: "cuda" if run_id == "t1b1r1d2" else "cpu")
    with pytest.raises(UserError) as caught:
        report_table(spec, runs, tmp_path)
    assert "drop latency_ms from report.columns" in caught.value.fix


def test_column_groups_are_titled_by_dataset_and_unknown_groups_keep_their_name():
    from ssa_bench.report.table_model import _group_title
    from ssa_bench.vocabulary.names import DATASETS

    assert _group_title("ade20k") == DATASETS["ade20k"].title != "ade20k"
    assert _group_title("my_own_group") == "my_own_group" and _group_title(None) is None


def test_provenance_and_csv_carry_every_field_under_its_name(tmp_path):
    import json

    from ssa_bench.report import write_report
    from ssa_bench.report.render_csv import CSV_COLUMNS, tidy_frame

    spec, runs = _table2(tmp_path, ["ProtoSeg"])
    spec.report["rank_by"] = "mIoU"
    table = report_table(spec, runs, tmp_path)
    write_report(spec, runs, tmp_path, formats=("csv",), out_dir=tmp_path / "out", table=table)
    record = json.loads((tmp_path / "out" / "table2.provenance.json").read_text())
    assert (record["table"], record["spec"], record["profile"], record["paper_table"]) == (
        "table2", spec.path, "paper", table.paper_name)
    assert table.paper_name and record["baselines"] == list(table.ours_baselines)
    assert record["datasets"] == list(table.ours_datasets) and record["runs"] == sorted(r.id for r in runs)
    assert {"caption", "notes", "overrides", "eval_modes", "from_scratch", "batch_notes"} <= set(record)
    assert record["results"] == sum(cell.ours is not None for row in table.rows for cell in row.cells) > 0
    frame = tidy_frame(table)
    assert list(frame.columns) == list(CSV_COLUMNS)
    ade = frame[(frame["metric"] == "mIoU") & (frame["column_group"] == "ade20k")]
    protoseg = ade[ade["label"] == "ProtoSeg"].iloc[0]
    assert protoseg["paper_gain"] == pytest.approx(1.2) and bool(protoseg["paper_only"])
    ours = ade[(ade["label"] == "SSA (Ours)") & (ade["section"] == "FCN")].iloc[0]
    assert ours["n_seeds_asked"] == 1 and ours["rank"] == 1 and ours["run_ids"] == "t2b0r2ade20k;t2b0r2coco_stuff10k"
    assert not frame[["paper_gain", "n_seeds_asked", "rank"]].isna().all().any()


def _fcn_and_swin_b(tmp_path, paper_only, rows=()):
    """Table 2's FCN and UperNet (Swin-B) blocks, each with its baseline and SSA (Ours), on ADE20K."""
    runs = []
    for baseline, section in (("fcn_r101", "FCN"), ("upernet_swin_b", "UperNet")):
        for label in (section, "SSA (Ours)"):
            run_id = f"{baseline}-{label}"
            runs.append(planned_run(run_id, label, section=section, column="ade20k", paper_baseline=baseline))
            write_record(tmp_path, run_id, miou=45.0)
    spec = FakeSpec("table2", title="Table 2", paper_table=2, rows=list(rows),
                    report={"columns": ["mIoU"], "column_groups": "dataset", "paper_only_rows": paper_only})
    return report_table(spec, runs, tmp_path)


def test_a_paper_only_row_the_paper_has_in_two_blocks_sits_only_in_the_section_asked_for(tmp_path):
    """DNC is a row of the paper's FCN and UperNet (Swin-B) blocks: {label, section} asks for one of them
    (found by mutation testing: no test asked for a row the paper has twice)."""
    def shown(paper_only):
        table = _fcn_and_swin_b(tmp_path, paper_only)
        return [(r.section, r.label) for r in table.rows if r.paper_only]

    assert shown([{"label": "DNC", "section": "UperNet"}]) == [("UperNet", "DNC")]
    assert shown(["DNC"]) == [("FCN", "DNC"), ("UperNet", "DNC")]
    assert shown([{"label": "DNC", "sections": ["FCN", "UperNet"]}]) == [("FCN", "DNC"), ("UperNet", "DNC")]


def test_a_paper_only_row_of_the_spec_rows_is_shown_with_the_papers_numbers(tmp_path):
    """A spec row written `paper_only: true` (the loader's SpecRow) sits where the paper has it."""
    from ssa_bench.matrix.loader import SpecRow

    table = _fcn_and_swin_b(tmp_path, [], rows=[SpecRow("GMMSeg", "UperNet", True)])
    assert [(r.section, r.label, r.paper_only) for r in table.rows] == [
        ("FCN", "FCN", False), ("FCN", "SSA (Ours)", False),
        ("UperNet", "UperNet", False), ("UperNet", "GMMSeg", True), ("UperNet", "SSA (Ours)", False)]
    gmmseg = next(r for r in table.rows if r.label == "GMMSeg")
    assert gmmseg.cells[0].paper is not None and gmmseg.cells[0].ours is None


def test_a_single_seed_row_against_a_baseline_with_seeds_uses_the_seed_rule(tmp_path):
    """The baseline ran 2 seeds, a row only 1 of its 2: the gain is judged against the baseline's
    spread (found by mutation testing: the tests' tables had the same seed count in every row)."""
    spec, runs = _table3(tmp_path, [42.0, 45.0, 42.5, 42.6, 43.0, 44.0, 44.1], seeds=2, spread=4.0)
    (tmp_path / "runs" / "t3r1s1" / "record.json").unlink()      # "+ SEPA": one seed of two left
    table = report_table(spec, runs, tmp_path)
    sepa, base = _cell(table, "+ SEPA", "mIoU"), _cell(table, "Baseline", "mIoU")
    assert (sepa.n, sepa.n_expected, base.n) == (1, 2, 2)
    assert sepa.gain_rule == "seeds" and sepa.gain_noise == pytest.approx(base.std)
    # seed 0 of "+ SEPA" is 45 - 2 = 43.0 over the baseline's mean 42.0: a gain of 1.0, inside its std 2.83
    assert sepa.gain == pytest.approx(1.0) and not sepa.gain_shown


def test_a_cost_gain_is_never_drawn_and_the_csv_says_so(tmp_path):
    """GFLOPs gains: gain_shown is False (not unknown) in the CSV, whatever their size."""
    from ssa_bench.report.render_csv import tidy_frame

    spec, runs = _table3(tmp_path, [42.0] * 7)
    frame = tidy_frame(report_table(spec, runs, tmp_path))
    gflops = frame[(frame["metric"] == "gflops") & ~frame["baseline_row"]]
    assert len(gflops) == 6 and gflops["gain_shown"].tolist() == [False] * 6


def test_column_groups_named_by_the_spec_find_the_papers_numbers_by_the_runs_datasets(tmp_path):
    """Columns "ADE"/"COCO" are not dataset keys: the paper's numbers are found by the datasets their
    runs were trained on (found by mutation testing, the fresh report/ sample of h26k2)."""
    runs = []
    for label in ("FCN", "SSA (Ours)"):
        for column, dataset in (("ADE", "ade20k"), ("COCO", "coco_stuff10k")):
            run_id = f"{label}-{column}"
            runs.append(planned_run(run_id, label, section="FCN", column=column, paper_baseline="fcn_r101",
                                    paper_dataset=dataset))
            write_record(tmp_path, run_id, miou=40.0)
    spec = FakeSpec("t2", title="Table 2", paper_table=2, report={"columns": ["gflops", "mIoU"], "column_groups": "dataset"})
    table = report_table(spec, runs, tmp_path)
    assert [(c.metric, c.group, c.shared) for c in table.columns] == [
        ("gflops", "ADE", True), ("mIoU", "ADE", False), ("mIoU", "COCO", False)]
    # Table 2, FCN (ResNet101): FCN 39.9 / 32.5 and SSA 44.3 / 36.6 mIoU on ADE20K / COCO-Stuff-10K
    assert [[c.paper for c in r.cells][1:] for r in table.rows] == [[39.9, 32.5], [44.3, 36.6]]


def test_report_paper_table_names_the_papers_table_too(tmp_path):
    """report.paper_table is the spec-level paper_table's other spelling (found by mutation testing,
    the fresh report/ sample of h26k2)."""
    spec, runs = _table3(tmp_path, [42.0] * 7, report={"paper_table": 3})
    spec.paper_table = None
    table = report_table(spec, runs, tmp_path)
    assert table.has_paper and _cell(table, "Baseline", "mIoU").paper == pytest.approx(42.36)


def test_report_block_errors_name_the_spec_file(tmp_path):
    """A bad report.intervals or a paper-only row without a label is told with the spec's file (found by
    mutation testing, the fresh report/ sample of h26k2)."""
    for report, key in (({"intervals": "cis"}, "report.intervals"),
                        ({"paper_only_rows": [{"section": "FCN"}]}, "report.paper_only_rows[0]")):
        spec, runs = _table3(tmp_path, [42.0] * 7, report=report)
        with pytest.raises(UserError) as caught:
            report_table(spec, runs, tmp_path)
        assert (caught.value.file, caught.value.key) == ("experiments/tables/fake.yaml", key)
        assert caught.value.one_line().startswith(f"experiments/tables/fake.yaml: {key}: ")
