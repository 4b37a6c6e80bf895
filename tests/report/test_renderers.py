"""Renderers: the same numbers in Markdown, CSV, LaTeX and the terminal; write_report writes them."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from tests.report.report_fixtures import planned_run, FakeSpec, write_record, write_state
from tests.report.test_table_model import TABLE3, _table1, _table2, _table3

from ssa_bench.errors import UserError
from ssa_bench.report import report_table, report_text, terminal_table, write_report
from ssa_bench.report.render_csv import CSV_COLUMNS, render_csv
from ssa_bench.report.render_latex import render_latex
from ssa_bench.report.render_markdown import render_markdown
from ssa_bench.report.cells import format_number
from ssa_bench.report.render_latex import latex_escape, latex_label


def _demo(tmp_path, seeds=1, spread=0.0):
    return _table3(tmp_path, [42.0, 42.5, 42.6, 43.0, 44.0, 44.1, None], seeds=seeds, spread=spread)


def test_markdown_has_paper_ours_delta_and_flags_missing(tmp_path):
    spec, runs = _demo(tmp_path)
    text = render_markdown(report_table(spec, runs, tmp_path))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Method"))
    assert "| mIoU paper | mIoU ours | mIoU Δ |" in header
    row = next(line for line in lines if line.startswith("| + SEPA + Lg + Lsd |"))
    assert [c.strip() for c in row.split("|")][5:8] == ["44.26 ↑1.90", "44.00 ↑2.00", "−0.26"]
    ssa = next(line for line in lines if line.startswith("| SSA (Ours) |"))
    assert "| 45.36 ↑3.00 | — |" in ssa
    assert any(line.startswith("- — = no record yet") for line in lines)


def test_markdown_with_seeds_shows_mean_std_n_and_unarrowed_small_gains(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] + [42.5] * 5 + [45.0], seeds=3, spread=1.0)
    text = render_markdown(report_table(spec, runs, tmp_path))
    sepa = next(line for line in text.splitlines() if line.startswith("| + SEPA |"))
    assert "| 3 |" in sepa and "42.50 ± 1.00 (+0.50)" in sepa
    ssa = next(line for line in text.splitlines() if line.startswith("| SSA (Ours) |"))
    assert "45.00 ± 1.00 ↑3.00" in ssa


def test_csv_is_tidy_one_line_per_row_and_metric(tmp_path):
    spec, runs = _demo(tmp_path)
    frame = pd.read_csv(io.StringIO(render_csv(report_table(spec, runs, tmp_path))))
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert len(frame) == len(TABLE3) * 2
    sepa = frame[(frame.label == "+ SEPA") & (frame.metric == "mIoU")].iloc[0]
    assert (sepa.paper, sepa.ours, sepa.delta, sepa.gain, sepa.n_seeds) == pytest.approx((42.88, 42.5, -0.38, 0.5, 1))
    ssa = frame[(frame.label == "SSA (Ours)") & (frame.metric == "mIoU")].iloc[0]
    assert bool(ssa.missing) and pd.isna(ssa.ours) and ssa.states == "failed=1"


def test_latex_is_booktabs_with_arrows_and_the_papers_labels(tmp_path):
    spec, runs = _demo(tmp_path)
    tex = render_latex(report_table(spec, runs, tmp_path))
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    # the paper's number above ours in one cell; ours' gain a superscript, Δ a subscript under it
    assert (r"\begin{tabular}[c]{@{}r@{}}44.26$^{\mbox{\tiny\color{green!60!black}$\uparrow$1.90}}$\\"
            r"44.00$^{\mbox{\tiny\color{green!60!black}$\uparrow$2.00}}_{\mbox{\tiny$-$0.26}}$\end{tabular}") in tex
    assert r"+ SEPA + $\mathcal{L}_{g}$ + $\mathcal{L}_{sd}$ &" in tex
    assert "\nMethod & GFLOPs & mIoU \\\\\n" in tex
    assert "Single seed" in tex and "subscript: $\\Delta$" in tex
    assert r"45.36$^{\mbox{\tiny\color{green!60!black}$\uparrow$3.00}}$\\---\end{tabular}" in tex


def test_latex_caption_is_short_and_unnumbered_with_details_in_notes(tmp_path):
    # Issue 25: "Table 1: Table 3: ..." (LaTeX numbers the table) and an 8-line caption.
    spec, runs = _demo(tmp_path)
    spec.title = "Table 3: ablation of SEPA and SPPA"
    tex = render_latex(report_table(spec, runs, tmp_path))
    caption = next(line for line in tex.splitlines() if line.startswith(r"\caption{"))
    assert caption == r"\caption{Ablation of SEPA and SPPA. Each cell: the paper's number (Table 3) above ours.}"
    notes = tex.split(r"\end{tabular}" + "\n")[-1]
    assert notes.startswith(r"\par\smallskip\footnotesize\raggedright")
    assert "Ours: profile paper, the paper's setting." in notes and "Evaluation:" in notes
    assert "seaformer_l" not in tex.replace("\\_", "_")          # no raw key lists


def test_latex_groups_datasets_under_cmidrules_without_resizebox(tmp_path):
    spec, runs = _table1(tmp_path)
    tex = render_latex(report_table(spec, runs, tmp_path))
    assert r"\multicolumn{2}{c}{ADE20K} & \multicolumn{2}{c}{COCO-Stuff-10K} & \multicolumn{2}{c}{PASCAL-Context}" in tex
    assert r"\cmidrule(lr){3-4} \cmidrule(lr){5-6} \cmidrule(lr){7-8}" in tex
    assert r"\resizebox" not in tex and "graphicx" not in tex
    assert r"\multicolumn{8}{@{}l}{\textit{block-A}} \\" in tex                # sections as rows of their own
    # latency: no Δ subscript (cpu against the paper's V100); GFLOPs and mIoU have theirs
    assert "\n" + r"OCRNet & {\renewcommand{\arraystretch}{0.8}\begin{tabular}[c]{@{}r@{}}67.2\\20.0\end{tabular}} & " in tex
    assert r"164.8\\5.0$_{\mbox{\tiny$-$159.8}}$" in tex


def test_cpu_demo_prints_no_delta_and_drops_empty_columns(tmp_path):
    # Issue 25: under cpu-demo the GFLOPs Δ printed −6.4 next to a caption calling ours not comparable.
    spec, runs = _table3(tmp_path, [42.0] * 7, profile="cpu-demo")
    table = report_table(spec, runs, tmp_path)
    tex, markdown = render_latex(table), render_markdown(table)
    assert r"_{\mbox{\tiny" not in tex and "subscript" not in tex
    header = next(line for line in markdown.splitlines() if line.startswith("| Method"))
    assert header == "| Method | GFLOPs paper | GFLOPs ours | mIoU paper | mIoU ours |"


def test_markdown_drops_the_always_empty_latency_delta(tmp_path):
    spec, runs = _table1(tmp_path)
    header = next(line for line in render_markdown(report_table(spec, runs, tmp_path)).splitlines()
                  if line.startswith("| Section"))
    assert "| Lat. (ms) paper | Lat. (ms) ours | ADE20K GFLOPs paper | ADE20K GFLOPs ours | ADE20K GFLOPs Δ |" in header


def test_latex_marks_paper_only_rows(tmp_path):
    spec, runs = _table2(tmp_path, ["ProtoSeg"])
    tex = render_latex(report_table(spec, runs, tmp_path))
    assert r"ProtoSeg (paper only) & 278.5 & 41.1$^{\mbox{\tiny\color{green!60!black}$\uparrow$1.2}}$ &" in tex


def test_overrides_recorded_with_the_runs_reach_the_notes_and_provenance(tmp_path):
    spec, runs = _demo(tmp_path)
    spec.overrides = ["train.max_iters=20"]
    paths = write_report(spec, runs, tmp_path, formats=["latex"], out_dir=tmp_path / "out")
    assert "--set train.max\\_iters=20" in paths["latex"].read_text()
    provenance = json.loads(paths["provenance"].read_text())
    assert provenance["overrides"] == ["train.max_iters=20"] and provenance["profile"] == "paper"
    assert provenance["caption"] == "Table 3. Each cell: the paper's number (Table 3) above ours."
    assert any(note.startswith("Evaluation:") for note in provenance["notes"])
    assert sorted(provenance["runs"]) == sorted(run.id for run in runs)
    # how many cells hold a number of ours: what a later `report` reads before replacing the table
    # (kept.py); with --format latex there is no CSV to count from instead (found by mutation testing)
    assert provenance["results"] == 12     # 6 of Table 3's 7 rows ran, each with GFLOPs and mIoU
    from ssa_bench.report.kept import Kept, kept_results

    assert kept_results(tmp_path / "out", "table3", ["latex"]) == Kept(
        paths["provenance"], 12, ["train.max_iters=20"], "paper")


def test_terminal_text_shows_states_of_missing_runs(tmp_path):
    spec, runs = _demo(tmp_path)
    text = report_text(spec, runs, tmp_path)
    assert "Table 3 -- profile paper" in text and "— failed" in text and "44.26 ↑1.90" in text
    # The renderable the CLI prints holds the same rows and numbers as the text.
    from rich.console import Console

    console = Console(record=True, width=160, file=io.StringIO())
    console.print(terminal_table(spec, runs, tmp_path))
    printed = console.export_text()
    sepa = next(line for line in printed.splitlines() if "+ SEPA + Lg + Lsd" in line)
    assert "44.26 ↑1.90" in sepa and "44.00" in sepa
    assert "Table 3 -- profile paper" in printed and "— failed" in printed


def test_write_report_writes_each_format_to_the_default_directory(tmp_path):
    spec, runs = _demo(tmp_path)
    paths = write_report(spec, runs, tmp_path, formats=["latex", "markdown", "csv"], out_dir=None)
    assert {k: p.relative_to(tmp_path).as_posix() for k, p in paths.items()} == {
        "latex": "reports/table3/table3.tex", "markdown": "reports/table3/table3.md", "csv": "reports/table3/table3.csv",
        "provenance": "reports/table3/table3.provenance.json"}
    assert paths["latex"].read_text().startswith("% ssa-bench report 'table3'")
    assert not [p for p in paths["csv"].parent.iterdir() if ".tmp-" in p.name]
    only = write_report(spec, runs, tmp_path, formats=["csv"], out_dir=tmp_path / "elsewhere")
    assert list(only) == ["csv", "provenance"] and only["csv"].parent == tmp_path / "elsewhere"
    with pytest.raises(UserError) as caught:
        write_report(spec, runs, tmp_path, formats=["html"], out_dir=None)
    assert caught.value.key == "--format"


def test_format_number_keeps_small_values_visible():
    assert format_number(45.36, 2) == "45.36"
    assert format_number(0.5, 1) == "0.5"
    assert format_number(0.04, 1) == "0.04"
    assert format_number(-0.26, 2, signed=True) == "−0.26"
    assert format_number(None) == "—"


def test_latex_labels_map_plain_names_to_the_papers_notation():
    assert latex_label("+ Lg + Lrd + Lsd + Lpd") == (
        r"+ $\mathcal{L}_{g}$ + $\mathcal{L}_{rd}$ + $\mathcal{L}_{sd}$ + $\mathcal{L}_{pd}$")
    assert latex_label("- H") == r"$-\mathcal{H}$"
    assert latex_label("Softmax_HW") == r"Softmax$_{HW}$"
    assert latex_label("AFFormer-B") == "AFFormer-B"       # a model name, not "-B" the boundary mask
    assert latex_label("Learnable") == "Learnable"
    assert latex_escape("50% & a_b #1") == r"50\% \& a\_b \#1"


def test_a_table_with_no_runs_done_still_renders(tmp_path):
    for run_id in ("n1", "n2"):
        write_state(tmp_path, run_id, "queued")
    spec = FakeSpec("t7", title="Table 7", paper_table=7, report={"columns": ["mIoU"]})
    table = report_table(spec, [planned_run("n1", "Sinusoidal"), planned_run("n2", "CPVT")], tmp_path)
    assert "44.18" in render_markdown(table) and "---" in render_latex(table)
    assert all(cell.missing for row in table.rows for cell in row.cells)


def test_terminal_drops_delta_columns_the_caption_calls_not_comparable(tmp_path):
    # The terminal table printed empty Δ columns under cpu-demo after the Markdown and LaTeX ones went.
    spec, runs = _table3(tmp_path, [42.0] * 7, profile="cpu-demo")
    assert "Δ" not in report_text(spec, runs, tmp_path)
    spec, runs = _demo(tmp_path / "paper")
    assert "Δ" in report_text(spec, runs, tmp_path / "paper")      # the paper profile keeps them


# -- found by mutation testing (tools/mutation.py report) -----------------------------------------
def test_a_small_gain_is_printed_with_the_tables_decimals(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] + [42.5] * 5 + [45.0], seeds=3, spread=1.0, report={"decimals": {"mIoU": 1}})
    text = render_markdown(report_table(spec, runs, tmp_path))
    sepa = next(line for line in text.splitlines() if line.startswith("| + SEPA |"))
    assert "42.5 ± 1.0 (+0.5)" in sepa


def test_a_ranked_latex_table_has_a_rank_column(tmp_path):
    spec, runs = _table3(tmp_path, [42.0] * 7, report={"rank_by": "mIoU"})
    latex = render_latex(report_table(spec, runs, tmp_path))
    assert "Method & \\# &" in latex


def test_format_number_of_zero_and_latex_escape_of_other_unicode():
    assert format_number(0.0, 1) == "0.0" and format_number(0, 2, signed=True) == "+0.00"
    assert latex_escape("a\x7fb") == "a\x7fb"
    assert latex_escape("Zürich 東") == "Z?rich ?"
    assert latex_escape("\x80") == "?"


def test_the_caption_reads_sentence_by_sentence(tmp_path):
    """The whole caption of two fixture tables, word for word: a changed word or a stray mark in any
    sentence is a changed caption under the paper's table."""
    from ssa_bench.report.caption import caption_sentences

    spec, runs = _table2(tmp_path / "t2", ["ProtoSeg"])
    assert caption_sentences(report_table(spec, runs, tmp_path / "t2")) == [
        "Table 2.",
        "Paper: Table 2 of arXiv 2405.06525 (GFLOPs at 512x512 on ADE20K; mIoU on ADE20K and COCO-Stuff-10K); "
        "Δ = ours − paper.",
        "Ours: profile paper, the paper's setting.",
        "Evaluation: the paper's numbers single-scale (Sec. 4.2).",
        "Single seed: ↑ gain over each section's first row, drawn for any gain, not tested against seed noise.",
        "GFLOPs is shown once per row, measured on the ADE20K model as in the paper.",
        "Rows marked 'paper only' are not run here: the paper's numbers only."]
    spec, runs = _table3(tmp_path / "t3", [42.0] * 7, profile="cpu-demo")
    assert caption_sentences(report_table(spec, runs, tmp_path / "t3")) == [
        "Table 3.",
        "Paper: Table 3 of arXiv 2405.06525 (SeaFormer-L on ADE20K; GFLOPs at 512x512).",
        "Ours: CPU demo on synthetic data, profile cpu-demo -- not the paper's setting, so ours is not comparable "
        "with the paper's numbers.",
        "Evaluation: the paper's numbers single-scale (Sec. 4.2).",
        "Single seed: ↑ gain over Baseline, drawn for any gain, not tested against seed noise."]
    spec, runs = _table1(tmp_path / "t1")
    assert caption_sentences(report_table(spec, runs, tmp_path / "t1"))[-1] == (
        "Our latency: median ms on cpu (test-cpu), 2 threads, input 512x512, on the ADE20K model as the paper "
        "did; the paper's on a V100 GPU (no Δ: different devices).")
    spec, runs = _table3(tmp_path / "t3s", [42.0] + [42.5] * 5 + [45.0], seeds=3, spread=1.0)
    assert caption_sentences(report_table(spec, runs, tmp_path / "t3s"))[-1] == (
        "Ours: mean ± std over up to 3 seeds (n); ↑ gain over Baseline, drawn only when it exceeds the seed "
        "spread √(std_row² + std_baseline²).")



def _from_scratch_runs(tmp_path):
    """SeaFormer-L, UperNet (Swin-T) and SSA (Ours) trained from scratch, tested multi-scale with a sliding
    window; their latency records name no device and no threads."""
    import json as _json

    runs = []
    for index, (baseline, label) in enumerate((("seaformer_l", "SeaFormer-L"), ("upernet_swin_t", "UperNet"),
                                               ("seaformer_l", "SSA (Ours)"))):
        run_id = f"r{index}"
        config = {"baseline": baseline, "dataset": "ade20k", "train": {"pretrained": None, "crop_size": [512, 512]},
                  "evaluate": {"aug_test": True, "test_mode": "slide"}}
        runs.append(planned_run(run_id, label, config=config, paper_baseline=baseline))
        write_record(tmp_path, run_id, miou=40.0 + index, latency_ms=30.0 + index)
        path = tmp_path / "runs" / run_id / "record.json"
        record = _json.loads(path.read_text())
        record["latency"].pop("threads")
        record["latency"]["device_name"] = None
        path.write_text(_json.dumps(record))
    return runs


def test_the_caption_of_cases_the_fixture_tables_do_not_build_word_for_word(tmp_path):
    """Found by mutation testing: backbones trained from scratch (a baseline whose title is not its
    backbone), a sliding-window multi-scale test against the paper's single-scale numbers, latency
    without a device name or threads, no paper table, rows ranked in a table without sections."""
    from ssa_bench.report.caption import caption_sentences

    runs = _from_scratch_runs(tmp_path)
    spec = FakeSpec("mine", title="My table", report={"columns": ["latency_ms", "mIoU"], "rank_by": "mIoU"})
    assert caption_sentences(report_table(spec, runs, tmp_path)) == [
        "My table.",
        "The paper has no table for this comparison: only our numbers are shown.",
        "Ours: profile paper, the paper's setting.",
        "Trained from scratch, without the ImageNet-pretrained backbone the paper starts from (train.pretrained: "
        "none): SeaFormer-L, UperNet (Swin-T).",
        "Evaluation: ours multi-scale (0.5-1.75) + flip (sliding window where the run's test slides: ADE20K "
        "512x512, stride 341).",
        "Single seed: ↑ gain over SeaFormer-L, drawn for any gain, not tested against seed noise.",
        "Our latency: median ms on cpu, input 512x512.",
        "Rows are ranked by mean mIoU, best first (rank in the # column)."]
    spec = FakeSpec("table3", title="Table 3", paper_table=3, report={"columns": ["mIoU"]})
    assert caption_sentences(report_table(spec, runs, tmp_path))[4] == (
        "Evaluation: ours multi-scale (0.5-1.75) + flip (sliding window where the run's test slides: ADE20K "
        "512x512, stride 341); the paper's numbers single-scale (Sec. 4.2); 1 Δ value compares numbers tested "
        "differently.")

# The steps api.report_table runs, in order; each may use the ones before it, never a later one.
_STEPS = ("table_model", "intervals", "cells", "caption")
_RENDERERS = ("render_latex", "render_markdown", "render_csv", "render_json", "render_terminal")


def _report_imports(module: str) -> set[str]:
    import ast
    from pathlib import Path

    import ssa_bench.report

    source = (Path(ssa_bench.report.__file__).parent / f"{module}.py").read_text()
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.rsplit(".", 1)[-1] for name in names if name.startswith("ssa_bench.report.")}


def test_the_table_is_built_in_one_pass_and_renderers_only_lay_it_out():
    """A table's numbers, intervals, cell texts and caption are each computed once, in order, into the
    model; a renderer that called back into a step would print something the others do not."""
    for index, step in enumerate(_STEPS):
        later = set(_STEPS[index + 1:]) | set(_RENDERERS)
        assert not _report_imports(step) & later, f"{step} uses a later step"
    for renderer in _RENDERERS:
        assert not _report_imports(renderer) & set(_STEPS[1:]), f"{renderer} computes instead of laying out"


def test_latex_gain_within_the_noise_is_in_one_pair_of_brackets(tmp_path):
    # The superscript printed "(+0.50))": the bracket was closed twice.
    spec, runs = _table3(tmp_path, [42.0] + [42.5] * 5 + [45.0], seeds=3, spread=1.0)
    tex = render_latex(report_table(spec, runs, tmp_path))
    assert r"42.50{\tiny$\pm$1.00}$^{\mbox{\tiny\color{black!50}(+0.50)}}_{" in tex
    assert "))}}" not in tex


def test_terminal_draws_a_loss_down_and_lays_rows_out_under_their_headers(tmp_path):
    """Found by mutation testing: no terminal test had a row worse than its baseline, and the layout
    of a table without sections was not asserted column by column."""
    from ssa_bench.report.render_terminal import terminal_text

    spec, runs = _table3(tmp_path, [42.0, 41.5, 42.6, 43.0, 44.0, 44.1, 45.0])
    lines = terminal_text(report_table(spec, runs, tmp_path)).splitlines()
    assert lines[2].split("┃")[1:-1] == ["                   ", " GFLOPs ", " GFLOPs ", " GFLOPs ", "        mIoU ",
                                         "        mIoU ", "  mIoU "]
    sepa = next(line for line in lines if "+ SEPA " in line and "SPPA" not in line)
    assert [part.strip() for part in sepa.split("│")[1:-1]] == [
        "+ SEPA", "6.4", "6.4", "+0.0", "42.88 ↑0.52", "41.50 ↓0.50", "−1.38"]


def test_terminal_headers_name_the_dataset_except_on_a_shared_column(tmp_path):
    """GFLOPs, printed once per row (measured on ADE20K as the paper did), has no dataset line; every
    per-dataset column has one."""
    from ssa_bench.report.render_terminal import terminal_renderable

    spec, runs = _table2(tmp_path, ["ProtoSeg"])
    grid = terminal_renderable(report_table(spec, runs, tmp_path)).renderables[0]
    assert [column.header for column in grid.columns] == [
        "section", "method", "GFLOPs\npaper", "GFLOPs\nours", "GFLOPs\nΔ", "ADE20K\nmIoU\npaper",
        "ADE20K\nmIoU\nours", "ADE20K\nmIoU\nΔ", "COCO-Stuff-10K\nmIoU\npaper", "COCO-Stuff-10K\nmIoU\nours",
        "COCO-Stuff-10K\nmIoU\nΔ"]


def test_latex_puts_the_seed_spread_on_its_own_line_when_the_table_is_too_wide_for_it_inline(tmp_path):
    """Beside ours while the table fits (FOOTNOTESIZE_CHARACTERS); a tiny line under ours once it does not
    (found by mutation testing: no test had a table that wide over seeds)."""
    mious = [42.0] + [42.5] * 5 + [45.0]
    spec, runs = _table3(tmp_path / "narrow", mious, seeds=3, spread=1.0, columns=("gflops", "mIoU"))
    narrow = render_latex(report_table(spec, runs, tmp_path / "narrow"))
    assert r"\\42.50{\tiny$\pm$1.00}$^{\mbox{\tiny\color{black!50}(+0.50)}}_{\mbox{\tiny$-$0.38}}$\end{tabular}}" in narrow
    wide_columns = ("gflops", "gflops_full", "mIoU", "mAcc", "aAcc", "latency_ms", "params_m")
    spec, runs = _table3(tmp_path / "wide", mious, seeds=3, spread=1.0, columns=wide_columns)
    wide = render_latex(report_table(spec, runs, tmp_path / "wide"))
    assert (r"\\42.50$^{\mbox{\tiny\color{black!50}(+0.50)}}_{\mbox{\tiny$-$0.38}}$\\{\tiny$\pm$1.00}\end{tabular}}"
            in wide)
    assert r"42.50{\tiny$\pm$" not in wide
