"""Reports with per-image evidence (issue 27, item 3): every accuracy cell and gain carries a
bootstrap interval and a p-value, the arrow follows the gain's interval, runs without evidence keep
the seed rule and the caption says which rows do, and report.intervals picks what the text shows."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssa_bench.errors import SpecError
from ssa_bench.report import report_table
from ssa_bench.report.caption import caption_sentences
from ssa_bench.report.render_csv import render_csv
from ssa_bench.report.render_latex import render_latex
from ssa_bench.report.render_markdown import render_markdown
from ssa_bench.statistics import ImageCounts, point_metrics
from ssa_bench.store import Store
from ssa_bench.store.image_counts import encode_image_counts
from tests.report.report_fixtures import FakeSpec, planned_run, write_record

NAMES = tuple(f"{index:04d}.png" for index in range(80))


def _evaluations():
    """base, better (more hits on every image), same (base's predictions), noisy, as counts."""
    rng = np.random.default_rng(0)
    label = np.where(rng.random((80, 4)) < 0.6, rng.integers(100, 900, (80, 4)), 0)
    rate = rng.beta(6, 3, (80, 1))
    hit = rng.binomial(label, np.broadcast_to(rate, label.shape))
    union = label + rng.poisson(40, label.shape) * (label > 0)
    missed = label - hit
    better = hit + np.maximum(1, missed // 8) * (missed > 0)
    # noisy: better on some images, worse on others, by chance a little better or worse in sum
    noisy = np.clip(hit + (rng.integers(-30, 31, (80, 1)) * (label > 0)), 0, label)
    base = ImageCounts(NAMES, hit, union, label)
    return (base, ImageCounts(NAMES, better, union, label), ImageCounts(NAMES, hit.copy(), union.copy(), label.copy()),
            ImageCounts(NAMES, noisy, union, label))


def _store_run(root: Path, run_id: str, counts: ImageCounts | None, miou: float | None = None) -> None:
    value = miou if miou is not None else round(point_metrics(counts)["mIoU"], 2)
    write_record(root, run_id, miou=value)
    if counts is not None:
        Store(str(root)).write_bytes(Store(str(root)).paths(run_id).image_counts,
                                     encode_image_counts(counts.names, counts.intersection, counts.union, counts.label))


def _table(tmp_path, report=None, evidence_for_old=False):
    base, better, same, noisy = _evaluations()
    _store_run(tmp_path, "r0", base)
    _store_run(tmp_path, "r1", better)
    _store_run(tmp_path, "r2", same)
    _store_run(tmp_path, "r4", noisy)
    _store_run(tmp_path, "r3", better if evidence_for_old else None, miou=point_metrics(base)["mIoU"] + 0.8)
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better"), planned_run("r2", "Same"),
            planned_run("r3", "Old record"), planned_run("r4", "Noisy")]
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"], **(report or {})})
    return report_table(spec, runs, tmp_path)


def test_every_cell_with_evidence_gets_an_interval_and_every_gain_a_p_value(tmp_path):
    table = _table(tmp_path)
    cells = {row.label: row.cells[0] for row in table.rows}
    for label in ("Baseline", "Better", "Same"):
        assert cells[label].ci_low < cells[label].ours < cells[label].ci_high
    better, same, old = cells["Better"], cells["Same"], cells["Old record"]
    assert better.gain_rule == "interval" and better.gain_shown and better.gain_low > 0 and better.gain_p < 0.01
    assert same.gain_rule == "interval" and not same.gain_shown
    assert (same.gain_low, same.gain_high, same.gain_p) == (0.0, 0.0, 1.0)
    # A gain inside its interval: no arrow, though a single seed would have drawn one.
    noisy = cells["Noisy"]
    assert noisy.gain != 0 and noisy.gain_low < 0 < noisy.gain_high and noisy.gain_p > 0.05
    assert noisy.gain_rule == "interval" and not noisy.gain_shown
    # No per-image evidence: the old rule (a single seed draws any gain), and no made-up interval.
    assert old.gain_rule == "single" and old.gain_shown and old.ci_low is None and old.gain_p is None
    frame = pd.read_csv(io.StringIO(render_csv(table)))
    row = frame.set_index("label").loc["Better"]
    assert row["ci_low"] < row["ours"] < row["ci_high"] and row["gain_ci_low"] > 0 and row["p"] < 0.01
    assert row["gain_rule"] == "interval"
    assert pd.isna(frame.set_index("label").loc["Old record", "ci_low"])
    caption = " ".join(caption_sentences(table))
    assert "paired bootstrap interval over the 80 test images excludes 0" in caption
    assert "Rows without per-image evidence (Old record" in caption


def test_evidence_that_does_not_give_the_records_number_is_not_used(tmp_path):
    # r3's file holds another evaluation's counts than its record's mIoU: stale, ignored.
    table = _table(tmp_path, evidence_for_old=True)
    old = next(row for row in table.rows if row.label == "Old record").cells[0]
    assert old.ci_low is None and old.gain_rule == "single"


def test_report_intervals_decides_what_the_text_shows(tmp_path):
    plain = render_markdown(_table(tmp_path))
    assert "[" not in plain.split("\n- ")[0]
    shown = _table(tmp_path, {"intervals": "ci"})
    cell = next(row for row in shown.rows if row.label == "Better").cells[0]
    markdown = render_markdown(shown)
    assert f"{cell.ours:.2f} [{cell.ci_low:.2f}, {cell.ci_high:.2f}] ↑" in markdown
    assert "[low, high]: the 95% bootstrap interval" in markdown
    assert r"{\scriptsize[" in render_latex(shown)
    pm = render_markdown(_table(tmp_path, {"intervals": "pm"}))
    assert f"{cell.ours:.2f} ± {(cell.ci_high - cell.ci_low) / 2:.2f}" in pm
    assert "half the width" in pm


def test_report_intervals_is_checked_when_the_spec_is_loaded(tmp_path):
    from ssa_bench.matrix.report_settings import check_report

    check_report({}, {"intervals": False}, {"A"}, [], "spec.yaml")        # YAML's bare `off`
    check_report({}, {"intervals": "pm"}, {"A"}, [], "spec.yaml")
    with pytest.raises(SpecError, match="unknown intervals mode 'cis'") as error:
        check_report({}, {"intervals": "cis"}, {"A"}, [], "spec.yaml")
    assert error.value.key == "report.intervals" and "did you mean 'ci'" in error.value.fix


def test_the_forest_plot_draws_each_gain_with_its_interval(tmp_path):
    import json

    from ssa_bench.report.figures import build_figures

    base, better, same, noisy = _evaluations()
    for run_id, counts in (("r0", base), ("r1", better), ("r2", same), ("r4", noisy)):
        _store_run(tmp_path, run_id, counts)
    _store_run(tmp_path, "r3", None, miou=61.0)
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better"), planned_run("r2", "Same"),
            planned_run("r3", "Old record"), planned_run("r4", "Noisy")]
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"]})
    made = build_figures(spec, runs, tmp_path, out_dir=tmp_path / "figures", only=["fig_gain_forest"])
    assert [path.name for path in made.paths] == ["fig_gain_forest.png", "fig_gain_forest.pdf"], made.notes
    sidecar = json.loads((tmp_path / "figures" / "fig_gain_forest.json").read_text())
    gains = {line["row"]: line for line in sidecar["details"]["gains"]["mIoU"]}
    table = report_table(spec, runs, tmp_path)
    for row in table.rows[1:]:
        cell = row.cells[0]
        assert gains[row.label]["gain"] == cell.gain and gains[row.label]["ci_low"] == cell.gain_low
    assert gains["Better"]["ci_low"] > 0 and gains["Old record"]["ci_low"] is None
    assert any("Old record" in note for note in sidecar["notes"])


def test_paper_in_intervals_says_whether_the_papers_number_lies_inside_ours(tmp_path):
    from ssa_bench.report.intervals import paper_in_intervals

    table = _table(tmp_path)
    base, better = table.rows[0].cells[0], next(r for r in table.rows if r.label == "Better").cells[0]
    base.paper, better.paper = base.ours, better.ci_high + 1.0       # inside, and one point above
    found = {item.row: item for item in paper_in_intervals(table)}
    assert set(found) == {"Baseline", "Better"}                        # only cells with both numbers
    assert found["Baseline"].inside and not found["Better"].inside
    assert "outside ours' interval" in str(found["Better"])


def test_intervals_are_cached_until_a_runs_files_change(tmp_path, monkeypatch):
    from ssa_bench.report import intervals

    first = _table(tmp_path)
    cells = [(row.label, row.cells[0].ci_low, row.cells[0].gain_p) for row in first.rows]

    def no_resampling(*args, **kwargs):
        raise AssertionError("resampled although nothing changed")

    monkeypatch.setattr(intervals, "Resampled", no_resampling)
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"]})
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better"), planned_run("r2", "Same"),
            planned_run("r3", "Old record"), planned_run("r4", "Noisy")]
    again = report_table(spec, runs, tmp_path)
    assert [(row.label, row.cells[0].ci_low, row.cells[0].gain_p) for row in again.rows] == cells
    assert again.interval_facts == first.interval_facts
    # A run evaluated again (new evidence and record): the table is recomputed.
    base, better, same, noisy = _evaluations()
    _store_run(tmp_path, "r2", better)
    with pytest.raises(AssertionError, match="resampled although"):
        report_table(spec, runs, tmp_path)


def test_several_seeds_are_resampled_with_the_images_and_their_share_reported(tmp_path):
    base, better, same, noisy = _evaluations()
    # Two seeds per row: Baseline = (base, noisy), Better = (better, better with noise).
    runs = []
    for run_id, label, seed, counts in (("b0", "Baseline", 0, base), ("b1", "Baseline", 1, noisy),
                                        ("g0", "Better", 0, better), ("g1", "Better", 1, same)):
        _store_run(tmp_path, run_id, counts)
        runs.append(planned_run(run_id, label, seed=seed))
    table = report_table(FakeSpec("t3s", report={"columns": ["mIoU"]}), runs, tmp_path)
    cell = next(row for row in table.rows if row.label == "Better").cells[0]
    assert cell.n == 2 and cell.gain_rule == "interval" and 0 < cell.seeds_share < 1
    assert cell.gain_low < cell.gain < cell.gain_high
    frame = pd.read_csv(io.StringIO(render_csv(table)))
    assert frame.set_index("label").loc["Better", "seeds_share"] == pytest.approx(cell.seeds_share, abs=1e-6)
    assert "and the seeds excludes 0" in " ".join(caption_sentences(table))
    # two seeds are "seeds" (found by mutation testing: the sentence's end was not asserted)
    assert any(sentence.endswith("interval and p-value in the CSV); seeds resampled with the images.")
               for sentence in caption_sentences(table))


@pytest.mark.parametrize("value, error", [("off", None), ("ci", None), ("pm", None), ("cis", "unknown intervals mode"),
                                          ("on", "unknown intervals mode"), ("[ci]", "report.intervals")])
def test_report_intervals_through_a_spec_file(tmp_path, value, error):
    from ssa_bench.matrix import load_spec

    text = (Path(__file__).resolve().parents[2] / "experiments" / "tables" / "table3.yaml").read_text()
    path = tmp_path / "table3.yaml"
    path.write_text(text.replace("report:\n", f"report:\n  intervals: {value}\n"))
    if error is None:
        load_spec(str(path), profile="cpu-demo")
    else:
        with pytest.raises(SpecError, match=error):
            load_spec(str(path), profile="cpu-demo")


# -- found by mutation testing (tools/mutation.py report) -----------------------------------------
def test_the_interval_cache_lives_under_the_results_root_whatever_the_working_directory(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _table(tmp_path / "results")
    assert (tmp_path / "results" / "reports" / "t3" / ".intervals-cache.json").is_file()
    assert list(elsewhere.iterdir()) == []


def _write_draws(root: Path, run_id: str, counts: ImageCounts, **how) -> None:
    from ssa_bench.statistics import draw_runs
    from ssa_bench.store.image_counts import encode_bootstrap_draws

    (draws,) = draw_runs([counts], **how)
    store = Store(str(root))
    store.write_bytes(store.paths(run_id).bootstrap_draws, encode_bootstrap_draws(draws.to_arrays()))


def _interval_fields(table):
    return [(row.label, cell.ci_low, cell.ci_high, cell.gain_low, cell.gain_high, cell.gain_p, cell.gain_shown)
            for row in table.rows for cell in row.cells]


def test_a_report_reads_the_stages_draws_instead_of_resampling_and_gets_the_same_table(tmp_path, monkeypatch):
    from ssa_bench.report import intervals

    from_counts = _interval_fields(_table(tmp_path / "counts"))
    base, better, same, noisy = _evaluations()
    root = tmp_path / "draws"
    _table(root)                                       # records and counts
    for run_id, counts in (("r0", base), ("r1", better), ("r2", same), ("r4", noisy)):
        _write_draws(root, run_id, counts)             # what the evaluate stage writes
        Path(Store(str(root)).paths(run_id).image_counts).unlink()
    (root / "reports" / "t3" / ".intervals-cache.json").unlink()

    real_read = intervals.read_image_counts

    def no_counts(path):
        # r3 is an old record without any evidence: looking for its counts is right
        assert not Path(path).exists(), f"read {path} although the draws were there"
        return real_read(path)

    monkeypatch.setattr(intervals, "read_image_counts", no_counts)
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"]})
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better"), planned_run("r2", "Same"),
            planned_run("r3", "Old record"), planned_run("r4", "Noisy")]
    assert _interval_fields(report_table(spec, runs, root)) == from_counts


@pytest.mark.parametrize("draws", ["other seed", "other resamples", "damaged", "another run's"])
def test_draws_that_do_not_fit_fall_back_to_the_counts(tmp_path, draws):
    from_counts = _interval_fields(_table(tmp_path / "counts"))
    base, better, same, noisy = _evaluations()
    root = tmp_path / "draws"
    _table(root)
    paths = Store(str(root)).paths("r1")
    if draws == "other seed":
        _write_draws(root, "r1", better, seed=5)
    elif draws == "other resamples":
        _write_draws(root, "r1", better, n_resamples=100)
    elif draws == "another run's":
        _write_draws(root, "r1", noisy)                # its mIoU is not the record's: not this run's
    else:
        Path(paths.bootstrap_draws).write_bytes(b"PK\x03\x04 cut short")
    (root / "reports" / "t3" / ".intervals-cache.json").unlink()
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"]})
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better"), planned_run("r2", "Same"),
            planned_run("r3", "Old record"), planned_run("r4", "Noisy")]
    table = report_table(spec, runs, root)
    if draws == "another run's":
        # Evidence that disagrees with the record is nobody's: the row keeps the seed rule.
        better_cell = next(row for row in table.rows if row.label == "Better").cells[0]
        assert better_cell.ci_low is None and better_cell.gain_rule == "single"
    else:
        assert _interval_fields(table) == from_counts


def test_the_json_report_carries_every_cells_interval_and_every_gains_p(tmp_path):
    import json

    from ssa_bench.report.render_json import render_json

    table = _table(tmp_path)
    document = json.loads(render_json(table))            # strict: a NaN would not parse back as JSON
    assert document["table"] == "t3" and document["intervals"]["resamples"] == 2000
    cells = {cell["label"]: cell for cell in document["cells"]}
    expected = {row.label: row.cells[0] for row in table.rows}
    for label in ("Baseline", "Better", "Same", "Noisy"):
        assert cells[label]["ci_low"] == pytest.approx(expected[label].ci_low, abs=1e-6)
        assert cells[label]["ci_high"] == pytest.approx(expected[label].ci_high, abs=1e-6)
    for label in ("Better", "Same", "Noisy"):
        assert cells[label]["p"] == pytest.approx(expected[label].gain_p, abs=1e-6)
        assert cells[label]["gain_ci_low"] < cells[label]["gain_ci_high"] or label == "Same"
    assert cells["Old record"]["ci_low"] is None and cells["Old record"]["gain_rule"] == "single"
    assert any("interval" in sentence for sentence in document["caption"])


def _grouped_table(tmp_path):
    """Table 2's FCN block over two datasets (column groups), with ProtoSeg as a paper-only row between
    the baseline and the rows of ours: ADE20K's runs have no per-image evidence, COCO-Stuff-10K's have;
    CAC's COCO record has no mAcc (no number of ours there, so no gain)."""
    base, better, _, noisy = _evaluations()
    runs = []
    for dataset, evidence in (("ade20k", False), ("coco_stuff10k", True)):
        for label, counts in (("FCN", base), ("CAC", better), ("SSA (Ours)", noisy)):
            run_id = f"{label}-{dataset}"
            runs.append(planned_run(run_id, label, section="FCN", column=dataset, paper_baseline="fcn_r101",
                                    paper_dataset=dataset))
            _store_run(tmp_path, run_id, counts if evidence else None, miou=None if evidence else 40.0)
            if evidence and label == "CAC":
                write_record(tmp_path, run_id, miou=round(point_metrics(counts)["mIoU"], 2), mAcc=None)
    spec = FakeSpec("t2", title="Table 2", paper_table=2,
                    report={"columns": ["mIoU", "mAcc"], "column_groups": "dataset", "paper_only_rows": ["ProtoSeg"]})
    return spec, runs


def test_every_column_group_and_every_row_after_a_paper_only_row_gets_its_intervals(tmp_path):
    """Found by mutation testing (intervals._compute): the tests' tables had one column group, no
    paper-only row and no cell without a number of ours."""
    from ssa_bench.report.intervals import paper_in_intervals

    table = report_table(*_grouped_table(tmp_path), tmp_path)
    assert [(c.group, c.metric) for c in table.columns] == [
        ("ade20k", "mIoU"), ("ade20k", "mAcc"), ("coco_stuff10k", "mIoU"), ("coco_stuff10k", "mAcc")]
    rows = {row.label: row.cells for row in table.rows}
    assert list(rows) == ["FCN", "ProtoSeg", "CAC", "SSA (Ours)"]
    for label in ("FCN", "CAC", "SSA (Ours)"):
        # ADE20K: no evidence, the seed rule and no interval; COCO: both accuracy columns have one
        assert [cell.ci_low is None for cell in rows[label]] == [True, True, False, False], label
        assert all(cell.ci_low < cell.ci_high for cell in rows[label][2:]), label
        if label != "FCN":
            assert rows[label][0].gain_rule == "single" and rows[label][2].gain_rule == "interval", label
    assert rows["SSA (Ours)"][3].gain_rule == "interval" and rows["SSA (Ours)"][3].gain_p is not None
    # CAC's COCO mAcc: no number of ours, so no gain and no gain interval, though its runs have evidence
    cac_macc = rows["CAC"][3]
    assert cac_macc.ours is None and cac_macc.gain is None
    assert (cac_macc.gain_rule, cac_macc.gain_low, cac_macc.gain_p, cac_macc.gain_shown) == (None, None, None, False)
    assert all(cell.ci_low is None for cell in rows["ProtoSeg"])
    # --check-paper's interval gate names the cell by its dataset and metric
    found = {(item.row, item.column) for item in paper_in_intervals(table)}
    assert found == {("FCN / FCN", "COCO-Stuff-10K mIoU"), ("FCN / SSA (Ours)", "COCO-Stuff-10K mIoU")}


def test_a_frame_whose_empty_keys_came_back_as_nan_finds_its_runs(tmp_path):
    """pandas turns a missing section or column into NaN once a frame is concatenated or read back;
    intervals.attach_intervals keys those cells as 'none' all the same (found by mutation testing)."""
    from ssa_bench.report.gather import gather
    from ssa_bench.report.intervals import attach_intervals
    from ssa_bench.report.table_model import build_table

    base, better, _, _ = _evaluations()
    _store_run(tmp_path, "r0", base)
    _store_run(tmp_path, "r1", better)
    runs = [planned_run("r0", "Baseline"), planned_run("r1", "Better")]
    spec = FakeSpec("t3", title="Table 3", report={"columns": ["mIoU"]})
    frame = gather(tmp_path, runs)
    table = build_table(spec, frame)
    nan_keys = frame.astype({"section": float, "column": float})
    assert nan_keys["section"].isna().all() and nan_keys["column"].isna().all()
    attach_intervals(table, nan_keys, Store(str(tmp_path)))
    better_cell = table.rows[1].cells[0]
    assert table.rows[0].cells[0].ci_low is not None and better_cell.gain_rule == "interval"
    assert better_cell.gain_low > 0
